//! Parsing webhook requests into values deeper code can trust ("parse, don't validate").

use std::collections::{BTreeMap, HashMap};

use hookline_core::endpoint_auth::EndpointAuth;
use hookline_core::event_type::EventType;
use hookline_core::webhook_url::WebhookUrl;
use hookline_core::{plain_text, storable};
use hookline_proto::v1;
use hookline_store::status::WebhookStatus;
use uuid::Uuid;

use crate::error::RegistryError;

/// The longest webhook name (the create form's short label).
const MAX_NAME_CHARS: usize = 100;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 1000;
/// The most event types one webhook may subscribe to.
const MAX_EVENT_TYPES: usize = 100;
/// The highest rate limit, in deliveries a second. Each limited delivery reserves its slot with one write
/// to its webhook's schedule row; an endpoint that takes more than this needs no limit from Hookline.
pub const MAX_RATE_LIMIT: u32 = 1000;

/// The editable fields of a webhook, all valid.
#[derive(Debug)]
pub struct WebhookFields {
    pub name: String,
    pub url: WebhookUrl,
    pub description: String,
    /// `None` keeps the current status on update (and means DISABLED on create).
    pub status: Option<WebhookStatus>,
    pub event_types: Vec<EventType>,
    /// Version pins by event type: as requested after parsing, every subscribed type's once
    /// [`crate::catalog::resolve_pins`] has filled in the rest.
    pub pins: BTreeMap<String, u32>,
    /// Deliveries a second: 0 is no limit, and `None` (update only) keeps the current one.
    pub rate_limit: Option<u32>,
}

/// The raw fields as they arrive in Create and Update requests.
pub struct RawFields<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub description: &'a str,
    pub status: i32,
    pub event_types: &'a [String],
    pub event_versions: &'a HashMap<String, u32>,
    pub rate_limit: Option<u32>,
}

impl WebhookFields {
    /// Checks every field and reports every violation at once, each naming its field.
    pub fn parse(raw: RawFields<'_>, allow_insecure_http: bool) -> Result<Self, RegistryError> {
        let mut violations = Vec::new();
        let mut check = |field: &'static str, result: Result<(), String>| {
            if let Err(why) = result {
                violations.push((field, why));
            }
        };

        let name = raw.name.trim();
        let name_len = name.chars().count();
        check(
            "name",
            if (1..=MAX_NAME_CHARS).contains(&name_len) {
                storable::text(name).and_then(|()| plain_text::check(name, &[]))
            } else {
                Err(format!("must be 1-{MAX_NAME_CHARS} characters"))
            },
        );

        let url = WebhookUrl::parse(raw.url.trim(), allow_insecure_http);
        check("url", url.as_ref().map(drop).map_err(ToString::to_string));

        check(
            "description",
            if raw.description.chars().count() <= MAX_DESCRIPTION_CHARS {
                storable::text(raw.description)
                    .and_then(|()| plain_text::check(raw.description, &['\n', '\t']))
            } else {
                Err(format!(
                    "must be at most {MAX_DESCRIPTION_CHARS} characters"
                ))
            },
        );

        let status = parse_status(raw.status);
        check("status", status.clone().map(drop));

        let mut event_types = Vec::new();
        if raw.event_types.is_empty() {
            check(
                "event_types",
                Err("must list at least one event type".into()),
            );
        } else if raw.event_types.len() > MAX_EVENT_TYPES {
            check(
                "event_types",
                Err(format!("must list at most {MAX_EVENT_TYPES} event types")),
            );
        }
        for raw_type in raw.event_types {
            match EventType::parse(raw_type) {
                Ok(t) if !event_types.contains(&t) => event_types.push(t),
                Ok(_) => {}
                Err(e) => check("event_types", Err(e.to_string())),
            }
        }

        for (pinned, version) in raw.event_versions {
            if !event_types.iter().any(|t| t.as_str() == pinned) {
                check(
                    "event_versions",
                    Err(format!(
                        "`{pinned}` is not one of the webhook's event_types"
                    )),
                );
            } else if *version == 0 {
                check(
                    "event_versions",
                    Err(format!("`{pinned}`: versions start at 1")),
                );
            }
        }

        if raw.rate_limit.is_some_and(|r| r > MAX_RATE_LIMIT) {
            check(
                "rate_limit",
                Err(format!(
                    "must be 1-{MAX_RATE_LIMIT} deliveries a second, or 0 for no limit"
                )),
            );
        }

        match (url, status) {
            (Ok(url), Ok(status)) if violations.is_empty() => Ok(Self {
                pins: raw
                    .event_versions
                    .iter()
                    .map(|(k, v)| (k.clone(), *v))
                    .collect(),
                name: name.to_owned(),
                url,
                description: raw.description.to_owned(),
                status,
                event_types,
                rate_limit: raw.rate_limit,
            }),
            _ => Err(RegistryError::Invalid(violations)),
        }
    }
}

/// `UNSPECIFIED` is `None`; unknown numbers are an error.
pub fn parse_status(raw: i32) -> Result<Option<WebhookStatus>, String> {
    match v1::WebhookStatus::try_from(raw) {
        Ok(v1::WebhookStatus::Unspecified) => Ok(None),
        Ok(v1::WebhookStatus::Enabled) => Ok(Some(WebhookStatus::Enabled)),
        Ok(v1::WebhookStatus::Disabled) => Ok(Some(WebhookStatus::Disabled)),
        Err(_) => Err(format!("{raw} is not a WebhookStatus")),
    }
}

/// Parses endpoint credentials; `None` when the request carries none (create: no auth; update: keep).
pub fn auth(raw: Option<v1::EndpointAuth>) -> Result<Option<EndpointAuth>, RegistryError> {
    use v1::endpoint_auth::Method;
    let Some(raw) = raw else { return Ok(None) };
    let parsed = match raw.method {
        None | Some(Method::None(_)) => Ok(EndpointAuth::None),
        Some(Method::Basic(b)) => EndpointAuth::basic(&b.username, &b.password),
        Some(Method::Header(h)) => EndpointAuth::header(&h.name, &h.value),
    };
    parsed
        .map(Some)
        .map_err(|e| RegistryError::invalid(e.field, e.reason))
}

/// Parses an id field; an id that cannot exist is reported as not found, like one that does not.
pub fn id(raw: &str, field: &'static str) -> Result<Uuid, RegistryError> {
    Uuid::parse_str(raw).map_err(|_| RegistryError::invalid(field, "must be a UUID"))
}

/// An optional id filter: empty means none.
pub fn optional_id(raw: &str, field: &'static str) -> Result<Option<Uuid>, RegistryError> {
    (!raw.is_empty()).then(|| id(raw, field)).transpose()
}

/// An optional event-type filter: empty means none.
pub fn optional_event_type(raw: &str) -> Result<Option<String>, RegistryError> {
    if raw.is_empty() {
        return Ok(None);
    }
    let parsed =
        EventType::parse(raw).map_err(|e| RegistryError::invalid("event_type", e.to_string()))?;
    Ok(Some(parsed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(name: &'a str, url: &'a str, types: &'a [String]) -> RawFields<'a> {
        static NO_PINS: std::sync::LazyLock<HashMap<String, u32>> =
            std::sync::LazyLock::new(HashMap::new);
        RawFields {
            name,
            url,
            description: "",
            status: 0,
            event_types: types,
            event_versions: &NO_PINS,
            rate_limit: None,
        }
    }

    #[test]
    fn valid_fields_parse_and_default_to_no_status() {
        let types = vec!["job.completed".to_owned(), "job.completed".to_owned()];
        let f =
            WebhookFields::parse(raw("Billing", "https://example.com/h", &types), false).unwrap();
        assert_eq!(f.name, "Billing");
        assert_eq!(f.status, None);
        assert_eq!(f.event_types.len(), 1, "duplicates are folded");
    }

    #[test]
    fn every_bad_field_is_named() {
        let types = vec!["Job".to_owned()];
        let err = WebhookFields::parse(raw(" ", "nope", &types), false)
            .unwrap_err()
            .to_string();
        for field in ["name:", "url:", "event_types:"] {
            assert!(err.contains(field), "{err} should name {field}");
        }
        let types = vec!["job.completed".to_owned()];
        let mut nul = raw("a\0b", "https://x.org", &types);
        nul.description = "c\0d";
        let err = WebhookFields::parse(nul, false).unwrap_err().to_string();
        for field in ["name: contains U+0000", "description: contains U+0000"] {
            assert!(err.contains(field), "{err} should name {field}");
        }
        let mut steering = raw("a\u{1b}]0;title\u{7}", "https://x.org", &types);
        steering.description = "line\nbreak\ttab\u{7f}";
        let err = WebhookFields::parse(steering, false)
            .unwrap_err()
            .to_string();
        for field in ["name: contains U+001B", "description: contains U+007F"] {
            assert!(err.contains(field), "{err} should name {field}");
        }
        let mut fine = raw("Orders", "https://x.org", &types);
        fine.description = "line\nbreak\ttab";
        assert!(WebhookFields::parse(fine, false).is_ok());
        let err = WebhookFields::parse(raw("n", "https://x.org", &[]), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("event_types: must list at least one"), "{err}");
    }

    #[test]
    fn a_rate_limit_above_the_highest_is_named() {
        let types = vec!["job.completed".to_owned()];
        let mut fast = raw("n", "https://x.org", &types);
        fast.rate_limit = Some(MAX_RATE_LIMIT + 1);
        let err = WebhookFields::parse(fast, false).unwrap_err().to_string();
        assert!(err.contains("rate_limit: must be 1-1000"), "{err}");
        for fine in [None, Some(0), Some(1), Some(MAX_RATE_LIMIT)] {
            let mut limited = raw("n", "https://x.org", &types);
            limited.rate_limit = fine;
            let parsed = WebhookFields::parse(limited, false).unwrap();
            assert_eq!(parsed.rate_limit, fine);
        }
    }
}
