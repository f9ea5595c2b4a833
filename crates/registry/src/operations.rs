//! The operations endpoint (`operations.webhook_url`): the platform team's one receiver of every
//! organisation's operational events. It is an ordinary webhook of the reserved organisation
//! `hookline-operations`, kept as the configuration says by each registry at start, so its deliveries
//! are signed, retried, logged and replayable like any other; workers and the registry copy each
//! operational event to that organisation (`hookline_core::operational::addressed`).

use std::collections::BTreeMap;

use hookline_core::catalog;
use hookline_core::operational::{OPERATIONS_ORGANISATION, TYPES};
use hookline_core::secret_box::SecretBox;
use hookline_core::webhook_url::WebhookUrl;
use hookline_runtime::config::Settings;
use hookline_runtime::config::StartError;
use sqlx::PgPool;
use uuid::Uuid;

/// The operations endpoint's webhook id: fixed, so every registry replica and restart keeps one row.
pub const WEBHOOK_ID: Uuid = Uuid::from_u128(0x0193_0000_7e57_7000_8000_0000_0000_0001);

/// Registers the operations endpoint as configured: enabled at the configured URL with the configured
/// secret, subscribed to every operational event; switched off when none is configured. A registry
/// restart thus also switches it back on if Hookline had switched it off.
pub async fn keep_registered(
    pool: &PgPool,
    settings: &Settings,
    secrets: &SecretBox,
) -> Result<(), StartError> {
    let setup = |what: String| StartError::Setup(format!("operations endpoint: {what}"));
    let ops = &settings.operations;
    let Some(secret) = ops.signing_secret().filter(|_| ops.endpoint()) else {
        sqlx::query("UPDATE webhooks SET status = 'disabled', updated_at = now() WHERE id = $1 AND status = 'enabled'")
            .bind(WEBHOOK_ID)
            .execute(pool)
            .await
            .map_err(|e| setup(e.to_string()))?;
        return Ok(());
    };
    let url = WebhookUrl::parse(
        ops.webhook_url.trim(),
        settings.endpoints.allow_insecure_http,
    )
    .map_err(|e| setup(format!("operations.webhook_url: {e}")))?;
    let sealed = secrets.seal(secret.encode().as_bytes(), WEBHOOK_ID.as_bytes());
    let pins: BTreeMap<&str, u32> = TYPES
        .iter()
        .map(|t| {
            let latest = catalog::built_in_type(t).and_then(|d| d.latest());
            (*t, latest.map_or(1, |v| v.version))
        })
        .collect();
    sqlx::query(
        "INSERT INTO webhooks (id, organisation_id, name, url, description, status, event_types,
                               secret_key_id, secret_sealed, event_versions)
         VALUES ($1, $2, 'Hookline operations', $3,
                 'Every organisation''s operational events (operations.webhook_url).',
                 'enabled', $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET
             url = EXCLUDED.url, status = 'enabled', event_types = EXCLUDED.event_types,
             secret_key_id = EXCLUDED.secret_key_id, secret_sealed = EXCLUDED.secret_sealed,
             previous_secret_key_id = NULL, previous_secret_sealed = NULL,
             previous_secret_expires_at = NULL, event_versions = EXCLUDED.event_versions,
             disabled_reason = NULL, disabled_at = NULL, updated_at = now()",
    )
    .bind(WEBHOOK_ID)
    .bind(OPERATIONS_ORGANISATION)
    .bind(url.as_str())
    .bind(TYPES.map(str::to_owned).to_vec())
    .bind(&sealed.key_id)
    .bind(&sealed.bytes)
    .bind(sqlx::types::Json(&pins))
    .execute(pool)
    .await
    .map_err(|e| setup(e.to_string()))?;
    tracing::info!(url = %url.as_str(), "operations endpoint registered");
    Ok(())
}
