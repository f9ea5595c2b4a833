//! Encryption at rest for webhook signing secrets: XChaCha20-Poly1305 under a master key from
//! configuration. Each ciphertext names its key, so the master key can be rotated: new secrets use the
//! first (active) key, and older keys stay configured only to decrypt until everything is re-encrypted.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;

/// Bytes of an XChaCha20 nonce; random nonces of this size never realistically repeat.
const NONCE_BYTES: usize = 24;

/// A master key as configured: `<id>:<base64 of 32 bytes>`.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, ..)", self.id)
    }
}

/// Why a configured master key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a master key is `<id>:<base64 of 32 random bytes>`, e.g. from `openssl rand -base64 32`")]
pub struct InvalidMasterKey;

impl std::str::FromStr for MasterKey {
    type Err = InvalidMasterKey;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let (id, key) = raw.trim().split_once(':').ok_or(InvalidMasterKey)?;
        let key = B64.decode(key).map_err(|_| InvalidMasterKey)?;
        if id.is_empty() || key.len() != 32 {
            return Err(InvalidMasterKey);
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| InvalidMasterKey)?;
        Ok(Self {
            id: id.to_owned(),
            cipher,
        })
    }
}

/// A secret sealed under a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    /// The nonce followed by the ciphertext and tag.
    pub bytes: Vec<u8>,
}

/// Why a sealed secret cannot be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("master key `{0}` is not configured")]
    UnknownKey(String),
    #[error("the ciphertext does not match its key and record")]
    Corrupt,
}

/// The configured master keys; the first one seals.
#[derive(Debug, Clone)]
pub struct SecretBox {
    active: MasterKey,
    by_id: HashMap<String, MasterKey>,
}

impl SecretBox {
    /// `keys[0]` seals new secrets; every key opens what it sealed. `None` when no key is configured.
    pub fn new(keys: &[MasterKey]) -> Option<Self> {
        let active = keys.first()?.clone();
        let by_id = keys.iter().map(|k| (k.id.clone(), k.clone())).collect();
        Some(Self { active, by_id })
    }

    /// The id of the key new secrets are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active.id
    }

    /// Seals `plaintext`, bound to `context` (the owning record's id): a ciphertext copied onto another
    /// record does not open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .active
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("encrypting in memory cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(ciphertext);
        Sealed {
            key_id: self.active.id.clone(),
            bytes,
        }
    }

    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = self
            .by_id
            .get(&sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_BYTES {
            return Err(OpenError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_BYTES);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Corrupt)?;
        key.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| OpenError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> MasterKey {
        format!("{id}:{}", B64.encode([byte; 32])).parse().unwrap()
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let sb = SecretBox::new(&[key("k1", 1)]).unwrap();
        let sealed = sb.seal(b"whsec_x", b"webhook-1");
        assert_eq!(sealed.key_id, "k1");
        assert!(
            !sealed.bytes.windows(7).any(|w| w == b"whsec_x"),
            "no plaintext in the ciphertext"
        );
        assert_eq!(sb.open(&sealed, b"webhook-1").unwrap(), b"whsec_x");
        assert_eq!(sb.open(&sealed, b"webhook-2"), Err(OpenError::Corrupt));
        let other = SecretBox::new(&[key("k1", 2)]).unwrap();
        assert_eq!(other.open(&sealed, b"webhook-1"), Err(OpenError::Corrupt));
    }

    #[test]
    fn rotated_keys_still_open_what_they_sealed() {
        let old = SecretBox::new(&[key("k1", 1)]).unwrap();
        let sealed = old.seal(b"s", b"w");
        let rotated = SecretBox::new(&[key("k2", 2), key("k1", 1)]).unwrap();
        assert_eq!(rotated.active_key_id(), "k2");
        assert_eq!(rotated.open(&sealed, b"w").unwrap(), b"s");
        let forgotten = SecretBox::new(&[key("k2", 2)]).unwrap();
        assert_eq!(
            forgotten.open(&sealed, b"w"),
            Err(OpenError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn malformed_keys_are_rejected() {
        for bad in ["", "k1", ":AAAA", "k1:not-base64!", "k1:AAAA"] {
            assert!(bad.parse::<MasterKey>().is_err(), "{bad}");
        }
    }
}
