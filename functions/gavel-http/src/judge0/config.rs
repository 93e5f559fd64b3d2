//! What an operator sets for the Judge0 API: Judge0's own knobs (`judge0.conf`), under
//! `GAVEL_JUDGE0_*`, with Judge0's defaults.

use tracing::warn;

/// The most submissions a batch may hold: a batch item's token is its job id with the item's
/// index in the low 5 bits (`token.rs`).
pub const MAX_BATCH_SIZE: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judge0Config {
    /// `AUTHN_HEADER`: the header (or query parameter) carrying an authentication token.
    pub authn_header: String,
    /// `AUTHN_TOKEN`: accepted tokens; none means no authentication.
    pub authn_tokens: Vec<String>,
    /// `AUTHZ_HEADER`: the header (or query parameter) carrying an authorization token.
    pub authz_header: String,
    /// `AUTHZ_TOKEN`: tokens for the authorized routes; none means those routes are refused.
    pub authz_tokens: Vec<String>,
    /// `ENABLE_WAIT_RESULT`: whether `POST /submissions?wait=true` is served.
    pub enable_wait_result: bool,
    /// `ENABLE_BATCHED_SUBMISSIONS`.
    pub enable_batched_submissions: bool,
    /// `MAX_SUBMISSION_BATCH_SIZE`, at most [`MAX_BATCH_SIZE`].
    pub max_submission_batch_size: usize,
    /// `MAX_QUEUE_SIZE`: submissions are refused while this many jobs are queued or running.
    pub max_queue_size: u64,
    /// `MAINTENANCE_MODE` and `MAINTENANCE_MESSAGE`: creating submissions is refused with it.
    pub maintenance_mode: bool,
    pub maintenance_message: String,
    /// `ENABLE_SUBMISSION_DELETE`: whether `DELETE /submissions/{token}` deletes.
    pub enable_submission_delete: bool,
    /// `ENABLE_CALLBACKS`: whether submissions may name a `callback_url`.
    pub enable_callbacks: bool,
    /// Gavel's own: callbacks may reach loopback, link-local and private addresses (off: a
    /// submission could otherwise make the service call into its own network).
    pub callbacks_allow_private: bool,
}

impl Default for Judge0Config {
    fn default() -> Self {
        Judge0Config {
            authn_header: "X-Auth-Token".into(),
            authn_tokens: Vec::new(),
            authz_header: "X-Auth-User".into(),
            authz_tokens: Vec::new(),
            enable_wait_result: true,
            enable_batched_submissions: true,
            max_submission_batch_size: 20,
            max_queue_size: 100,
            maintenance_mode: false,
            maintenance_message: "Judge0 is currently in maintenance.".into(),
            enable_submission_delete: false,
            enable_callbacks: true,
            callbacks_allow_private: false,
        }
    }
}

impl Judge0Config {
    /// From `GAVEL_JUDGE0_<JUDGE0 NAME>` variables.
    pub fn from_env() -> Judge0Config {
        Judge0Config::from_lookup(|name| std::env::var(format!("GAVEL_JUDGE0_{name}")).ok())
    }

    /// From `lookup`, which maps a Judge0 setting's name (`AUTHN_TOKEN`) to its value. As in
    /// Judge0, an empty value is the default; a value that does not parse is too, with a warning.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Judge0Config {
        let defaults = Judge0Config::default();
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let tokens =
            |name: &str| get(name).map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
        // Judge0's booleans: on by default means anything but "false"; off means only "true".
        let flag = |name: &str, default: bool| match get(name) {
            None => default,
            Some(value) if default => value != "false",
            Some(value) => value == "true",
        };
        let number = |name: &str, default: u64| match get(name).map(|value| value.trim().parse::<u64>()) {
            None => default,
            Some(Ok(value)) => value,
            Some(Err(_)) => {
                warn!(setting = %format!("GAVEL_JUDGE0_{name}"), default, "not a whole number; the default applies");
                default
            }
        };
        let batch = number("MAX_SUBMISSION_BATCH_SIZE", defaults.max_submission_batch_size as u64);
        if batch > MAX_BATCH_SIZE as u64 {
            warn!(batch, max = MAX_BATCH_SIZE, "GAVEL_JUDGE0_MAX_SUBMISSION_BATCH_SIZE is capped");
        }
        Judge0Config {
            authn_header: get("AUTHN_HEADER").unwrap_or(defaults.authn_header),
            authn_tokens: tokens("AUTHN_TOKEN"),
            authz_header: get("AUTHZ_HEADER").unwrap_or(defaults.authz_header),
            authz_tokens: tokens("AUTHZ_TOKEN"),
            enable_wait_result: flag("ENABLE_WAIT_RESULT", defaults.enable_wait_result),
            enable_batched_submissions: flag("ENABLE_BATCHED_SUBMISSIONS", defaults.enable_batched_submissions),
            max_submission_batch_size: usize::try_from(batch).unwrap_or(MAX_BATCH_SIZE).min(MAX_BATCH_SIZE),
            max_queue_size: number("MAX_QUEUE_SIZE", defaults.max_queue_size),
            maintenance_mode: flag("MAINTENANCE_MODE", defaults.maintenance_mode),
            maintenance_message: get("MAINTENANCE_MESSAGE").unwrap_or(defaults.maintenance_message),
            enable_submission_delete: flag("ENABLE_SUBMISSION_DELETE", defaults.enable_submission_delete),
            enable_callbacks: flag("ENABLE_CALLBACKS", defaults.enable_callbacks),
            callbacks_allow_private: flag("CALLBACKS_ALLOW_PRIVATE", defaults.callbacks_allow_private),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Judge0Config {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Judge0Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn nothing_set_is_judge0s_defaults_with_auth_off() {
        let config = from(&[]);
        assert_eq!(config, Judge0Config::default());
        assert!(config.authn_tokens.is_empty() && config.authz_tokens.is_empty());
        assert_eq!((config.authn_header.as_str(), config.authz_header.as_str()), ("X-Auth-Token", "X-Auth-User"));
        assert!(config.enable_wait_result && config.enable_batched_submissions && !config.maintenance_mode);
        assert!(config.enable_callbacks && !config.callbacks_allow_private && !config.enable_submission_delete);
        assert_eq!((config.max_submission_batch_size, config.max_queue_size), (20, 100));
    }

    #[test]
    fn settings_are_read_as_judge0_reads_them() {
        let config = from(&[
            ("AUTHN_TOKEN", " one  two "),
            ("AUTHN_HEADER", "X-Key"),
            ("AUTHZ_TOKEN", "boss"),
            ("ENABLE_WAIT_RESULT", "false"),
            ("ENABLE_BATCHED_SUBMISSIONS", "no"),
            ("MAINTENANCE_MODE", "yes"),
            ("MAX_SUBMISSION_BATCH_SIZE", "5"),
            ("MAX_QUEUE_SIZE", "many"),
            ("ENABLE_CALLBACKS", "false"),
            ("CALLBACKS_ALLOW_PRIVATE", "true"),
            ("ENABLE_SUBMISSION_DELETE", "true"),
        ]);
        assert!(!config.enable_callbacks && config.callbacks_allow_private && config.enable_submission_delete);
        assert_eq!(config.authn_tokens, ["one", "two"]);
        assert_eq!(config.authn_header, "X-Key");
        assert_eq!(config.authz_tokens, ["boss"]);
        assert!(!config.enable_wait_result);
        // Only "false" turns an on-by-default flag off, only "true" turns an off one on.
        assert!(config.enable_batched_submissions && !config.maintenance_mode);
        assert_eq!(config.max_submission_batch_size, 5);
        assert_eq!(config.max_queue_size, 100, "a value that does not parse is the default");
        assert_eq!(from(&[("AUTHN_TOKEN", "   ")]).authn_tokens, Vec::<String>::new());
    }

    #[test]
    fn the_batch_size_is_capped_by_the_token_scheme() {
        assert_eq!(from(&[("MAX_SUBMISSION_BATCH_SIZE", "100")]).max_submission_batch_size, MAX_BATCH_SIZE);
    }
}
