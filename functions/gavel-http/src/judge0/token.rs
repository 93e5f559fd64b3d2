//! Tokens: a submission's token names its Gavel job and its place in it, so reading one needs
//! no lookup. A job made for Judge0 gets a random id whose last byte has its low 5 bits clear;
//! submission `i` of the job (`i` < 32) has that id with `i` in those bits. A lone submission's
//! token is its job's id. Both are v4 UUIDs, as Judge0's `SecureRandom.uuid` tokens are.

use gavel_core::JobId;

/// Submissions one job can hold: what the low bits can number.
pub(super) const PER_JOB: usize = 32;
const ITEM_BITS: u8 = 0x1f;

/// A fresh job id whose item bits are clear.
pub(super) fn new_job() -> JobId {
    with_last_byte(&JobId::new(), |byte| byte & !ITEM_BITS)
}

/// The token of submission `item` of `job`.
pub(super) fn token(job: &JobId, item: usize) -> String {
    let item = u8::try_from(item).unwrap_or(0) & ITEM_BITS;
    with_last_byte(job, |byte| (byte & !ITEM_BITS) | item).to_string()
}

/// The job and the submission a token names; `None` for what is not a token.
pub(super) fn parse(token: &str) -> Option<(JobId, usize)> {
    let id: JobId = token.parse().ok()?;
    let item = last_byte(&id) & ITEM_BITS;
    Some((with_last_byte(&id, |byte| byte & !ITEM_BITS), usize::from(item)))
}

fn last_byte(id: &JobId) -> u8 {
    let text = id.as_str();
    // A job id is a canonical UUID: it ends in two lowercase hex digits.
    u8::from_str_radix(&text[text.len() - 2..], 16).unwrap_or(0)
}

fn with_last_byte(id: &JobId, change: impl Fn(u8) -> u8) -> JobId {
    let text = id.as_str();
    let changed = format!("{}{:02x}", &text[..text.len() - 2], change(last_byte(id)));
    changed.parse().unwrap_or_else(|_| id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tokens_job_and_item_come_back_from_it() {
        for _ in 0..100 {
            let job = new_job();
            assert_eq!(last_byte(&job) & ITEM_BITS, 0, "{job}");
            assert_eq!(token(&job, 0), job.to_string(), "a lone submission's token is its job id");
            for item in [0, 1, 7, 31] {
                assert_eq!(parse(&token(&job, item)), Some((job.clone(), item)));
            }
        }
    }

    #[test]
    fn tokens_are_v4_uuids_and_distinct_within_a_job() {
        let job = new_job();
        let tokens: std::collections::BTreeSet<String> = (0..PER_JOB).map(|item| token(&job, item)).collect();
        assert_eq!(tokens.len(), PER_JOB);
        for token in &tokens {
            assert_eq!(token.len(), 36);
            assert_eq!(&token[14..15], "4", "version 4: {token}");
            assert!(matches!(&token[19..20], "8" | "9" | "a" | "b"), "RFC 4122 variant: {token}");
        }
    }

    #[test]
    fn what_is_not_a_canonical_uuid_is_no_token() {
        assert_eq!(parse("nope"), None);
        assert_eq!(parse(&new_job().to_string().to_uppercase()), None);
        assert_eq!(parse(""), None);
    }
}
