//! The delivery worker application: one broker connection running both stages, re-established with
//! backoff whenever it drops.

use std::net::SocketAddr;
use std::sync::Arc;

use hookline_core::secret_box::SecretBox;
use hookline_runtime::amqp::{self, AMQP};
use hookline_runtime::background::Background;
use hookline_runtime::config::{Settings, StartError};
use hookline_runtime::ops::{Health, OpsServer};
use hookline_runtime::publisher::EventPublisher;
use hookline_runtime::topology::Topology;
use hookline_store::db;
use lapin::Connection;

/// How much longer than the request timeout a claim on a retry lasts: time to record the outcome after
/// the response, so the claim runs out only when its holder is gone.
const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::attempt::AttemptStage;
use crate::direct::Direct;
use crate::fanout::{FanoutError, FanoutStage};
use crate::gate::{Gate, Limits};
use crate::notices::Notices;
use crate::recorder::Recorder;
use crate::subscriptions::SubscriptionCache;
use hookline_dispatch::organisations::OrganisationCache;
use hookline_dispatch::sender::Sender;
use hookline_dispatch::webhooks::WebhookCache;

/// Why a connection's stages stopped before shutdown; the worker reconnects.
#[derive(Debug, thiserror::Error)]
enum StageError {
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("fan-out: {0}")]
    Fanout(#[from] FanoutError),
}

/// A worker bound to its ops port, ready to run.
pub struct Delivery {
    settings: Settings,
    secrets: SecretBox,
    pool: PgPool,
    ops: OpsServer,
    health: Health,
}

impl Delivery {
    pub async fn build(settings: &Settings, pool: PgPool) -> Result<Self, StartError> {
        let health = Health::new(&[AMQP, db::DATABASE]);
        let ops = OpsServer::bind(settings.delivery.http_listen, health.clone()).await?;
        Ok(Self {
            secrets: settings.secrets.secret_box()?,
            settings: settings.clone(),
            pool,
            ops,
            health,
        })
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.addr()
    }

    /// Serves `/healthz` at once and waits for PostgreSQL before taking work; then consumes until
    /// `shutdown` fires, and finishes in-flight work within the grace period.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartError> {
        let ops = tokio::spawn(self.ops.run_until_stopped(shutdown.clone()));
        if !db::wait_until_up(&self.pool, &shutdown).await {
            ops.await??;
            return Ok(());
        }
        let s = &self.settings;
        let topology = s.topology();
        let attempts = Arc::new(AttemptStage {
            topology: topology.clone(),
            webhooks: WebhookCache::new(
                self.pool.clone(),
                self.secrets,
                s.delivery.webhook_cache_ttl,
            ),
            organisations: OrganisationCache::new(self.pool.clone(), s.delivery.webhook_cache_ttl),
            sender: Sender::new(
                s.delivery.request_timeout,
                s.delivery.max_response_body,
                s.delivery.concurrency.into(),
                &s.endpoints,
            )
            .map_err(|e| StartError::Setup(e.to_string()))?,
            recorder: Recorder::start(self.pool.clone(), s.delivery.record_batch, shutdown.clone()),
            concurrency: s.delivery.concurrency,
            slots: Arc::new(tokio::sync::Semaphore::new(s.delivery.concurrency.into())),
            grace: s.shutdown_grace,
            in_progress: Default::default(),
            gate: Gate::new(Limits {
                endpoint_concurrency: s.delivery.endpoint_concurrency,
                max_local_wait: s.delivery.max_local_wait,
                breaker_failures: s.delivery.breaker_failures,
                breaker_cooloff: s.delivery.breaker_cooloff,
                max_retry_after: s.delivery.max_retry_after,
            }),
            max_retry_after: s.delivery.max_retry_after,
            claim_lease: s.delivery.request_timeout + CLAIM_MARGIN,
            // A connection of its own, whose state does not count towards this worker's readiness.
            notices: Notices::new(
                EventPublisher::start(
                    "hookline-delivery-notices",
                    s.amqp.url.clone(),
                    topology.clone(),
                    Health::new(&[AMQP]),
                ),
                s.operations.endpoint(),
            ),
        });
        let direct = usize::from(s.delivery.direct_attempts);
        let fanout = Arc::new(FanoutStage {
            topology: topology.clone(),
            pool: self.pool.clone(),
            subscriptions: SubscriptionCache::default(),
            batch: s.delivery.fanout_batch,
            direct: (direct > 0).then(|| Direct::new(attempts.clone(), direct)),
            grace: s.shutdown_grace,
        });
        let mut background = Background::new(&shutdown);
        background.spawn(
            "database health",
            db::watch(self.pool.clone(), self.health.clone(), shutdown.clone()),
        );
        let background = background.watch();

        let name = format!("hookline-delivery/{}", s.amqp.prefix);
        let mut connections = amqp::Reconnecting::new(&s.amqp.url, &name, &shutdown);
        while let Some(connection) = connections.next().await {
            let result = run_connection(
                connection,
                &topology,
                &fanout,
                &attempts,
                &self.health,
                &shutdown,
            )
            .await;
            self.health.set(AMQP, false);
            match result {
                Ok(()) if shutdown.is_cancelled() => {}
                Ok(()) => tracing::warn!("RabbitMQ connection lost; reconnecting"),
                Err(error) => tracing::warn!(%error, "delivery stage stopped; reconnecting"),
            }
        }
        attempts.notices.stop().await;
        ops.await??;
        background.await?
    }
}

/// Runs both stages on one connection until shutdown (`Ok`) or until the connection fails.
async fn run_connection(
    connection: &Connection,
    topology: &Topology,
    fanout: &Arc<FanoutStage>,
    attempts: &Arc<AttemptStage>,
    health: &Health,
    shutdown: &CancellationToken,
) -> Result<(), StageError> {
    let setup = amqp::confirmed_channel(connection).await?;
    topology.declare(&setup).await?;
    amqp::close_channel(setup).await;
    let fanout_channel = amqp::confirmed_channel(connection).await?;
    let attempt_channel = amqp::confirmed_channel(connection).await?;
    health.set(AMQP, true);
    tracing::info!("connected to RabbitMQ; consuming");

    // Stages stop on shutdown, when the connection is lost, or when either stage ends by itself (an
    // error on its channel, say): a worker with one stage stopped would hold that stage's messages
    // unacked while reporting ready, so the whole connection's work ends, readiness drops, and the
    // caller reconnects and starts both afresh.
    // The connection is watched until both stages are done: once it is lost, in-flight work is
    // abandoned at once rather than after the grace period, because it can no longer ack anything.
    let stop = shutdown.child_token();
    let abandon = CancellationToken::new();
    let done = CancellationToken::new();
    let ended = || {
        health.set(AMQP, false);
        stop.cancel();
    };
    let lost = async {
        amqp::wait_until_lost(connection, &done).await;
        if !done.is_cancelled() {
            abandon.cancel();
            ended();
        }
    };
    let fanned = async {
        let result = fanout
            .clone()
            .run(fanout_channel.clone(), stop.clone(), abandon.clone())
            .await;
        ended();
        result
    };
    let attempted = async {
        let result = attempts
            .clone()
            .run(attempt_channel.clone(), stop.clone(), abandon.clone())
            .await;
        ended();
        result
    };
    let stages = async {
        let both = tokio::join!(fanned, attempted);
        done.cancel();
        both
    };
    let ((fanned, attempted), ()) = tokio::join!(stages, lost);
    amqp::close_channel(fanout_channel).await;
    amqp::close_channel(attempt_channel).await;
    fanned?;
    attempted?;
    Ok(())
}
