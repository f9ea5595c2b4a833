//! Webhook URLs: never a panic; an accepted URL is HTTPS (or HTTP when allowed) with no credentials.
#![no_main]

use hookline_core::webhook_url::WebhookUrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let (allow_http, raw) = input;
    if let Ok(url) = WebhookUrl::parse(raw, allow_http) {
        let parsed = url.url();
        assert!(parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http"));
        assert!(parsed.username().is_empty() && parsed.password().is_none());
        let _ = url.ip();
    }
});
