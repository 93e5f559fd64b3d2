//! Versions as Piston clients see them: a toolchain's probe line as `x.y.z`, and `version` of a
//! request as a node-semver range (npm's semantics, via `nodejs-semver`: a bare `3.10.0` is
//! exact, pre-releases match only ranges that name one).

use nodejs_semver::{Range, Version};

/// What a runtime reports when the deployment could not probe its toolchain (on AWS the probe
/// runs in the task, not beside the API).
pub(crate) const UNKNOWN: &str = "0.0.0";

/// The first `x.y[.z]` in a probe line (`g++ (Debian 12.2.0-14) 12.2.0` → `12.2.0`, `go
/// version go1.19.8` → `1.19.8`, `Mono … 6.8.0.105` → `6.8.0`), as semver: at most three parts,
/// no leading zeros, `.0` added to a bare `x.y`.
pub(crate) fn semver_of(probe: &str) -> Option<String> {
    let bytes = probe.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        // A number starts a version only where it is not the tail of another number.
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b'.');
        if boundary && bytes[start].is_ascii_digit() {
            let parts = dotted_numbers(&probe[start..]);
            if parts.len() >= 2 {
                let mut parts: Vec<String> = parts.iter().take(3).map(u64::to_string).collect();
                if parts.len() == 2 {
                    parts.push("0".into());
                }
                return Some(parts.join("."));
            }
        }
        start += 1;
    }
    None
}

/// `12.2.0-14` → [12, 2, 0]: numbers joined by single dots, from the start of `text`.
fn dotted_numbers(text: &str) -> Vec<u64> {
    let mut parts = Vec::new();
    for piece in text.split('.') {
        let digits: &str = &piece[..piece.bytes().take_while(u8::is_ascii_digit).count()];
        match digits.parse() {
            Ok(number) => parts.push(number),
            Err(_) => break,
        }
        // Anything after the digits (`0-14`, `2p20`) ends the version.
        if digits.len() < piece.len() {
            break;
        }
    }
    parts
}

/// `semver.satisfies(version, range)` of node-semver, default options: an unparsable version or
/// range satisfies nothing.
pub(crate) fn satisfies(version: &str, range: &str) -> bool {
    match (Version::parse(version), Range::parse(range)) {
        (Ok(version), Ok(range)) => range.satisfies(&version),
        _ => false,
    }
}

/// Newest first, as `semver.rcompare` sorts; unparsable versions last.
pub(crate) fn newest_first(a: &str, b: &str) -> std::cmp::Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(a), Ok(b)) => b.cmp(&a),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_lines_give_semver() {
        let cases = [
            ("Python 3.11.2", Some("3.11.2")),
            ("v20.11.1", Some("20.11.1")),
            ("g++ (Debian 12.2.0-14) 12.2.0", Some("12.2.0")),
            ("gcc (Debian 12.2.0-14+deb12u1) 12.2.0", Some("12.2.0")),
            ("Mono JIT compiler version 6.8.0.105 (Debian 6.8.0.105+dfsg-3.3)", Some("6.8.0")),
            ("javac 17.0.13", Some("17.0.13")),
            ("go version go1.19.8 linux/amd64", Some("1.19.8")),
            ("rustc 1.63.0 (4b91a6ea7 2022-08-08)", Some("1.63.0")),
            ("Version 5.0.4", Some("5.0.4")),
            ("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]", Some("3.1.2")),
            ("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)", Some("5.2.15")),
            ("tool 1.19", Some("1.19.0")),
            ("tool 01.02.03", Some("1.2.3")),
            ("C++17 (GCC)", None),
            ("no version here", None),
            ("", None),
        ];
        for (probe, expected) in cases {
            assert_eq!(semver_of(probe).as_deref(), expected, "{probe}");
        }
    }

    #[test]
    fn ranges_follow_node_semver() {
        let matches = [
            ("3.12.0", "3.12.0"),
            ("3.12.0", "*"),
            ("3.12.0", "x"),
            ("3.12.0", "3"),
            ("3.12.0", "3.x"),
            ("3.12.0", "3.12.x"),
            ("3.12.0", "3.12"),
            ("3.12.0", "^3.10.0"),
            ("3.12.4", "~3.12.1"),
            ("3.12.0", ">=3.10 <4"),
            ("3.12.0", "2.x || >=3.11.0"),
            ("3.12.0", "3.10.0 - 3.12.0"),
            ("3.12.0", "=3.12.0"),
            ("3.12.0", "v3.12.0"),
            ("3.12.0-rc.1", ">=3.12.0-rc.0"),
        ];
        for (version, range) in matches {
            assert!(satisfies(version, range), "{version} should satisfy {range}");
        }
        let misses = [
            // Exact, not caret as the semver crate would read it.
            ("3.12.0", "3.10.0"),
            ("3.10.1", "3.10.0"),
            ("3.12.0", "~3.10.0"),
            ("4.0.0", "^3.10.0"),
            ("3.12.0", ">=3.10 <3.12"),
            ("3.12.0", "2.x || 4.x"),
            // Pre-releases only for ranges that name one of the same x.y.z.
            ("3.12.0-rc.1", "*"),
            ("3.12.0-rc.1", ">=3.0.0"),
            ("3.12.0", "not a range"),
            ("garbage", "*"),
        ];
        for (version, range) in misses {
            assert!(!satisfies(version, range), "{version} should not satisfy {range:?}");
        }
    }

    #[test]
    fn newest_sorts_first() {
        let mut versions = vec!["3.9.0", "garbage", "3.12.0", "3.10.2", "10.0.0"];
        versions.sort_by(|a, b| newest_first(a, b));
        assert_eq!(versions, ["10.0.0", "3.12.0", "3.10.2", "3.9.0", "garbage"]);
    }
}
