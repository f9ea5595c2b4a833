//! The faults a scenario injects while the producer runs. Their timing is the fault's own schedule
//! (a kill every 2 s, an outage of 30 s), not a wait for something to happen.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio::time::sleep;

use super::cluster::Cluster;
use super::fleet::{Fleet, Role};
use super::postgres::PrivatePostgres;
use super::vhost::Vhost;

/// One kind of trouble, with its schedule.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// SIGKILL a worker (each in turn) every `every`, and start it again at once.
    KillWorkers { every: Duration },
    /// Close every connection of the suite's vhost at each of these times from the start.
    CloseConnections { at: &'static [Duration] },
    /// Stop PostgreSQL `at` from the start, for `outage`.
    StopPostgres { at: Duration, outage: Duration },
    /// SIGTERM each service in turn, `every` apart, and start it again once it has exited.
    SigtermEach { every: Duration },
    /// SIGKILL ingest `times` times, each just after a batch call went out, `every` apart.
    KillIngestMidBatch { every: Duration, times: usize },
    /// Hold `LOCK TABLE delivery_attempts IN EXCLUSIVE MODE` from `at` for `hold`.
    LockAttempts { at: Duration, hold: Duration },
    /// On the suite's three-node cluster: SIGKILL the node leading the most queues `at` from the
    /// start, start it again after `down`; then stop (as an operator would) the node leading the fewest
    /// of the others, and start it again after `down`.
    ClusterNodes { at: Duration, down: Duration },
}

/// What a fault may act on.
pub struct Targets<'a> {
    pub fleet: &'a mut Fleet,
    pub postgres: &'a PrivatePostgres,
    pub vhost: &'a Vhost,
    pub pool: &'a PgPool,
    /// The scenario's own cluster, for faults that [need one](Fault::needs_cluster).
    pub cluster: Option<&'a Cluster>,
    /// Notified as each producer call goes out.
    pub call_started: Arc<Notify>,
}

impl Fault {
    /// Whether the scenario runs on a private cluster instead of the suite's vhost.
    pub fn needs_cluster(self) -> bool {
        matches!(self, Fault::ClusterNodes { .. })
    }

    /// Injects the fault; returns once it is over and every service is running again.
    pub async fn inject(self, targets: Targets<'_>) -> anyhow::Result<()> {
        let fleet = targets.fleet;
        match self {
            Fault::KillWorkers { every } => {
                for round in 0..5 {
                    sleep(every).await;
                    let workers = fleet.workers();
                    let worker = workers[round % workers.len()];
                    fleet.kill(worker).await?;
                    fleet.spawn(worker)?;
                }
                for worker in fleet.workers() {
                    fleet.ready(worker).await;
                }
            }
            Fault::CloseConnections { at } => {
                let mut elapsed = Duration::ZERO;
                for when in at {
                    sleep(when.saturating_sub(elapsed)).await;
                    elapsed = *when;
                    targets.vhost.close_connections().await?;
                }
                fleet.all_ready().await;
            }
            Fault::StopPostgres { at, outage } => {
                sleep(at).await;
                targets.postgres.stop().await?;
                sleep(outage).await;
                targets.postgres.start_again().await?;
                fleet.all_ready().await;
            }
            Fault::SigtermEach { every } => {
                for role in fleet.roles() {
                    sleep(every).await;
                    let status = fleet.terminate(role).await?;
                    anyhow::ensure!(
                        status.success(),
                        "{} exits cleanly on SIGTERM: {status}",
                        role.name()
                    );
                    fleet.restart(role).await?;
                }
            }
            Fault::KillIngestMidBatch { every, times } => {
                for _ in 0..times {
                    sleep(every).await;
                    targets.call_started.notified().await;
                    sleep(Duration::from_millis(5)).await;
                    fleet.kill(Role::Ingest).await?;
                    fleet.restart(Role::Ingest).await?;
                }
            }
            Fault::LockAttempts { at, hold } => {
                sleep(at).await;
                let mut transaction = targets.pool.begin().await?;
                sqlx::query("LOCK TABLE delivery_attempts IN EXCLUSIVE MODE")
                    .execute(&mut *transaction)
                    .await?;
                sleep(hold).await;
                transaction.commit().await?;
            }
            Fault::ClusterNodes { at, down } => {
                let cluster = targets.cluster.context("a cluster for a cluster fault")?;
                sleep(at).await;
                let led = cluster.leaders().await?;
                let leader = led
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .context("a node")?
                    .0
                    .clone();
                eprintln!("chaos: kill -9 of {leader}, the node leading the most queues");
                cluster.kill(&leader).await?;
                sleep(down).await;
                cluster.start_again(&leader).await?;
                sleep(down).await;
                let led = cluster.leaders().await?;
                let follower = led
                    .iter()
                    .filter(|(node, _)| **node != leader)
                    .min_by_key(|(_, n)| **n)
                    .context("a node")?
                    .0
                    .clone();
                eprintln!("chaos: rabbitmqctl stop of {follower}, leading the fewest queues");
                cluster.stop(&follower).await?;
                sleep(down).await;
                cluster.start_again(&follower).await?;
                fleet.all_ready().await;
            }
        }
        Ok(())
    }
}
