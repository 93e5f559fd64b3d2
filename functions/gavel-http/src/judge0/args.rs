//! `command_line_arguments` as the program's argv. Judge0 drops the characters ``$&;<>|` ``,
//! writes `run_cmd ARGS` into a bash script and runs it; so the words are what bash makes of
//! a simple command: split at blanks, quotes and backslashes removed, `#` starting a comment.
//! No expansion (globs, braces, `~`) is done here.

const DROPPED: &[char] = &['$', '&', ';', '<', '>', '|', '`'];

pub(super) fn split(line: &str) -> Vec<String> {
    let cleaned: String = line.trim_matches(|c: char| c.is_whitespace() || c == '\0').replace(DROPPED, "");
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = cleaned.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => words.extend(word.take()),
            '#' if word.is_none() => {
                // A comment runs to the end of its line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\\' => match chars.next() {
                // A backslash before a newline joins the lines.
                Some('\n') | None => {}
                Some(next) => word.get_or_insert_default().push(next),
            },
            '\'' => {
                let word = word.get_or_insert_default();
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                let word = word.get_or_insert_default();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.peek() {
                            Some('\n') => {
                                chars.next();
                            }
                            Some(&next @ ('\\' | '"' | '$' | '`')) => {
                                chars.next();
                                word.push(next);
                            }
                            _ => word.push('\\'),
                        },
                        c => word.push(c),
                    }
                }
            }
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line)
    }

    #[test]
    fn blanks_split_and_quotes_group() {
        assert_eq!(words("  1 2\t3 "), ["1", "2", "3"]);
        assert_eq!(words("'hello world' \"a b\" c\\ d"), ["hello world", "a b", "c d"]);
        assert_eq!(words("a'b'\"c\"d"), ["abcd"]);
        assert_eq!(words("'' \"\""), ["", ""]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn backslashes_are_read_as_bash_reads_them() {
        assert_eq!(words(r#""a\"b" "c\d" 'e\f' g\h"#), ["a\"b", "c\\d", "e\\f", "gh"]);
        assert_eq!(words("a\\\nb"), ["ab"]);
    }

    #[test]
    fn judge0s_dropped_characters_and_comments() {
        assert_eq!(words("a;b $HOME x|y `id` <in >out &"), ["ab", "HOME", "xy", "id", "in", "out"]);
        assert_eq!(words("1 #2 3"), ["1"]);
        assert_eq!(words("a#b"), ["a#b"], "a # inside a word is no comment");
    }

    #[test]
    fn an_unterminated_quote_takes_the_rest() {
        assert_eq!(words("a 'b c"), ["a", "b c"]);
        assert_eq!(words("\"x y"), ["x y"]);
    }
}
