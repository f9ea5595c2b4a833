//! A brand colour, as an embedding product sets it for the console (configuration or sign-in link).

/// Whether `raw` is `#rrggbb`: the one shape accepted, since it lands in a stylesheet, where anything
/// more could add rules.
pub fn is_colour(raw: &str) -> bool {
    raw.len() == 7 && raw.starts_with('#') && raw[1..].chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_six_hex_digits_after_a_hash() {
        assert!(super::is_colour("#1f5fBF"));
        for bad in [
            "1f5fbf", "#1f5fb", "#1f5fbf0", "#1f5fbg", "#1f5;}x", "#ééé", "",
        ] {
            assert!(!super::is_colour(bad), "{bad}");
        }
    }
}
