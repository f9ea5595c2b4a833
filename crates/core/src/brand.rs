//! An embedding product's brand, as it sets it for the console (configuration or sign-in link): a
//! colour and a logo.

/// Whether `raw` is `#rrggbb`: the one shape accepted, since it lands in a stylesheet, where anything
/// more could add rules.
pub fn is_colour(raw: &str) -> bool {
    raw.len() == 7 && raw.starts_with('#') && raw[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The origin (`https://host[:port]`) of a logo's address, if `raw` is one the console may show: an
/// absolute `https://` (or development `http://`) URL without credentials or fragment. The origin is
/// what the Content-Security-Policy lets images load from.
pub fn logo_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let plain = matches!(url.scheme(), "https" | "http")
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
        && raw.len() <= 2048
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
    let origin = url.origin();
    (plain && origin.is_tuple()).then(|| origin.ascii_serialization())
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

    #[test]
    fn a_logo_is_a_plain_web_address_and_its_origin_is_exact() {
        assert_eq!(
            super::logo_origin("https://cdn.example.com/brand/logo.svg?v=2").as_deref(),
            Some("https://cdn.example.com")
        );
        assert_eq!(
            super::logo_origin("http://127.0.0.1:8090/logo.png").as_deref(),
            Some("http://127.0.0.1:8090")
        );
        for bad in [
            "javascript:alert(1)",
            "data:image/svg+xml,<svg/>",
            "//cdn.example.com/logo.svg",
            "/logo.svg",
            "https://user:pw@cdn.example.com/logo.svg",
            "https://cdn.example.com/logo.svg#x",
            "https://cdn.example.com/a b.svg",
            "ftp://cdn.example.com/logo.svg",
            "",
        ] {
            assert_eq!(super::logo_origin(bad), None, "{bad}");
        }
    }
}
