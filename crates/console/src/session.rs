//! The signed-in session: the user's own token, sealed into a cookie so that any replica can read it
//! and none needs a shared store. The console never widens what the token allows: every page calls
//! the registry with it, and the registry decides.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hookline_core::secret_box::{MasterKey, Sealed, SecretBox};
use hookline_runtime::config::ConsoleSettings;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

/// The cookie's name.
pub const COOKIE_NAME: &str = "hookline_session";

/// Binds a sealed session to this use: a value sealed for anything else under the same key does not
/// open as a session.
const CONTEXT: &[u8] = b"hookline-console-session-v1";

/// What the cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// The bearer token the sign-in link carried.
    pub token: String,
    /// The CSRF token every form of this session carries back.
    pub csrf: String,
    /// When the token expires (seconds since the epoch); the cookie ends then too.
    pub expires: u64,
    /// A brand colour the sign-in link asked for, already checked to be `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// A logo address the sign-in link asked for, already checked to be on an allowed origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<String>,
}

impl Session {
    pub fn new(token: String, expires: u64, brand: Option<String>, logo: Option<String>) -> Self {
        let mut csrf = [0u8; 32];
        rand::rng().fill_bytes(&mut csrf);
        Self {
            token,
            csrf: B64.encode(csrf),
            expires,
            brand,
            logo,
        }
    }
}

/// Seals sessions into cookies and opens them again.
#[derive(Clone)]
pub struct Sealer {
    keys: SecretBox,
    secure: bool,
    /// Embedded in another site's iframe: the cookie must be sent in a third-party context.
    embedded: bool,
}

impl Sealer {
    /// The configured keys; without any, a random key of this process, with a warning (sessions end
    /// when it restarts, and one replica cannot read another's).
    pub fn new(settings: &ConsoleSettings) -> Self {
        let keys = SecretBox::new(&settings.session_keys).unwrap_or_else(|| {
            tracing::warn!(
                "console.session_keys is empty: sessions are sealed with a random key of this process, end when it restarts and are not shared between replicas"
            );
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let key: MasterKey = format!(
                "process:{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            )
            .parse()
            .expect("32 random bytes make a key");
            SecretBox::new(&[key]).expect("one key")
        });
        Self {
            keys,
            secure: settings.secure_cookies,
            embedded: !settings.frame_ancestors.is_empty(),
        }
    }

    /// The `Set-Cookie` value that starts `session`, ending when its token does.
    pub fn cookie(&self, session: &Session) -> HeaderValue {
        let json = serde_json::to_vec(session).expect("a session serialises");
        let sealed = self.keys.seal(&json, CONTEXT);
        let value = format!("{}.{}", B64.encode(sealed.key_id), B64.encode(sealed.bytes));
        let max_age = session.expires.saturating_sub(now());
        self.header(&value, max_age)
    }

    /// The `Set-Cookie` value that ends the session.
    pub fn clearing(&self) -> HeaderValue {
        self.header("", 0)
    }

    fn header(&self, value: &str, max_age: u64) -> HeaderValue {
        // SameSite=Lax keeps the cookie off cross-site POSTs (the CSRF token is the other guard). An
        // embedded console is a third party in its host's page, where browsers send only
        // `SameSite=None; Secure` cookies, partitioned by the embedding site (CHIPS).
        let same_site = if self.embedded {
            "None; Partitioned"
        } else {
            "Lax"
        };
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE_NAME}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
        ))
        .expect("a cookie of base64 text is a valid header")
    }

    /// The session the request's cookie holds, if it opens under a configured key and has not expired.
    pub fn open(&self, headers: &HeaderMap) -> Option<Session> {
        let raw = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(&format!("{COOKIE_NAME}=")))?;
        let (key_id, bytes) = raw.split_once('.')?;
        let sealed = Sealed {
            key_id: String::from_utf8(B64.decode(key_id).ok()?).ok()?,
            bytes: B64.decode(bytes).ok()?,
        };
        let json = self.keys.open(&sealed, CONTEXT).ok()?;
        let session: Session = serde_json::from_slice(&json).ok()?;
        (session.expires > now()).then_some(session)
    }
}

/// Sets the cookie that starts `session` on `headers`.
pub fn set(headers: &mut HeaderMap, cookie: HeaderValue) {
    headers.append(SET_COOKIE, cookie);
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(keys: &[&str]) -> ConsoleSettings {
        ConsoleSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            registry_url: String::new(),
            registry_timeout: std::time::Duration::from_secs(1),
            session_keys: keys.iter().map(|k| k.parse().unwrap()).collect(),
            secure_cookies: true,
            frame_ancestors: Vec::new(),
            brand_colour: "#000000".into(),
            logo_url: String::new(),
        }
    }

    const KEY_A: &str = "a:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    const KEY_B: &str = "b:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    fn request_with(cookie: &HeaderValue) -> HeaderMap {
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, format!("other=1; {pair}").parse().unwrap());
        headers
    }

    #[test]
    fn a_sealed_session_opens_on_another_replica_with_the_same_keys_only() {
        let session = Session::new("t.o.k".into(), now() + 600, None, None);
        let cookie = Sealer::new(&settings(&[KEY_A])).cookie(&session);
        let text = cookie.to_str().unwrap();
        assert!(
            text.contains("HttpOnly") && text.contains("Secure") && text.contains("SameSite=Lax")
        );
        assert!(
            !text.contains("t.o.k"),
            "the token is not readable in the cookie"
        );

        let other_replica = Sealer::new(&settings(&[KEY_B, KEY_A]));
        let opened = other_replica.open(&request_with(&cookie)).expect("opens");
        assert_eq!((opened.token, opened.csrf), (session.token, session.csrf));
        assert!(
            Sealer::new(&settings(&[KEY_B]))
                .open(&request_with(&cookie))
                .is_none()
        );
    }

    #[test]
    fn an_expired_or_altered_cookie_is_no_session() {
        let sealer = Sealer::new(&settings(&[KEY_A]));
        let expired = sealer.cookie(&Session::new("t".into(), now() - 1, None, None));
        assert!(sealer.open(&request_with(&expired)).is_none());

        let live = sealer.cookie(&Session::new("t".into(), now() + 600, None, None));
        assert!(sealer.open(&request_with(&live)).is_some());
        let pair = live.to_str().unwrap().split(';').next().unwrap();
        let mut chars: Vec<char> = pair.chars().collect();
        let middle = chars.len() - 10;
        chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
        let altered = HeaderValue::from_str(&chars.into_iter().collect::<String>()).unwrap();
        assert!(sealer.open(&request_with(&altered)).is_none());
    }

    #[test]
    fn an_embedded_console_sends_a_partitioned_cross_site_cookie() {
        let mut s = settings(&[KEY_A]);
        s.frame_ancestors = vec!["https://app.example.com".into()];
        let cookie = Sealer::new(&s).cookie(&Session::new("t".into(), now() + 60, None, None));
        let text = cookie.to_str().unwrap();
        assert!(
            text.contains("SameSite=None; Partitioned") && text.contains("Secure"),
            "{text}"
        );
    }
}
