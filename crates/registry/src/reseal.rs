//! Start-up re-sealing: every signing secret still in plaintext (from before secrets were sealed) or
//! sealed under an older master key is sealed again under the active key, so retired keys can be removed
//! from configuration.

use hookline_core::endpoint_auth::seal_context;
use hookline_core::secret_box::{Sealed, SecretBox};
use sqlx::PgPool;

use crate::store::{self, Resealed, StoredSecrets};

/// Re-seals what needs it; returns how many webhooks were re-sealed. A secret that cannot be opened (its
/// key is no longer configured) is logged and left as it is.
pub async fn reseal_all(pool: &PgPool, secrets: &SecretBox) -> Result<usize, sqlx::Error> {
    let mut resealed = 0;
    for row in store::secrets_to_reseal(pool, secrets.active_key_id()).await? {
        match reseal(&row, secrets) {
            Some(sealed) => {
                store::store_resealed(pool, row.id, &sealed).await?;
                resealed += 1;
            }
            None => tracing::error!(
                webhook_id = %row.id,
                "cannot open this webhook's signing secret with the configured master keys"
            ),
        }
    }
    if resealed > 0 {
        tracing::info!(
            resealed,
            key_id = secrets.active_key_id(),
            "re-sealed signing secrets"
        );
    }
    Ok(resealed)
}

fn reseal(row: &StoredSecrets, secrets: &SecretBox) -> Option<Resealed> {
    let context = row.id.as_bytes().to_vec();
    let auth_context = seal_context(&row.id);
    // `Some(None)`: nothing stored; `None`: stored but cannot be opened.
    let open = |key_id: &Option<String>,
                bytes: &Option<Vec<u8>>,
                context: &[u8]|
     -> Option<Option<Vec<u8>>> {
        match (key_id, bytes) {
            (Some(key_id), Some(bytes)) => {
                let sealed = Sealed {
                    key_id: key_id.clone(),
                    bytes: bytes.clone(),
                };
                secrets.open(&sealed, context).ok().map(Some)
            }
            _ => Some(None),
        }
    };
    let current = match &row.secret {
        Some(plaintext) => plaintext.as_bytes().to_vec(),
        None => open(
            &row.sealed.secret_key_id,
            &row.sealed.secret_sealed,
            &context,
        )??,
    };
    let stored = &row.sealed;
    let previous = open(
        &stored.previous_secret_key_id,
        &stored.previous_secret_sealed,
        &context,
    )?;
    let auth = open(&stored.auth_key_id, &stored.auth_sealed, &auth_context)?;
    Some(Resealed {
        current: secrets.seal(&current, &context),
        previous: previous.map(|p| secrets.seal(&p, &context)),
        auth: auth.map(|a| secrets.seal(&a, &auth_context)),
    })
}
