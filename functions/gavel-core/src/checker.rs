//! Output checkers: how a program's stdout is compared with the expected output.

use serde::{Deserialize, Serialize};

use crate::helper::HelperProgram;

/// How to compare outputs. `lines` is the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Checker {
    /// Byte for byte.
    Exact,
    /// Trailing whitespace on each line and trailing blank lines ignored.
    #[default]
    Lines,
    /// Whitespace-separated tokens.
    Tokens,
    /// Tokens; numbers equal within `abs` or within `rel` of the expected value.
    Float {
        #[serde(default = "default_tolerance")]
        abs: f64,
        #[serde(default = "default_tolerance")]
        rel: f64,
    },
    /// The problem's own checker, run in the sandbox after each test (testlib's protocol): the
    /// runner judges, not [`Checker::accepts`].
    Custom(HelperProgram),
}

fn default_tolerance() -> f64 {
    1e-6
}

impl Checker {
    /// Refuses tolerances that make no sense; names the offending field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Checker::Float { abs, rel } = *self {
            for (field, value) in [("checker.abs", abs), ("checker.rel", rel)] {
                if !value.is_finite() || value < 0.0 {
                    return Err((field, format!("{field} must be a finite number ≥ 0, got {value}")));
                }
            }
        }
        Ok(())
    }

    /// Whether `actual` is an accepted answer for `expected`. Never for a custom checker, whose
    /// word comes from its run in the sandbox.
    pub fn accepts(&self, expected: &str, actual: &str) -> bool {
        match *self {
            Checker::Custom(_) => false,
            Checker::Exact => expected == actual,
            Checker::Lines => significant_lines(expected).eq(significant_lines(actual)),
            Checker::Tokens => expected.split_whitespace().eq(actual.split_whitespace()),
            Checker::Float { abs, rel } => {
                let mut want = expected.split_whitespace();
                let mut got = actual.split_whitespace();
                loop {
                    match (want.next(), got.next()) {
                        (None, None) => return true,
                        (Some(w), Some(g)) if tokens_match(w, g, abs, rel) => {}
                        _ => return false,
                    }
                }
            }
        }
    }
}

impl Checker {
    /// [`Checker::accepts`] for any bytes. Text goes through the text rules; where either side
    /// is not UTF-8 the same rules apply with ASCII whitespace, and a token that is not text is
    /// never a number.
    pub fn accepts_bytes(&self, expected: &[u8], actual: &[u8]) -> bool {
        if let (Ok(expected), Ok(actual)) = (std::str::from_utf8(expected), std::str::from_utf8(actual)) {
            return self.accepts(expected, actual);
        }
        match *self {
            Checker::Custom(_) => false,
            Checker::Exact => expected == actual,
            Checker::Lines => significant_byte_lines(expected).eq(significant_byte_lines(actual)),
            Checker::Tokens => byte_tokens(expected).eq(byte_tokens(actual)),
            Checker::Float { abs, rel } => {
                let (mut want, mut got) = (byte_tokens(expected), byte_tokens(actual));
                loop {
                    match (want.next(), got.next()) {
                        (None, None) => return true,
                        (Some(w), Some(g)) if w == g => {}
                        (Some(w), Some(g)) => match (std::str::from_utf8(w), std::str::from_utf8(g)) {
                            (Ok(w), Ok(g)) if tokens_match(w, g, abs, rel) => {}
                            _ => return false,
                        },
                        _ => return false,
                    }
                }
            }
        }
    }
}

fn significant_byte_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let trimmed = bytes.trim_ascii_end();
    let lines = (!trimmed.is_empty()).then(|| trimmed.split(|&b| b == b'\n').map(<[u8]>::trim_ascii_end));
    lines.into_iter().flatten()
}

fn byte_tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(u8::is_ascii_whitespace).filter(|token| !token.is_empty())
}

/// Lines with trailing whitespace removed, without the trailing blank lines.
fn significant_lines(text: &str) -> impl Iterator<Item = &str> {
    let trimmed = text.trim_end();
    let lines = if trimmed.is_empty() { None } else { Some(trimmed.split('\n').map(str::trim_end)) };
    lines.into_iter().flatten()
}

fn tokens_match(expected: &str, actual: &str, abs: f64, rel: f64) -> bool {
    if expected == actual {
        return true;
    }
    match (expected.parse::<f64>(), actual.parse::<f64>()) {
        (Ok(e), Ok(a)) if e.is_finite() && a.is_finite() => {
            let diff = (e - a).abs();
            diff <= abs || diff <= rel * e.abs()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FLOAT: Checker = Checker::Float { abs: 1e-6, rel: 1e-6 };

    #[test]
    fn bytes_that_are_not_text_follow_the_same_rules() {
        let expected = b"\xff\xfe 1.0 x\n\n";
        assert!(Checker::Exact.accepts_bytes(expected, expected));
        assert!(!Checker::Exact.accepts_bytes(expected, b"\xff\xfe 1.0 x\n"));
        assert!(Checker::Lines.accepts_bytes(expected, b"\xff\xfe 1.0 x  \n"));
        assert!(!Checker::Lines.accepts_bytes(expected, b"\xff\xfe  1.0 x"));
        assert!(Checker::Tokens.accepts_bytes(expected, b"\xff\xfe\n1.0\tx"));
        assert!(FLOAT.accepts_bytes(expected, b"\xff\xfe 1.0000001 x"));
        assert!(!FLOAT.accepts_bytes(expected, b"\xff\xfd 1.0 x"));
        assert!(!Checker::Tokens.accepts_bytes(b"\xff", b"\xfe"));
        // Text on both sides keeps the text rules.
        assert!(Checker::Lines.accepts_bytes("é \n".as_bytes(), "é".as_bytes()));
    }

    #[test]
    fn exact_compares_bytes() {
        assert!(Checker::Exact.accepts("3\n", "3\n"));
        assert!(!Checker::Exact.accepts("3\n", "3"));
    }

    #[test]
    fn lines_ignores_trailing_whitespace_and_blank_lines() {
        assert!(Checker::Lines.accepts("1 2\n3\n", "1 2  \r\n3\n\n\n"));
        assert!(!Checker::Lines.accepts("1 2\n3\n", "1  2\n3\n"));
        assert!(!Checker::Lines.accepts("1\n\n2\n", "1\n2\n"));
        assert!(Checker::Lines.accepts("", "\n \n"));
        assert!(!Checker::Lines.accepts("", "x"));
    }

    #[test]
    fn tokens_ignore_all_whitespace() {
        assert!(Checker::Tokens.accepts("1 2\n3", " 1\n2   3 \n"));
        assert!(!Checker::Tokens.accepts("1 2 3", "1 2"));
    }

    #[test]
    fn float_accepts_within_tolerance() {
        assert!(FLOAT.accepts("0.3333333", "0.33333334"));
        assert!(FLOAT.accepts("1000000", "1000000.5"));
        assert!(!FLOAT.accepts("1.0", "1.01"));
        assert!(!FLOAT.accepts("1.0 2.0", "1.0"));
        assert!(!FLOAT.accepts("NaN", "nan"));
        assert!(FLOAT.accepts("yes 1.5", "yes 1.5000001"));
        assert!(!FLOAT.accepts("yes", "no"));
    }

    #[test]
    fn checker_json_shape() {
        let parsed: Checker = serde_json::from_str(r#"{"mode":"float","abs":0.01}"#).expect("valid");
        assert_eq!(parsed, Checker::Float { abs: 0.01, rel: 1e-6 });
        assert!(serde_json::from_str::<Checker>(r#"{"mode":"regex"}"#).is_err());
        assert!(Checker::Float { abs: -1.0, rel: 0.0 }.validate().is_err());
        assert!(Checker::Float { abs: f64::NAN, rel: 0.0 }.validate().is_err());
    }

    #[test]
    fn a_custom_checker_is_a_program() {
        let json =
            r#"{"mode":"custom","language":"cpp","code":"int main(){}","files":[{"name":"testlib.h","content":"x"}]}"#;
        let Ok(Checker::Custom(program)) = serde_json::from_str::<Checker>(json) else {
            panic!("a custom checker parses");
        };
        assert_eq!((program.language.as_str(), program.files.len()), ("cpp", 1));
        let stray = r#"{"mode":"custom","language":"cpp","code":"x","abs":1}"#;
        assert!(serde_json::from_str::<Checker>(stray).is_err(), "unknown fields are refused");
        assert!(!Checker::Custom(program).accepts("1", "1"), "a custom checker's word is the runner's");
    }

    proptest! {
        #[test]
        fn bytes_judge_as_their_text_does(a in "[ a-c0-9.\n\t]{0,40}", b in "[ a-c0-9.\n\t]{0,40}") {
            // A first line that is not UTF-8 sends both sides down the byte rules.
            let bytes = |text: &str| [b"\xff\n".as_slice(), text.as_bytes()].concat();
            for checker in [Checker::Exact, Checker::Lines, Checker::Tokens, FLOAT] {
                prop_assert_eq!(checker.accepts(&a, &b), checker.accepts_bytes(&bytes(&a), &bytes(&b)));
            }
        }

        #[test]
        fn stricter_checkers_imply_looser_ones(a in "[ a-c0-9\n\t]{0,40}", b in "[ a-c0-9\n\t]{0,40}") {
            if Checker::Exact.accepts(&a, &b) { prop_assert!(Checker::Lines.accepts(&a, &b)); }
            if Checker::Lines.accepts(&a, &b) { prop_assert!(Checker::Tokens.accepts(&a, &b)); }
            if Checker::Tokens.accepts(&a, &b) { prop_assert!(FLOAT.accepts(&a, &b)); }
        }

        #[test]
        fn every_checker_accepts_identical_output(a in "\\PC{0,60}") {
            for checker in [Checker::Exact, Checker::Lines, Checker::Tokens, FLOAT] {
                prop_assert!(checker.accepts(&a, &a));
            }
        }

        #[test]
        fn lines_ignores_added_trailing_whitespace(lines in prop::collection::vec("[a-z0-9 ]{0,10}", 0..6), pad in "[ \t]{0,3}", blank in 0usize..3) {
            let expected = lines.join("\n");
            let padded: Vec<String> = lines.iter().map(|l| format!("{l}{pad}")).collect();
            let actual = format!("{}{}", padded.join("\n"), "\n".repeat(blank));
            prop_assert!(Checker::Lines.accepts(&expected, &actual));
        }

        #[test]
        fn float_accepts_small_perturbations(x in -1e6f64..1e6, eps in -1e-7f64..1e-7) {
            let expected = format!("{x}");
            let actual = format!("{}", x + eps);
            prop_assert!(FLOAT.accepts(&expected, &actual));
        }

        #[test]
        fn float_refuses_large_differences(x in -1e3f64..1e3, delta in 1e-2f64..1e3) {
            let expected = format!("{x}");
            let actual = format!("{}", x + delta);
            prop_assert!(!FLOAT.accepts(&expected, &actual));
        }
    }
}
