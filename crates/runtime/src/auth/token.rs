//! Bearer JWTs verified against the configured keys (the claims and minting are in `hookline_core::tokens`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;

use super::{AuthError, Caller, Claims};
use crate::config::{AuthSettings, ConfigError};

/// One key a token may be signed with, and the one algorithm it is used with (so a token cannot pick
/// an algorithm its key was not meant for).
struct Key {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<Vec<Key>>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// The verifier `settings` describe; an error when they name no key or an unreadable one.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, ConfigError> {
        let mut keys = Vec::new();
        let secret = settings.hs256_secret.expose_secret();
        if !secret.is_empty() {
            keys.push(Key {
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(secret.as_bytes()),
            });
        }
        for path in &settings.public_keys {
            keys.push(public_key(path)?);
        }
        if keys.is_empty() {
            return Err(ConfigError::Invalid(
                "auth: set auth.public_keys (production) or auth.hs256_secret (development)".into(),
            ));
        }
        Ok(Self {
            keys: Arc::new(keys),
            issuer: non_empty(&settings.issuer),
            audience: non_empty(&settings.audience),
            leeway: settings.leeway,
        })
    }

    /// The caller a bearer token describes, if some configured key signed it and it is in date.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        self.claims(token).map(Caller::from_claims)
    }

    /// The claims of a token some configured key signed and that is in date: the console also needs
    /// its expiry, which ends the session it starts.
    pub fn claims(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| AuthError::Unauthenticated(format!("malformed token: {e}")))?;
        let mut last = None;
        for key in self.keys.iter().filter(|k| k.algorithm == header.alg) {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(key.algorithm)) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = Some(e),
            }
        }
        Err(AuthError::Unauthenticated(match last {
            Some(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                "the token has expired".into()
            }
            Some(e) => format!("invalid token: {e}"),
            None => format!("no key accepts tokens signed with {:?}", header.alg),
        }))
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.leeway = self.leeway.as_secs();
        v.validate_nbf = true;
        // A configured issuer or audience is also a required claim: a token may not pass by leaving it out.
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        v
    }

    /// The tonic interceptor that verifies `authorization: Bearer …` and attaches the [`Caller`].
    pub fn interceptor(
        &self,
    ) -> impl Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let verifier = self.clone();
        move |mut request: tonic::Request<()>| {
            let header = request
                .metadata()
                .get("authorization")
                .ok_or_else(|| tonic::Status::unauthenticated("missing bearer token"))?;
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    tonic::Status::unauthenticated("authorization must be `Bearer <token>`")
                })?;
            let caller = verifier.verify(token.trim())?;
            request.extensions_mut().insert(caller);
            Ok(request)
        }
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.trim().is_empty()).then(|| s.trim().to_owned())
}

/// A PEM public key: RSA (RS256), Ed25519 (EdDSA) or P-256 (ES256).
fn public_key(path: &Path) -> Result<Key, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| {
        ConfigError::Invalid(format!(
            "auth.public_keys: cannot read {}: {e}",
            path.display()
        ))
    })?;
    let candidates = [
        (Algorithm::RS256, DecodingKey::from_rsa_pem(&pem)),
        (Algorithm::EdDSA, DecodingKey::from_ed_pem(&pem)),
        (Algorithm::ES256, DecodingKey::from_ec_pem(&pem)),
    ];
    candidates
        .into_iter()
        .find_map(|(algorithm, key)| key.ok().map(|key| Key { algorithm, key }))
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "auth.public_keys: {} is not an RSA, Ed25519 or P-256 public key in PEM",
                path.display()
            ))
        })
}
