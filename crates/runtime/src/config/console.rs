//! The console's settings, and the checks on the values that reach its response headers.

use std::net::SocketAddr;
use std::time::Duration;

use hookline_core::brand::{is_colour, logo_origin};
use hookline_core::secret_box::MasterKey;
use serde::Deserialize;

/// The console's web server (README, "Console").
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    pub listen: SocketAddr,
    pub registry_url: String,
    /// The longest the console waits for the registry, to connect or to answer one call: a page whose
    /// call stalls answers "unavailable" instead of holding the administrator's browser.
    #[serde(deserialize_with = "super::duration")]
    pub registry_timeout: Duration,
    #[serde(deserialize_with = "super::master_keys")]
    pub session_keys: Vec<MasterKey>,
    pub secure_cookies: bool,
    #[serde(deserialize_with = "super::non_empty")]
    pub frame_ancestors: Vec<String>,
    pub brand_colour: String,
    /// The embedding product's logo, shown in the console's header: an `https://` address, or empty.
    pub logo_url: String,
}

impl ConsoleSettings {
    /// What is wrong with the console's settings, if anything. Each value lands in a response header or
    /// a stylesheet, so only the exact shapes are accepted: nothing a value holds can add a directive.
    pub(super) fn invalid(&self) -> Option<String> {
        if !is_colour(&self.brand_colour) {
            return Some(format!(
                "console.brand_colour must be `#rrggbb`, not `{}`",
                self.brand_colour
            ));
        }
        if !self.logo_url.is_empty() && logo_origin(&self.logo_url).is_none() {
            return Some(format!(
                "console.logo_url must be an `https://` address without credentials, not `{}`",
                self.logo_url
            ));
        }
        if let Some(bad) = self.frame_ancestors.iter().find(|o| !is_origin(o)) {
            return Some(format!(
                "console.frame_ancestors holds `{bad}`: each must be an origin such as `https://app.example.com`"
            ));
        }
        if !self.frame_ancestors.is_empty() && !self.secure_cookies {
            return Some(
                "console.frame_ancestors needs console.secure_cookies: browsers send a cookie to an embedded page only over HTTPS"
                    .into(),
            );
        }
        None
    }
}

impl ConsoleSettings {
    /// Where logos may load from: the configured logo's origin, and the embedding products' own
    /// (`frame_ancestors`), which a sign-in link's `logo` must be on.
    pub fn logo_origins(&self) -> Vec<String> {
        let mut origins = self.frame_ancestors.clone();
        origins.extend(logo_origin(&self.logo_url));
        origins.sort();
        origins.dedup();
        origins
    }
}

/// `https://host[:port]` (or `http://` for development), and nothing else: no path, no wildcard, no
/// space or `;` that would end the CSP directive.
fn is_origin(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    matches!(url.scheme(), "https" | "http")
        && url.host_str().is_some()
        && url.path() == "/"
        && !raw.ends_with('/')
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":/.-[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::super::tests::env;

    #[test]
    fn console_values_that_reach_headers_are_exact() {
        let s = Settings::load_from(
            None,
            env(&[(
                "HOOKLINE__CONSOLE__FRAME_ANCESTORS",
                "https://app.example.com,https://portal.example.com:8443",
            )]),
        )
        .unwrap();
        assert_eq!(s.console.frame_ancestors.len(), 2);
        for bad in [
            "https://a.example.com; script-src *",
            "*",
            "https://a.example.com/path",
            "javascript:alert(1)",
            "'none'",
        ] {
            let err =
                Settings::load_from(None, env(&[("HOOKLINE__CONSOLE__FRAME_ANCESTORS", bad)]))
                    .unwrap_err();
            assert!(err.to_string().contains("frame_ancestors"), "{bad}: {err}");
        }
        for bad in ["red", "#12345", "#1234567", "#12345g", "#123456;x"] {
            let err = Settings::load_from(None, env(&[("HOOKLINE__CONSOLE__BRAND_COLOUR", bad)]))
                .unwrap_err();
            assert!(err.to_string().contains("brand_colour"), "{bad}: {err}");
        }
    }
}
