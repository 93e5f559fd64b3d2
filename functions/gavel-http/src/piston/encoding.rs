//! A file's content as job.js writes it: `Buffer.from(content, encoding)`, whose decoders never
//! refuse. Base64 skips what is not in either alphabet (standard or URL-safe) and ends at the
//! first `=`; hex takes pairs of digits up to the first pair that is not one.

/// The bytes of `content` in Piston's `encoding` (`base64`, `hex`, or anything else: utf8).
pub(super) fn decode(content: &str, encoding: Option<&str>) -> Vec<u8> {
    match encoding {
        Some("base64") => base64(content),
        Some("hex") => hex(content),
        _ => content.as_bytes().to_vec(),
    }
}

fn sextet(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

fn base64(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut held) = (0u32, 0u32);
    for value in text.bytes().take_while(|&c| c != b'=').filter_map(sextet) {
        bits = (bits << 6) | value;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    out
}

fn hex(text: &str) -> Vec<u8> {
    let digit = |c: u8| char::from(c).to_digit(16);
    text.as_bytes().chunks_exact(2).map_while(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Node 20's `Buffer.from` gives for each (`node -e 'Buffer.from(s, enc)'`).
    #[test]
    fn decodes_as_node_does() {
        let cases: &[(&str, &str, &[u8])] = &[
            ("base64", "aGVsbG8=", b"hello"),
            ("base64", "aGVs bG8=", b"hello"),
            ("base64", "aGVs*bG8", b"hello"),
            ("base64", "aGVsbG8=d29ybGQ=", b"hello"),
            ("base64", "aGVs-_8", &[104, 101, 108, 251, 255]),
            ("base64", "a", b""),
            ("base64", "aGVsbG", b"hell"),
            ("hex", "68656c6c6f", b"hello"),
            ("hex", "68656c6c6", b"hell"),
            ("hex", "6865zz6c", b"he"),
            ("hex", "68 65", b"h"),
            ("hex", "6G65", b""),
            ("utf8", "é", "é".as_bytes()),
            ("latin1", "x", b"x"),
        ];
        for (encoding, content, bytes) in cases {
            assert_eq!(decode(content, Some(encoding)), *bytes, "{encoding} {content:?}");
        }
    }
}
