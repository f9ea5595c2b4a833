//! Property tests of the parsers and checks that take what the outside world sends: whatever the input,
//! they never panic, and what they accept keeps its promise.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hookline_core::address_policy::AddressPolicy;
use hookline_core::event_type::EventType;
use hookline_core::plain_text;
use hookline_core::signing::{self, SigningSecret, VerifyError};
use hookline_core::webhook_url::WebhookUrl;
use proptest::prelude::*;

const TOLERANCE: Duration = Duration::from_secs(300);

proptest! {
    /// Accepted exactly when two lower-snake-case parts, each starting with a letter, join with one dot.
    #[test]
    fn event_types_are_accepted_exactly_by_their_grammar(raw in "\\PC{0,40}|[a-z][a-z0-9_]{0,12}\\.[a-z][a-z0-9_.]{0,12}") {
        let part = |p: &str| {
            p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let grammar = raw.len() <= 100
            && raw.split_once('.').is_some_and(|(r, e)| part(r) && part(e));
        match EventType::parse(&raw) {
            Ok(parsed) => {
                prop_assert!(grammar, "{raw:?} accepted");
                prop_assert_eq!(parsed.as_str(), raw.as_str());
                let resource = format!("{}.", parsed.resource());
                prop_assert!(raw.starts_with(&resource), "{} from {:?}", resource, raw);
            }
            Err(_) => prop_assert!(!grammar, "{raw:?} refused"),
        }
    }

    /// What is signed verifies; any other body, message id, secret or a stale timestamp does not.
    #[test]
    fn signatures_verify_only_what_was_signed(
        msg_id in "[ -~]{1,40}",
        timestamp in 1_000_000_000i64..4_000_000_000,
        body in proptest::collection::vec(any::<u8>(), 0..512),
        flip in any::<prop::sample::Index>(),
    ) {
        let secret = SigningSecret::generate();
        let header = signing::signature_header([&secret], &msg_id, timestamp, &body);
        let check = |id: &str, body: &[u8], secret: &SigningSecret, now: i64| {
            signing::verify(secret, id, timestamp, body, &header, now, TOLERANCE)
        };
        prop_assert_eq!(check(&msg_id, &body, &secret, timestamp), Ok(()));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 0x01;
            prop_assert_eq!(check(&msg_id, &tampered, &secret, timestamp), Err(VerifyError::Forged));
        }
        let other_id = format!("{msg_id}x");
        prop_assert_eq!(check(&other_id, &body, &secret, timestamp), Err(VerifyError::Forged));
        let other = SigningSecret::generate();
        prop_assert_eq!(check(&msg_id, &body, &other, timestamp), Err(VerifyError::Forged));
        let late = timestamp + TOLERANCE.as_secs() as i64 + 1;
        prop_assert!(matches!(check(&msg_id, &body, &secret, late), Err(VerifyError::Stale(_))));
    }

    /// Any string: no panic; an accepted URL is https (http only when allowed), has a host, carries no
    /// credentials, and parses again to itself.
    #[test]
    fn webhook_urls_keep_the_scheme_policy(
        raw in "\\PC{0,60}|(https?|ftp|file)://([a-z]{1,8}(:[a-z]{0,4})?@)?[a-z0-9.\\[\\]:-]{0,30}(/[ -~]{0,20})?",
        insecure in any::<bool>(),
    ) {
        if let Ok(url) = WebhookUrl::parse(&raw, insecure) {
            let parsed = url.url();
            prop_assert!(parsed.scheme() == "https" || (insecure && parsed.scheme() == "http"));
            prop_assert!(parsed.host_str().is_some_and(|h| !h.is_empty()));
            prop_assert!(parsed.username().is_empty() && parsed.password().is_none());
            prop_assert_eq!(WebhookUrl::parse(url.as_str(), insecure), Ok(url.clone()));
        }
    }

    /// An IPv4 address is judged the same however an IPv6 address embeds it: mapped, compatible or
    /// NAT64. Wrapping a private address can never get it past the policy.
    #[test]
    fn embedding_an_ipv4_address_in_ipv6_never_changes_the_verdict(octets in any::<[u8; 4]>()) {
        let policy = AddressPolicy::new(Vec::new());
        let v4 = Ipv4Addr::from(octets);
        let bits = u32::from(v4);
        let verdict = policy.check(IpAddr::V4(v4)).is_ok();
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        let nat64 = IpAddr::V6(Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(bits)));
        prop_assert_eq!(policy.check(mapped).is_ok(), verdict, "{}", mapped);
        prop_assert_eq!(policy.check(nat64).is_ok(), verdict, "{}", nat64);
        if bits > 1 {
            let compatible = IpAddr::V6(Ipv6Addr::from(u128::from(bits)));
            prop_assert_eq!(policy.check(compatible).is_ok(), verdict, "{}", compatible);
        }
    }

    /// Text that passes the check holds nothing a terminal obeys; escaping leaves none either, and
    /// changes nothing in text that passes.
    #[test]
    fn plain_text_checks_and_escapes_every_control(text in "\\PC{0,30}|[\\x00-\\x1f\\x7f-\\x9f\u{202a}-\u{202e}a-z]{0,30}") {
        let passes = plain_text::check(&text, &[]).is_ok();
        prop_assert_eq!(passes, !text.chars().any(plain_text::is_steering));
        let escaped = plain_text::escaped(&text);
        prop_assert!(!escaped.chars().any(|c| plain_text::is_steering(c) && c != '\n' && c != '\t'));
        if passes {
            prop_assert_eq!(escaped.as_ref(), text.as_str());
        }
    }
}
