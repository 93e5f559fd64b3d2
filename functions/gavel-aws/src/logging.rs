//! The functions' log lines: plain text on stdout (CloudWatch adds the time), at the level of
//! `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging controls) or else `RUST_LOG`, `info` by default.
//! Directives are `target=level` lists (`gavel_aws=debug,info`): [`Targets`], which needs no
//! regex engine, unlike an `EnvFilter`.

use std::str::FromStr;

use tracing::warn;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const DEFAULT: &str = "info";

/// Installs the global subscriber; call once, first thing in `main`.
pub fn init() {
    let directives = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
    let (filter, refused) = filter(directives.as_deref());
    let format = tracing_subscriber::fmt::layer().with_target(false).without_time().with_ansi(false);
    tracing_subscriber::registry().with(format).with(filter).init();
    if let Some(refused) = refused {
        warn!(directives = refused, "the log level is not a list of target=level directives; logging at {DEFAULT}");
    }
}

/// The filter of `directives`, and the directives themselves when they do not parse.
fn filter(directives: Option<&str>) -> (Targets, Option<&str>) {
    let default = || Targets::from_str(DEFAULT).expect("the default directive parses");
    match directives.map(str::trim).filter(|directives| !directives.is_empty()) {
        None => (default(), None),
        // Lambda's controls name levels in capitals (INFO, DEBUG); Targets wants them in lower case.
        Some(directives) => match Targets::from_str(&directives.to_ascii_lowercase()) {
            Ok(targets) => (targets, None),
            Err(_) => (default(), Some(directives)),
        },
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn levels_and_targets_parse_in_either_case() {
        let (targets, refused) = filter(Some("gavel_aws=DEBUG,warn"));
        assert_eq!(refused, None);
        assert!(targets.would_enable("gavel_aws::store", &Level::DEBUG));
        assert!(!targets.would_enable("hyper", &Level::INFO));
        assert!(targets.would_enable("hyper", &Level::WARN));
    }

    #[test]
    fn nothing_or_nonsense_logs_at_info() {
        for directives in [None, Some(""), Some("  ")] {
            let (targets, refused) = filter(directives);
            assert_eq!(refused, None);
            assert!(targets.would_enable("gavel_aws", &Level::INFO));
            assert!(!targets.would_enable("gavel_aws", &Level::DEBUG));
        }
        let (targets, refused) = filter(Some("gavel_aws=[span]=debug"));
        assert_eq!(refused, Some("gavel_aws=[span]=debug"));
        assert!(targets.would_enable("gavel_aws", &Level::INFO));
    }
}
