//! What PostgreSQL can store. Its `text` and `jsonb` types refuse U+0000 (NUL), which JSON and gRPC
//! strings allow; a value holding one fails the whole statement that writes it, and with it every other
//! row of that batch. So input is refused at the edge, and text from outside that must be kept anyway
//! (an endpoint's response) is made storable.

/// The deepest JSON nesting accepted in event data, schemas and examples. Real payloads stay far below
/// it; the worker's JSON parser stops at 128 levels, and anything it cannot parse is rejected.
pub const MAX_DEPTH: usize = 64;

/// Checks that `s` can be stored; the error completes a sentence naming the field.
pub fn text(s: &str) -> Result<(), String> {
    if s.contains('\0') {
        Err("contains U+0000 (NUL), which cannot be stored".into())
    } else {
        Ok(())
    }
}

/// `s` with every U+0000 replaced by U+FFFD, for text from outside that is recorded as it came (response
/// bodies and headers): the log shows where the NUL was, and the row can be written.
pub fn lossy(s: String) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_refused_or_replaced() {
        assert!(text("plain text, émoji 🎉").is_ok());
        assert!(text("a\0b").is_err());
        assert_eq!(lossy("a\0b".into()), "a\u{FFFD}b");
        assert_eq!(lossy("ok".into()), "ok");
    }
}
