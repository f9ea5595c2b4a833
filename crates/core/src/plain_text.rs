//! Text that people read: webhook names and descriptions, shown by the CLI in a terminal and by any
//! screen. A control character in it is an instruction to whatever prints it (ESC starts a terminal
//! escape sequence that can rewrite the screen or the window title; a bidirectional override reorders
//! what is shown), so input refuses them, and the CLI escapes any that reach it from elsewhere (an
//! endpoint's response, say).

use std::borrow::Cow;

/// Whether `c` would steer the display rather than be shown: C0 and C1 controls, DEL, and the Unicode
/// bidirectional embeddings, overrides and isolates.
pub fn is_steering(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Checks that `s` holds no steering character beyond those in `allowed` (a description may keep its
/// line breaks and tabs); the error completes a sentence naming the field.
pub fn check(s: &str, allowed: &[char]) -> Result<(), String> {
    match s.chars().find(|&c| is_steering(c) && !allowed.contains(&c)) {
        Some(c) => Err(format!(
            "contains U+{:04X}, a control character; only printable text is accepted{}",
            u32::from(c),
            if allowed.is_empty() {
                ""
            } else {
                " (and line breaks and tabs)"
            }
        )),
        None => Ok(()),
    }
}

/// `s` for a terminal: each steering character other than line break and tab written as its escape
/// (`\u{1b}`), so that it is seen rather than obeyed.
pub fn escaped(s: &str) -> Cow<'_, str> {
    let steering = |c: char| is_steering(c) && c != '\n' && c != '\t';
    if !s.chars().any(steering) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if steering(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_naming_the_code_point() {
        assert!(check("Order updates — Ünïcode 🎉", &[]).is_ok());
        for (text, point) in [
            ("a\u{1b}[2Jb", "U+001B"),
            ("a\nb", "U+000A"),
            ("a\u{7f}", "U+007F"),
            ("\u{9b}", "U+009B"),
            ("evil\u{202E}txt.exe", "U+202E"),
        ] {
            let err = check(text, &[]).unwrap_err();
            assert!(err.contains(point), "{text:?}: {err}");
        }
        assert!(check("line one\nline two\tend", &['\n', '\t']).is_ok());
        assert!(check("bell\u{7}", &['\n', '\t']).is_err());
    }

    #[test]
    fn escaping_shows_what_would_have_been_obeyed() {
        assert!(matches!(escaped("plain\nand\ttabs"), Cow::Borrowed(_)));
        assert_eq!(escaped("a\u{1b}]0;owned\u{7}b"), "a\\u{1b}]0;owned\\u{7}b");
        assert_eq!(escaped("x\u{202E}y"), "x\\u{202e}y");
    }
}
