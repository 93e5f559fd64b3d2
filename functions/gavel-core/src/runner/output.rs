//! What a program wrote, as stored and shown: its bytes as UTF-8 text where that is as compact
//! as base64 once JSON-escaped, otherwise base64. So stored size is at most 4/3 of the raw bytes
//! (plus padding) whatever the program printed, and nothing is lost: a NUL or an invalid byte
//! survives the round trip.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// How [`Output::text`] holds the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The bytes are this UTF-8 text.
    #[default]
    Utf8,
    /// The bytes, base64-encoded (RFC 4648, with padding).
    Base64,
}

impl Encoding {
    /// The bytes `text` holds; `None` for base64 that does not decode.
    pub fn decode(self, text: &str) -> Option<Cow<'_, [u8]>> {
        match self {
            Encoding::Utf8 => Some(Cow::Borrowed(text.as_bytes())),
            Encoding::Base64 => BASE64.decode(text).ok().map(Cow::Owned),
        }
    }

    pub fn is_utf8(&self) -> bool {
        *self == Encoding::Utf8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Output {
    pub text: String,
    pub encoding: Encoding,
}

impl Output {
    /// The compact lossless form of `bytes`.
    pub fn encode(bytes: &[u8]) -> Output {
        match std::str::from_utf8(bytes) {
            Ok(text) if json_escaped_len(text) <= base64_len(bytes.len()) => {
                Output { text: text.to_owned(), encoding: Encoding::Utf8 }
            }
            _ => Output { text: BASE64.encode(bytes), encoding: Encoding::Base64 },
        }
    }

    /// `bytes` as base64, whatever they are (for data that must share one encoding).
    pub fn base64(bytes: &[u8]) -> Output {
        Output { text: BASE64.encode(bytes), encoding: Encoding::Base64 }
    }

    /// Text that is already known to be UTF-8 (the runner's own messages).
    pub fn text(text: impl Into<String>) -> Output {
        Output { text: text.into(), encoding: Encoding::Utf8 }
    }

    /// The bytes the program wrote; `None` for base64 that does not decode (a forged report).
    pub fn bytes(&self) -> Option<Cow<'_, [u8]>> {
        self.encoding.decode(&self.text)
    }

    /// The output as text, if the bytes are UTF-8.
    pub fn as_str(&self) -> Option<Cow<'_, str>> {
        match self.encoding {
            Encoding::Utf8 => Some(Cow::Borrowed(&self.text)),
            Encoding::Base64 => String::from_utf8(self.bytes()?.into_owned()).ok().map(Cow::Owned),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// `self` followed by `other`, re-encoded as one.
    pub fn concat(&self, other: &Output) -> Output {
        let mut bytes = self.bytes().map(Cow::into_owned).unwrap_or_default();
        bytes.extend_from_slice(&other.bytes().unwrap_or_default());
        Output::encode(&bytes)
    }
}

/// The length of `text` as a JSON string body, as serde_json escapes it.
fn json_escaped_len(text: &str) -> usize {
    text.bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..0x20 => 6,
            _ => 1,
        })
        .sum()
}

fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_stays_text_and_binary_becomes_base64() {
        let text = Output::encode("3\nhello, wörld\n".as_bytes());
        assert_eq!((text.encoding, text.text.as_str()), (Encoding::Utf8, "3\nhello, wörld\n"));
        let binary = Output::encode(&[0xff, 0xfe, b'a']);
        assert_eq!((binary.encoding, binary.text.as_str()), (Encoding::Base64, "//5h"));
        assert_eq!(binary.as_str(), None, "not UTF-8");
        // Valid UTF-8 that JSON would inflate six-fold is stored as base64 too.
        let nuls = Output::encode(&[0; 30]);
        assert_eq!(nuls.encoding, Encoding::Base64);
        assert_eq!(nuls.as_str().as_deref(), Some("\0".repeat(30).as_str()));
    }

    #[test]
    fn json_escaping_is_counted_as_serde_json_does_it() {
        for text in ["plain", "a\"b\\c", "\n\t\r\u{8}\u{c}", "\u{0}\u{1f}\u{7f}", "ünï©ødé"] {
            let json = serde_json::to_string(text).expect("json");
            assert_eq!(json_escaped_len(text), json.len() - 2, "{text:?}");
        }
    }

    #[test]
    fn concat_joins_bytes() {
        let joined = Output::encode(b"warn: ").concat(&Output::encode(&[0xff]));
        assert_eq!(joined.bytes().as_deref(), Some(&b"warn: \xff"[..]));
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip_within_four_thirds(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let output = Output::encode(&bytes);
            let decoded = output.bytes().map(std::borrow::Cow::into_owned);
            prop_assert_eq!(decoded, Some(bytes.clone()));
            let stored = serde_json::to_string(&output.text).expect("json").len() - 2;
            prop_assert!(stored <= base64_len(bytes.len()), "{} stored for {} bytes", stored, bytes.len());
        }
    }
}
