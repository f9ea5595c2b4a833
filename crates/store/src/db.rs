//! PostgreSQL pools.

use backon::Retryable;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

use hookline_runtime::amqp::reconnect_backoff;
use hookline_runtime::config::DatabaseSettings;

/// How long getting a connection may take before the caller is told; sqlx's 30 s default would hide an
/// outage behind long stalls, while the callers here retry with their own backoff.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A pool that connects on first use, so a service can serve `/healthz` (and say "database: down" on
/// `/readyz`) while PostgreSQL is away, instead of failing its start-up probe and restarting; callers
/// then wait with [`wait_until_up`]. Once connected, the pool replaces broken connections by itself.
pub fn lazy_pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(session_options(options)))
}

/// Every session plans each statement for the values it carries. sqlx prepares each statement once per
/// connection, and after five runs PostgreSQL may switch to a generic plan that it keeps until the
/// table is next analysed. The batched writes join on `UNNEST` of their arrays, which a generic plan
/// guesses at 10 rows: planned while `deliveries` was empty (a new installation, the first minute
/// after a migration), that plan scanned the whole table for every outcome written, 1,575 scans of
/// 3.9 million rows in 5 s at 1,000 deliveries/s in the benchmark, until autovacuum came by. Planning
/// each run costs tens of microseconds per statement, and the writes are batched.
pub fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("plan_cache_mode", "force_custom_plan")])
}

/// Waits, retrying with backoff, until the database answers; `false` if `cancel` fired first.
pub async fn wait_until_up(pool: &PgPool, cancel: &CancellationToken) -> bool {
    let attempt = || async { sqlx::query("SELECT 1").execute(pool).await };
    let retrying = attempt.retry(reconnect_backoff()).notify(
        |err, delay| tracing::warn!(error = %err, ?delay, "PostgreSQL unreachable; retrying"),
    );
    // Cancellation wins over a connection that happens to be ready at the same moment.
    tokio::select! {
        biased;
        () = cancel.cancelled() => false,
        up = retrying => up.is_ok(),
    }
}

/// The health flag name of the database dependency.
pub const DATABASE: &str = "database";

/// How often [`watch`] checks the database.
const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps the `database` health flag current until `shutdown`.
pub async fn watch(
    pool: PgPool,
    health: hookline_runtime::ops::Health,
    shutdown: CancellationToken,
) {
    loop {
        let up = sqlx::query("SELECT 1").execute(&pool).await.is_ok();
        health.set(DATABASE, up);
        tokio::select! {
            () = tokio::time::sleep(CHECK_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Whether `error` comes from the values a statement carries rather than from the database's state, so
/// retrying the same values can only fail the same way: SQLSTATE classes 22 (data exception, such as
/// U+0000 in `text`/`jsonb`), 23 (integrity constraint) and 54 (program limit, such as an oversized
/// `jsonb`), and values sqlx could not encode. Everything else (connections, timeouts, locks, a server
/// shutting down, even a missing table while a migration is under way) is a state that can pass.
pub fn is_data_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            ["22", "23", "54"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        sqlx::Error::Encode(_) | sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => true,
        _ => false,
    }
}
