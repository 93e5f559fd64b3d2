//! Which catalogue languages this host can run, by running each toolchain's version command.

use std::process::Stdio;
use std::time::Duration;

use gavel_core::language::{self, Language, LanguageStatus};
use tokio::process::Command;
use tracing::debug;

/// A toolchain that takes longer than this to print its version is treated as missing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probes every catalogue language at once; a missing toolchain is `available: false`, never an
/// error. Results are in catalogue order.
pub async fn probe_languages() -> Vec<LanguageStatus> {
    let probes: Vec<_> = language::catalogue().iter().map(|lang| tokio::spawn(probe(lang, PROBE_TIMEOUT))).collect();
    let mut statuses = Vec::with_capacity(probes.len());
    for (lang, probe) in language::catalogue().iter().zip(probes) {
        statuses.push(probe.await.unwrap_or(LanguageStatus { language: lang, available: false, version: None }));
    }
    statuses
}

async fn probe(lang: &'static Language, timeout: Duration) -> LanguageStatus {
    let missing = LanguageStatus { language: lang, available: false, version: None };
    let Some((program, args)) = lang.version.split_first() else { return missing };
    let output = Command::new(program)
        .args(args)
        // The sandbox's PATH, so the probe finds the toolchain that programs will run with.
        .env("PATH", language::TOOLCHAIN_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, output).await {
        Ok(Ok(output)) if output.status.success() => {
            // Some toolchains print their version on stderr.
            let version = first_line(&output.stdout).or_else(|| first_line(&output.stderr));
            LanguageStatus { language: lang, available: true, version }
        }
        outcome => {
            debug!(language = lang.id, ?outcome, "toolchain unavailable");
            missing
        }
    }
}

fn first_line(bytes: &[u8]) -> Option<String> {
    String::from_utf8_lossy(bytes).lines().map(str::trim).find(|line| !line.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    static MADE_UP: Language = Language {
        id: "made-up",
        aliases: &[],
        display_name: "Made up",
        extensions: &[],
        source_file: "main.x",
        compile: None,
        run: &["gavel-no-such-toolchain", "main.x"],
        version: &["gavel-no-such-toolchain", "--version"],
        env: &[],
        toolchain_paths: &[],
    };

    static FAILING: Language = Language { version: &["false"], ..MADE_UP };

    #[tokio::test]
    async fn python_is_found_with_its_version() {
        let statuses = probe_languages().await;
        let ids: Vec<_> = statuses.iter().map(|s| s.language.id).collect();
        assert_eq!(ids, language::ids());
        let python = statuses.iter().find(|s| s.language.id == "python").expect("python probed");
        assert!(python.available, "{python:?}");
        assert!(python.version.as_deref().is_some_and(|v| v.starts_with("Python 3")), "{python:?}");
    }

    #[tokio::test]
    async fn missing_or_failing_toolchains_are_unavailable() {
        for lang in [&MADE_UP, &FAILING] {
            let status = probe(lang, PROBE_TIMEOUT).await;
            assert!(!status.available && status.version.is_none(), "{status:?}");
        }
    }

    #[test]
    fn the_first_non_empty_line_is_the_version() {
        assert_eq!(
            first_line(b"\n  Mono JIT compiler version 6.8\nTLS: __thread\n").as_deref(),
            Some("Mono JIT compiler version 6.8")
        );
        assert_eq!(first_line(b" \n"), None);
    }
}
