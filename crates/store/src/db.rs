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

/// How a pool's sessions plan the statements sqlx prepares (once per connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planning {
    /// Every run is planned for the values it carries (`plan_cache_mode = force_custom_plan`). After
    /// five runs PostgreSQL may switch a prepared statement to a generic plan, kept until the table is
    /// next analysed; for statements that join a table on the `UNNEST` of their arrays, a generic plan
    /// guesses 10 rows, and made while `deliveries` was empty (a new installation, the first minute
    /// after a migration) it scanned the whole table for every outcome written: 1,575 scans of 3.9
    /// million rows in 5 s at 1,000 deliveries/s, until autovacuum came by. The registry's queries
    /// (filters, re-drives, retention) are of that kind, and few.
    EachRun,
    /// PostgreSQL's default: generic plans once they are no worse. The worker's hot statements look
    /// rows up by key or insert them, which a generic plan does as well; planning them afresh took more
    /// of PostgreSQL's time than running them (a fan-out's subscriber query: 166 µs to plan, 18 µs to
    /// run). The worker's one join on `UNNEST` (the outcome write) is not prepared, so it is planned
    /// for its values each time whatever this says (`hookline_dispatch::store::record`).
    Cached,
}

/// A pool that connects on first use, so a service can serve `/healthz` (and say "database: down" on
/// `/readyz`) while PostgreSQL is away, instead of failing its start-up probe and restarting; callers
/// then wait with [`wait_until_up`]. Once connected, the pool replaces broken connections by itself.
pub fn lazy_pool(settings: &DatabaseSettings, planning: Planning) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(session_options(options, planning)))
}

/// The session settings of a pool planning as `planning` says.
pub fn session_options(options: PgConnectOptions, planning: Planning) -> PgConnectOptions {
    match planning {
        Planning::EachRun => options.options([("plan_cache_mode", "force_custom_plan")]),
        Planning::Cached => options,
    }
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
