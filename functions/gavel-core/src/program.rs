//! A program beyond its one source: the extra files of its work dir and the options of its
//! compile step, as a request gives them and as the runner gets them.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::language::Language;
use crate::request::RequestError;
use crate::runner::Encoding;

/// The most extra files a program may have.
pub const MAX_FILES: usize = 32;
/// The longest file name.
pub const MAX_FILE_NAME_BYTES: usize = 100;
/// The longest `compile_options` string, as Judge0 caps its `compiler_options`.
pub const MAX_COMPILE_OPTIONS_CHARS: usize = 512;

/// A file placed in the program's work dir beside its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub name: String,
    pub content: String,
    /// How `content` holds the file's bytes: UTF-8 text, or base64 for any bytes.
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
}

impl SourceFile {
    /// The file's bytes; `None` for base64 that does not decode (refused at validation).
    pub fn bytes(&self) -> Option<Cow<'_, [u8]>> {
        self.encoding.decode(&self.content)
    }
}

fn invalid(field: String, message: impl Into<String>) -> RequestError {
    RequestError::InvalidField { field, message: message.into() }
}

/// Checks a program's extra files: plain names (no `/`, no `..`, no leading dot), none twice nor
/// where the source goes, contents that decode, at most [`MAX_FILES`] of them and `max_bytes`
/// together. `field` names the list in errors (`files`, `checker.files`).
pub fn check_files(
    field: &str,
    files: &[SourceFile],
    language: &Language,
    max_bytes: usize,
) -> Result<(), RequestError> {
    if files.len() > MAX_FILES {
        return Err(invalid(field.to_owned(), format!("at most {MAX_FILES} files, got {}", files.len())));
    }
    let mut total = 0usize;
    for (i, file) in files.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let name = &file.name;
        let plain = !name.is_empty()
            && name.len() <= MAX_FILE_NAME_BYTES
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0'])
            && !name.chars().any(char::is_control);
        if !plain {
            return Err(invalid(
                format!("{at}.name"),
                format!(
                    "{at}.name {name:?} must be a plain file name: 1 to {MAX_FILE_NAME_BYTES} bytes, no '/', no \
                     leading '.', no control characters"
                ),
            ));
        }
        if name == language.source_file {
            let message = format!("{at}.name {name:?} is where the code goes for {}", language.id);
            return Err(invalid(format!("{at}.name"), message));
        }
        if files[..i].iter().any(|earlier| earlier.name == *name) {
            return Err(invalid(format!("{at}.name"), format!("{at}.name {name:?} is given twice")));
        }
        let Some(bytes) = file.bytes() else {
            return Err(invalid(
                format!("{at}.content"),
                format!("{at}.content is not valid base64 (RFC 4648, with padding)"),
            ));
        };
        total += bytes.len();
        if total > max_bytes {
            return Err(RequestError::TooLarge { field: field.to_owned(), limit: max_bytes, actual: total });
        }
    }
    Ok(())
}

/// `compile_options` split into words as a shell splits them (quotes and backslashes), never run
/// by one. Refused for a language without a compile step.
pub fn split_compile_options(field: &str, options: &str, language: &Language) -> Result<Vec<String>, RequestError> {
    if options.chars().count() > MAX_COMPILE_OPTIONS_CHARS {
        let message = format!("{field} is at most {MAX_COMPILE_OPTIONS_CHARS} characters");
        return Err(invalid(field.to_owned(), message));
    }
    if options.contains('\0') {
        return Err(invalid(field.to_owned(), format!("{field} must not contain NUL bytes")));
    }
    let words = shlex::split(options)
        .ok_or_else(|| invalid(field.to_owned(), format!("{field} has an unclosed quote or a trailing backslash")))?;
    if !words.is_empty() && language.compile.is_none() {
        let message = format!("{field}: {} has no compile step to give options to", language.id);
        return Err(invalid(field.to_owned(), message));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::find;

    fn file(name: &str, content: &str) -> SourceFile {
        SourceFile { name: name.into(), content: content.into(), encoding: Encoding::Utf8 }
    }

    fn refusal(files: &[SourceFile]) -> (String, String) {
        let cpp = find("cpp").expect("cpp");
        match check_files("files", files, cpp, 10) {
            Err(RequestError::InvalidField { field, message }) => (field, message),
            Err(RequestError::TooLarge { field, limit, actual }) => (field, format!("{actual} > {limit}")),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn names_are_plain_distinct_and_not_the_source() {
        let cpp = find("cpp").expect("cpp");
        assert_eq!(check_files("files", &[file("lib.h", "x"), file("a b.txt", "")], cpp, 10), Ok(()));
        for bad in ["", ".hidden", "..", "dir/x.h", "a\\b", "nul\0", "tab\there", &"x".repeat(101)] {
            let (field, message) = refusal(&[file(bad, "")]);
            assert_eq!(field, "files[0].name", "{bad:?}");
            assert!(message.contains("plain file name"), "{message}");
        }
        assert_eq!(refusal(&[file("main.cpp", "")]).1, "files[0].name \"main.cpp\" is where the code goes for cpp");
        assert_eq!(
            refusal(&[file("a.h", ""), file("a.h", "")]),
            ("files[1].name".into(), "files[1].name \"a.h\" is given twice".into())
        );
    }

    #[test]
    fn contents_decode_and_fit_the_budget() {
        let bad = SourceFile { encoding: Encoding::Base64, ..file("a.bin", "not base64!") };
        assert_eq!(refusal(&[bad]).0, "files[0].content");
        // "/////w==" is four bytes: eleven in all is one past the budget of ten.
        let binary = SourceFile { encoding: Encoding::Base64, ..file("a.bin", "/////w==") };
        assert_eq!(refusal(&[binary, file("b.txt", "1234567")]), ("files".into(), "11 > 10".into()));
        let many: Vec<SourceFile> = (0..=MAX_FILES).map(|i| file(&format!("f{i}"), "")).collect();
        assert_eq!(refusal(&many).1, format!("at most {MAX_FILES} files, got {}", MAX_FILES + 1));
    }

    #[test]
    fn compile_options_split_as_a_shell_splits_words() {
        let cpp = find("cpp").expect("cpp");
        let split = |options: &str| split_compile_options("compile_options", options, cpp);
        assert_eq!(
            split("-DONLINE_JUDGE  -O3 '-DNAME=two words' \"-DQ=\\\"x\\\"\"").expect("valid"),
            ["-DONLINE_JUDGE", "-O3", "-DNAME=two words", "-DQ=\"x\"",]
        );
        assert_eq!(split("$(rm -rf /) ; `id`").expect("words, never run"), ["$(rm", "-rf", "/)", ";", "`id`"]);
        assert!(split("'unclosed").is_err());
        assert!(split(&"x".repeat(MAX_COMPILE_OPTIONS_CHARS + 1)).is_err());
        let python = find("python").expect("python");
        assert!(split_compile_options("compile_options", "-O", python).is_err());
        assert_eq!(split_compile_options("compile_options", "  ", python), Ok(Vec::new()));
    }
}
