//! Standard Webhooks signing: `whsec_` secrets and `v1,<base64 HMAC-SHA256(id.timestamp.body)>` signatures.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretSlice};

/// The prefix Standard Webhooks gives secrets, so users can tell them apart from other keys.
pub const SECRET_PREFIX: &str = "whsec_";

/// Random bytes in a new secret: 256 bits, within the 24–64 bytes Standard Webhooks allows.
const SECRET_BYTES: usize = 32;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A webhook's signing key. Its bytes never appear in `Debug` output or logs.
#[derive(Clone)]
pub struct SigningSecret(SecretSlice<u8>);

/// Why a string is not a signing secret.
#[derive(Debug, thiserror::Error)]
#[error("a signing secret is `whsec_` followed by base64 of 24 to 64 bytes")]
pub struct InvalidSecret;

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A new secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut key = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut key);
        Self(key.into())
    }

    /// Parses the `whsec_…` form shown to users and stored in the database.
    pub fn parse(encoded: &str) -> Result<Self, InvalidSecret> {
        let key = encoded
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| B64.decode(b64).ok())
            .filter(|k| (24..=64).contains(&k.len()))
            .ok_or(InvalidSecret)?;
        Ok(Self(key.into()))
    }

    /// The `whsec_…` form. Call it only to show the secret once or to store it.
    pub fn encode(&self) -> String {
        format!("{SECRET_PREFIX}{}", B64.encode(self.0.expose_secret()))
    }

    /// The `v1,<base64>` signature of one attempt's bytes.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = self.mac(msg_id, timestamp, body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The HMAC over `id.timestamp.body`, the signed content of Standard Webhooks.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts any key length");
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// Why a received request's signature does not hold.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("no v1 signature matches the body")]
    Forged,
    #[error("the timestamp is {0} s away from now, more than the tolerance")]
    Stale(i64),
    #[error("the signature header is missing or malformed")]
    Malformed,
}

/// Checks a received request as a receiver should: `timestamp` within `tolerance` of `now`, and one of
/// the space-separated `v1,` signatures in `header` matching `body`, compared in constant time.
pub fn verify(
    secret: &SigningSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance: std::time::Duration,
) -> Result<(), VerifyError> {
    if (now - timestamp).unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale(now - timestamp));
    }
    let candidates: Vec<Vec<u8>> = header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let matches = candidates
        .iter()
        .any(|c| secret.mac(msg_id, timestamp, body).verify_slice(c).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Forged)
    }
}

/// Checks a received request from its Standard Webhooks headers, which `header` looks up by name (an
/// absent header reads as empty): the one check every receiver makes, whatever its HTTP library.
pub fn verify_request<'a>(
    secret: &SigningSecret,
    header: impl Fn(&str) -> &'a str,
    body: &[u8],
    now: i64,
    tolerance: std::time::Duration,
) -> Result<(), VerifyError> {
    let timestamp = header(crate::headers::WEBHOOK_TIMESTAMP)
        .parse()
        .map_err(|_| VerifyError::Malformed)?;
    verify(
        secret,
        header(crate::headers::WEBHOOK_ID),
        timestamp,
        body,
        header(crate::headers::WEBHOOK_SIGNATURE),
        now,
        tolerance,
    )
}

/// The `webhook-signature` header value: one signature per secret, space separated, so receivers holding
/// either secret verify during a rotation.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a SigningSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|s| s.sign(msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_round_trip_through_their_encoding() {
        let secret = SigningSecret::generate();
        let encoded = secret.encode();
        assert!(encoded.starts_with(SECRET_PREFIX));
        let parsed = SigningSecret::parse(&encoded).unwrap();
        assert_eq!(parsed.sign("m", 1, b"x"), secret.sign("m", 1, b"x"));
    }

    #[test]
    fn verification_accepts_any_listed_signature_and_refuses_forged_or_stale_ones() {
        let (a, b) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header([&a, &b], "m", 1000, b"x");
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(verify(&a, "m", 1000, b"x", &header, 1010, minute), Ok(()));
        assert_eq!(verify(&b, "m", 1000, b"x", &header, 1010, minute), Ok(()));
        let other = SigningSecret::generate();
        assert_eq!(
            verify(&other, "m", 1000, b"x", &header, 1010, minute),
            Err(VerifyError::Forged)
        );
        assert_eq!(
            verify(&a, "m", 1000, b"y", &header, 1010, minute),
            Err(VerifyError::Forged)
        );
        assert_eq!(
            verify(&a, "m", 1000, b"x", &header, 2000, minute),
            Err(VerifyError::Stale(1000))
        );
        assert_eq!(
            verify(&a, "m", 1000, b"x", "v1,???", 1010, minute),
            Err(VerifyError::Malformed)
        );
    }

    #[test]
    fn matches_the_standard_webhooks_test_vector() {
        // The vector published with the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn rejects_malformed_secrets() {
        for bad in [
            "",
            "whsec_",
            "whsec_!!!",
            "sk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_c2hvcnQ=",
        ] {
            assert!(SigningSecret::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(
            format!("{:?}", SigningSecret::generate()),
            "SigningSecret(..)"
        );
    }
}
