//! Base64 as Judge0's Ruby does it (`base64_service.rb`): out like `Base64.encode64` (RFC 2045,
//! lines of 60 characters each ending in `\n`), in like `Base64.decode64`, which never refuses.

use ::base64::Engine;
use ::base64::engine::general_purpose::STANDARD;

/// Characters per line of [`encode`]: 45 bytes of input.
const LINE: usize = 60;

/// RFC 2045: padded, every line (the last too) ends in `\n`; nothing at all for no bytes.
pub(super) fn encode(bytes: &[u8]) -> String {
    let flat = STANDARD.encode(bytes);
    let mut wrapped = String::with_capacity(flat.len() + flat.len().div_ceil(LINE));
    // The alphabet is ASCII, so cutting at any byte offset cuts between characters.
    for line in flat.as_bytes().chunks(LINE) {
        wrapped.push_str(std::str::from_utf8(line).unwrap_or_default());
        wrapped.push('\n');
    }
    wrapped
}

/// The value of a base64 character, if it is one.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Ruby's lenient decoder (`unpack1("m")`): characters outside the alphabet are skipped, a `=`
/// in the third or fourth place of a quantum ends the input, and a partial last quantum yields
/// what whole bytes it holds.
pub(super) fn decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut quantum = [0u8; 4];
    let mut have = 0;
    for &c in text.as_bytes() {
        match sextet(c) {
            Some(value) => {
                quantum[have] = value;
                have += 1;
                if have == 4 {
                    out.extend_from_slice(&[
                        quantum[0] << 2 | quantum[1] >> 4,
                        quantum[1] << 4 | quantum[2] >> 2,
                        quantum[2] << 6 | quantum[3],
                    ]);
                    have = 0;
                }
            }
            // Padding where the first two characters go is skipped like any other stray byte.
            None if c == b'=' && have >= 2 => break,
            None => {}
        }
    }
    if have >= 2 {
        out.push(quantum[0] << 2 | quantum[1] >> 4);
    }
    if have == 3 {
        out.push(quantum[1] << 4 | quantum[2] >> 2);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_ruby_encode64() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"hello, Judge0\n"), "aGVsbG8sIEp1ZGdlMAo=\n");
        // 45 bytes make exactly one full line; one more starts a second.
        assert_eq!(encode(&[b'a'; 45]), format!("{}\n", "YWFh".repeat(15)));
        let two = encode(&[b'a'; 46]);
        let lines: Vec<&str> = two.split_inclusive('\n').collect();
        assert_eq!(lines, [format!("{}\n", "YWFh".repeat(15)).as_str(), "YQ==\n"]);
        for len in [1, 59, 60, 61, 200, 1000] {
            let text = encode(&vec![0xff; len]);
            assert!(text.ends_with('\n'), "{len}");
            assert!(text.lines().all(|line| line.len() <= LINE), "{len}");
        }
    }

    #[test]
    fn decodes_leniently_like_ruby_decode64() {
        assert_eq!(decode("aGVsbG8sIEp1ZGdlMAo=\n"), b"hello, Judge0\n");
        assert_eq!(decode("aGVs\r\nbG8=\n"), b"hello");
        // Missing padding, stray characters, and a dangling character.
        assert_eq!(decode("aGVsbG8"), b"hello");
        assert_eq!(decode("a G!V*s"), b"hel");
        assert_eq!(decode("aGVsb"), b"hel");
        // Padding ends the input; before two characters it is skipped.
        assert_eq!(decode("QQ==QUJD"), b"A");
        assert_eq!(decode("=QQ=="), b"A");
        assert_eq!(decode(""), b"");
        assert_eq!(decode("!!!"), b"");
    }

    #[test]
    fn any_bytes_round_trip() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in 0..bytes.len() {
            assert_eq!(decode(&encode(&bytes[..len])), &bytes[..len], "{len}");
        }
    }
}
