//! The catalog ingest validates events against: the built-in types from the start, and the registered
//! ones as soon as the registry's latest snapshot arrives on the catalog stream. Reading the stream,
//! not the database, keeps ingest independent of PostgreSQL.

use std::sync::{Arc, RwLock};

use futures_util::StreamExt as _;
use hookline_core::catalog::{Catalog, CatalogSnapshot};
use hookline_runtime::amqp::{self, Settle};
use hookline_runtime::topology::Topology;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// Snapshots read ahead of the one being applied.
const PREFETCH: u16 = 8;

/// The current catalog, swapped whole when a snapshot arrives. Cheap to clone.
#[derive(Clone)]
pub struct LiveCatalog(Arc<RwLock<Arc<Catalog>>>);

impl LiveCatalog {
    /// The built-in types only, until the first snapshot.
    pub fn new() -> Self {
        Self(Arc::new(RwLock::new(Arc::new(Catalog::new(&[])))))
    }

    pub fn current(&self) -> Arc<Catalog> {
        self.0.read().expect("catalog lock").clone()
    }

    fn replace(&self, catalog: Catalog) {
        *self.0.write().expect("catalog lock") = Arc::new(catalog);
    }
}

/// Follows the catalog stream from its latest snapshot until `shutdown`, reconnecting as needed.
pub async fn follow(
    url: SecretString,
    topology: Topology,
    live: LiveCatalog,
    shutdown: CancellationToken,
) {
    let name = format!("hookline-ingest-catalog/{}", topology.prefix());
    let mut connections = amqp::Reconnecting::new(&url, &name, &shutdown);
    while let Some(connection) = connections.next().await {
        if let Err(error) = read(connection, &topology, &live, &shutdown).await {
            tracing::warn!(%error, "catalog stream interrupted; reconnecting");
        }
    }
}

async fn read(
    connection: &lapin::Connection,
    topology: &Topology,
    live: &LiveCatalog,
    shutdown: &CancellationToken,
) -> lapin::Result<()> {
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let mut args = FieldTable::default();
    // From the chunk holding the newest snapshot: applied in order, the last one read wins.
    args.insert(
        "x-stream-offset".into(),
        AMQPValue::LongString("last".into()),
    );
    let mut consumer = channel
        .basic_consume(
            topology.catalog_stream().into(),
            "".into(),
            BasicConsumeOptions::default(),
            args,
        )
        .await?;
    loop {
        let message = tokio::select! {
            next = consumer.next() => match next {
                Some(message) => message?,
                None => return Ok(()),
            },
            () = shutdown.cancelled() => return Ok(()),
        };
        match serde_json::from_slice::<CatalogSnapshot>(&message.data) {
            Ok(snapshot) => {
                live.replace(Catalog::new(&snapshot.registered));
                tracing::info!(
                    registered = snapshot.registered.len(),
                    "event catalog updated"
                );
            }
            Err(error) => tracing::warn!(%error, "unreadable catalog snapshot skipped"),
        }
        // Stream consumers ack to grant credit; nothing is removed.
        amqp::settle(&message.acker, Settle::Ack).await?;
    }
}
