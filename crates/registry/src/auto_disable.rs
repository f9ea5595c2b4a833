//! Endpoints that stopped working. A webhook whose deliveries have all failed for
//! `registry.auto_disable_after` (5 days by default) is switched off with the reason shown on it, as
//! Stripe and Svix do, rather than failing and dead-lettering every event for ever while nobody looks.
//!
//! "All failed for the period" is read from the delivery log, so it holds across every worker and
//! restart: a delivery that failed (or is still being retried) was created at least the period ago, one
//! was created within it, and none created within it succeeded. Test events do not count. A webhook
//! changed within the period (switched on again, edited) is left alone until the period has passed since.

use std::time::Duration;

use hookline_core::operational::{self, WebhookRef};
use hookline_runtime::ops::Health;
use hookline_runtime::prometheus::WEBHOOKS_DISABLED;
use hookline_runtime::publisher::EventPublisher;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Checks every `interval` until `shutdown`, while the registry is ready; never when `after` is zero.
pub async fn run(
    pool: PgPool,
    events: EventPublisher,
    health: Health,
    after: Duration,
    operations_endpoint: bool,
    interval: Duration,
    shutdown: CancellationToken,
) {
    if after.is_zero() {
        return;
    }
    let reason = reason(after);
    crate::periodic::every(interval, &health, &shutdown, || async {
        match disable_failing(&pool, after, &reason).await {
            Ok(disabled) => {
                for (id, organisation_id, url) in disabled {
                    metrics::counter!(WEBHOOKS_DISABLED, "reason" => "failing").increment(1);
                    tracing::info!(webhook_id = %id, %organisation_id, "webhook disabled: {reason}");
                    let webhook = WebhookRef {
                        organisation_id: &organisation_id,
                        id,
                        url: &url,
                    };
                    // The switch-off stands either way; the organisation just hears no more of it.
                    let notice = operational::webhook_disabled(&webhook, &reason);
                    events.announce(notice, operations_endpoint).await;
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for failing webhooks"),
        }
    })
    .await;
}

/// The reason a webhook switched off here shows, in words ("every delivery failed for 5 days").
pub fn reason(after: Duration) -> String {
    let secs = after.as_secs();
    let units = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let span = units
        .iter()
        .find(|(unit, _)| secs >= *unit && secs.is_multiple_of(*unit) && after.subsec_nanos() == 0)
        .map(|(unit, name)| {
            let n = secs / unit;
            format!("{n} {name}{}", if n == 1 { "" } else { "s" })
        })
        .unwrap_or_else(|| humantime::format_duration(after).to_string());
    format!("every delivery failed for {span}")
}

/// Switches off every enabled webhook whose deliveries have all failed for `after`; returns them.
async fn disable_failing(
    pool: &PgPool,
    after: Duration,
    reason: &str,
) -> sqlx::Result<Vec<(Uuid, String, String)>> {
    sqlx::query_as(
        "WITH since AS (SELECT now() - make_interval(secs => $1) AS t)
         UPDATE webhooks w SET status = 'disabled', disabled_reason = $2, disabled_at = now(),
                               updated_at = now()
         FROM since
         WHERE w.status = 'enabled' AND w.updated_at <= since.t
           AND EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.webhook_id = w.id AND NOT d.test AND d.created_at <= since.t
                         AND d.status IN ('failed', 'retrying'))
           AND EXISTS (SELECT 1 FROM deliveries d
                       WHERE d.webhook_id = w.id AND NOT d.test AND d.created_at > since.t
                         AND d.status IN ('pending', 'failed', 'retrying'))
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.webhook_id = w.id AND NOT d.test AND d.created_at > since.t
                             AND d.status = 'succeeded')
         RETURNING w.id, w.organisation_id, w.url",
    )
    .bind(after.as_secs_f64())
    .bind(reason)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_the_period_in_words() {
        let reason = |secs| super::reason(Duration::from_secs(secs));
        assert_eq!(reason(5 * 86_400), "every delivery failed for 5 days");
        assert_eq!(reason(3_600), "every delivery failed for 1 hour");
        assert_eq!(reason(90), "every delivery failed for 90 seconds");
        assert_eq!(
            super::reason(Duration::from_millis(1_500)),
            "every delivery failed for 1s 500ms"
        );
    }
}
