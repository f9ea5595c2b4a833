//! The fan-out against a real database: kept subscriptions never hide a change committed before an
//! event's fan-out.

use super::*;

const ORG: &str = "org_subscriptions";

fn event() -> EventMessage {
    EventMessage {
        id: Uuid::now_v7(),
        organisation_id: ORG.into(),
        event_type: "job.completed".into(),
        occurred_at: chrono::Utc::now(),
        version: 1,
        data: serde_json::Map::new(),
        webhook_id: None,
        versions: Default::default(),
    }
}

async fn webhook(pool: &PgPool, event_types: &[&str]) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO webhooks (id, organisation_id, name, url, status, event_types, secret)
         VALUES ($1, $2, 'w', 'https://example.com/hooks', 'enabled', $3, 'whsec_x')",
    )
    .bind(id)
    .bind(ORG)
    .bind(event_types)
    .execute(pool)
    .await
    .unwrap();
    id
}

async fn run(pool: &PgPool, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
        .unwrap();
}

/// The webhooks an event's fan-out plans deliveries to, sorted.
async fn receivers(pool: &PgPool, cache: &SubscriptionCache) -> Vec<Uuid> {
    let mut webhooks: Vec<Uuid> = fan_out(pool, cache, &[event()], &[])
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.webhook_id)
        .collect();
    webhooks.sort();
    webhooks
}

#[sqlx::test(migrations = "../store/migrations")]
async fn every_committed_change_reaches_the_next_fan_out(pool: PgPool) {
    let cache = SubscriptionCache::default();
    assert_eq!(
        receivers(&pool, &cache).await,
        Vec::<Uuid>::new(),
        "no webhooks yet"
    );
    let first = webhook(&pool, &["job.completed"]).await;
    assert_eq!(receivers(&pool, &cache).await, vec![first], "a new webhook");
    let second = webhook(&pool, &["job.completed", "job.created"]).await;
    assert_eq!(
        receivers(&pool, &cache).await,
        vec![first, second],
        "another"
    );
    sqlx::query("UPDATE webhooks SET event_types = '{job.created}' WHERE id = $1")
        .bind(second)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(receivers(&pool, &cache).await, vec![first], "unsubscribed");
    run(&pool, "UPDATE webhooks SET status = 'disabled'").await;
    assert_eq!(
        receivers(&pool, &cache).await,
        Vec::<Uuid>::new(),
        "disabled"
    );
    run(
        &pool,
        "UPDATE webhooks SET status = 'enabled', url = 'https://example.com/moved'",
    )
    .await;
    let planned = fan_out(&pool, &cache, &[event()], &[]).await.unwrap();
    let url: String = sqlx::query_scalar("SELECT url FROM deliveries WHERE id = $1")
        .bind(planned[0].id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(url, "https://example.com/moved", "a moved endpoint");
    run(&pool, &format!("INSERT INTO organisation_settings (organisation_id, event_triggers_enabled) VALUES ('{ORG}', false)")).await;
    assert_eq!(
        receivers(&pool, &cache).await,
        Vec::<Uuid>::new(),
        "triggers off: skipped"
    );
    let skipped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'skipped'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(skipped, 1, "the skipped delivery is logged");
    run(
        &pool,
        "DELETE FROM webhooks WHERE event_types = '{job.created}'",
    )
    .await;
    run(
        &pool,
        "UPDATE organisation_settings SET event_triggers_enabled = true",
    )
    .await;
    assert_eq!(
        receivers(&pool, &cache).await,
        vec![first],
        "triggers on again"
    );
}

/// A breaker's bookkeeping on a webhook's row is no change of its subscription: the kept entry stays.
#[sqlx::test(migrations = "../store/migrations")]
async fn a_breaker_opening_keeps_the_subscriptions(pool: PgPool) {
    let cache = SubscriptionCache::default();
    let first = webhook(&pool, &["job.completed"]).await;
    assert_eq!(receivers(&pool, &cache).await, vec![first]);
    run(
        &pool,
        "UPDATE webhooks SET circuit_opened_at = now(), circuit_open_until = now()",
    )
    .await;
    let generation: Option<i64> = sqlx::query_scalar(
        "SELECT generation FROM subscription_generations WHERE organisation_id = $1",
    )
    .bind(ORG)
    .fetch_optional(&pool)
    .await
    .unwrap();
    assert_eq!(generation, Some(1), "only the webhook's creation counted");
}

/// Out of date and unchecked (the last of [`STALE_TRIES`]), the fan-out writes what it read.
#[sqlx::test(migrations = "../store/migrations")]
async fn the_last_try_writes_what_it_read(pool: PgPool) {
    let first = webhook(&pool, &["job.completed"]).await;
    let cache = SubscriptionCache::default();
    let current = cache.get(&pool, &[ORG]).await.unwrap();
    webhook(&pool, &["job.completed"]).await;
    let checked = insert(&pool, &[event()], &current, true).await.unwrap();
    assert!(checked.is_none(), "a checked write finds the change");
    let unchecked = insert(&pool, &[event()], &current, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        unchecked
            .iter()
            .map(|(p, _)| p.webhook_id)
            .collect::<Vec<_>>(),
        vec![first],
        "an unchecked one writes the reading"
    );
}

/// A producer naming a new organisation in every event cannot grow the cache past its bound, and the
/// organisations it could not keep still get their deliveries.
#[sqlx::test(migrations = "../store/migrations")]
async fn the_cache_stays_within_its_bound(pool: PgPool) {
    let cache = SubscriptionCache::keeping(3);
    let organisations: Vec<String> = (0..10).map(|i| format!("org_bound_{i}")).collect();
    for organisation in &organisations {
        sqlx::query(
            "INSERT INTO webhooks (id, organisation_id, name, url, status, event_types, secret)
             VALUES ($1, $2, 'w', 'https://example.com/hooks', 'enabled', '{job.completed}', 'whsec_x')",
        )
        .bind(Uuid::now_v7())
        .bind(organisation)
        .execute(&pool)
        .await
        .unwrap();
    }
    for round in 0..2 {
        let events: Vec<EventMessage> = organisations
            .iter()
            .map(|organisation| EventMessage {
                organisation_id: organisation.clone(),
                ..event()
            })
            .collect();
        let planned = fan_out(&pool, &cache, &events, &[]).await.unwrap();
        assert_eq!(
            planned.len(),
            10,
            "round {round}: one delivery per organisation"
        );
        assert!(cache.len() <= 3, "round {round}: {} kept", cache.len());
    }
}

/// An organisation id PostgreSQL cannot take (a raw message ingest would refuse) fails as bad data, so
/// the batch is split around it, and it leaves nothing kept that could spoil the next batch.
#[sqlx::test(migrations = "../store/migrations")]
async fn an_organisation_id_holding_nul_is_bad_data_and_keeps_nothing(pool: PgPool) {
    let cache = SubscriptionCache::default();
    let first = webhook(&pool, &["job.completed"]).await;
    let hostile = EventMessage {
        organisation_id: format!("{ORG}\u{0}"),
        ..event()
    };
    let error = fan_out(&pool, &cache, &[hostile], &[])
        .await
        .expect_err("U+0000 cannot be stored");
    assert!(
        hookline_store::db::is_data_error(&error),
        "retried forever unless bad data: {error}"
    );
    assert_eq!(cache.len(), 0, "nothing kept for it");
    assert_eq!(
        receivers(&pool, &cache).await,
        vec![first],
        "the next batch"
    );
}

/// An addressed event (a ping) naming another organisation's webhook reaches nobody: subscriptions are
/// kept and looked up by the event's own organisation.
#[sqlx::test(migrations = "../store/migrations")]
async fn an_event_addressed_to_another_organisation_s_webhook_reaches_nobody(pool: PgPool) {
    let cache = SubscriptionCache::default();
    let theirs = webhook(&pool, &["job.completed"]).await;
    let addressed = EventMessage {
        organisation_id: "org_someone_else".into(),
        webhook_id: Some(theirs),
        ..event()
    };
    let planned = fan_out(&pool, &cache, std::slice::from_ref(&addressed), &[])
        .await
        .unwrap();
    assert!(planned.is_empty(), "{planned:?}");
    // Once the other organisation's subscriptions are kept, still nobody.
    assert_eq!(receivers(&pool, &cache).await, vec![theirs]);
    let planned = fan_out(&pool, &cache, &[addressed], &[]).await.unwrap();
    assert!(planned.is_empty(), "{planned:?}");
}
