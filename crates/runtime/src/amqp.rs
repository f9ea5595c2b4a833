//! RabbitMQ connections and confirmed publishing.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicNackOptions, BasicPublishOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use secrecy::{ExposeSecret, SecretString};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::spans;

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;

/// Why a publish was not confirmed. In every case the message may not be stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The message could not be written to the channel: the broker never saw it.
    #[error("broker connection: {0}")]
    Broker(#[from] lapin::Error),
    /// The message was written, then the channel or connection failed before its confirm arrived.
    #[error("broker connection lost before the confirm: {0}")]
    Unconfirmed(lapin::Error),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound to receive the message")]
    Unroutable,
    #[error("no confirm within {0:?}")]
    Timeout(Duration),
    #[error("not connected to the broker")]
    NotConnected,
}

impl PublishError {
    /// A short, fixed name for the failure, for span attributes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Broker(_) => "broker",
            Self::Unconfirmed(_) => "unconfirmed",
            Self::Nacked => "nacked",
            Self::Unroutable => "unroutable",
            Self::Timeout(_) => "timeout",
            Self::NotConnected => "not_connected",
        }
    }

    /// Whether the broker may have stored the message although no confirm said so: it was written and
    /// then the confirm was lost (the connection dropped, or it did not come in time), or it was nacked,
    /// which a quorum queue losing its leader can do for a message its new leader still holds (measured:
    /// the fault suite's cluster scenario). Only a message never written, or returned unroutable, was
    /// certainly not stored.
    pub fn may_have_been_stored(&self) -> bool {
        matches!(self, Self::Unconfirmed(_) | Self::Timeout(_) | Self::Nacked)
    }
}

/// The health flag of a service's broker connection.
pub const AMQP: &str = "amqp";

/// Backoff for every reconnect loop: quick first retries, capped so recovery is noticed within seconds.
pub fn reconnect_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
}

/// Connects once; `name` shows up in the RabbitMQ management UI. `url` may list several brokers (the
/// nodes of a cluster), comma-separated: they are tried in order and the first that accepts is used, so
/// a service fails over to another node whenever it (re)connects.
pub async fn connect(url: &SecretString, name: &str) -> lapin::Result<Connection> {
    let mut failed = None;
    for node in url.expose_secret().split(',').map(str::trim) {
        let properties = ConnectionProperties::default().with_connection_name(name.into());
        match Connection::connect(node, properties).await {
            Ok(connection) => {
                spans::set_broker(node);
                return Ok(connection);
            }
            Err(error) => failed = Some(error),
        }
    }
    Err(failed.expect("a URL names at least one broker"))
}

/// Connects, retrying with backoff until it succeeds or `cancel` fires (then `None`).
async fn connect_with_retry(
    url: &SecretString,
    name: &str,
    cancel: &CancellationToken,
) -> Option<Connection> {
    let attempt = || connect(url, name);
    let retrying = attempt.retry(reconnect_backoff()).notify(
        |err, delay| tracing::warn!(error = %err, ?delay, "RabbitMQ unreachable; retrying"),
    );
    // Cancellation wins over a connection that happens to be ready at the same moment.
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        conn = retrying => conn.ok(),
    }
}

/// The one reconnect loop of every service, as the connections it yields:
/// `while let Some(connection) = connections.next().await { … }` runs a session on each until it
/// returns (the connection was lost, or the session failed and said why in the log). The next call
/// closes that connection and, unless `shutdown` has fired, pauses and connects again (retrying with
/// backoff); it yields `None` once `shutdown` fires.
pub struct Reconnecting<'a> {
    url: &'a SecretString,
    name: &'a str,
    shutdown: &'a CancellationToken,
    current: Option<Connection>,
}

impl<'a> Reconnecting<'a> {
    /// Connections named `name` in RabbitMQ's management UI.
    pub fn new(url: &'a SecretString, name: &'a str, shutdown: &'a CancellationToken) -> Self {
        Self {
            url,
            name,
            shutdown,
            current: None,
        }
    }

    /// The next connection, once the previous one (if any) is closed; `None` after shutdown.
    pub async fn next(&mut self) -> Option<&Connection> {
        if let Some(previous) = self.current.take() {
            // Bounded: a connection the broker no longer answers on need not be closed politely.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, previous.close(200, "done".into())).await;
            if self.shutdown.is_cancelled() {
                return None;
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
        self.current = connect_with_retry(self.url, self.name, self.shutdown).await;
        self.current.as_ref()
    }
}

/// A channel in confirm mode, so every publish can be awaited until the broker has it.
pub async fn confirmed_channel(connection: &Connection) -> lapin::Result<Channel> {
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// Closes `channel` (unacked deliveries return to their queues). Closing channels before their connection,
/// rather than letting drops race the connection's close, keeps shutdown free of spurious errors.
pub async fn close_channel(channel: Channel) {
    if channel.status().connected() {
        let _ = channel.close(200, "closing".into()).await;
    }
}

/// A consumed message and the queue it came from.
pub type Sourced = (std::sync::Arc<str>, lapin::message::Delivery);

/// Consumes every queue of `queues` on `channel`, each a consumer with the channel's per-consumer
/// prefetch, merged into one stream that takes from the queues in turn: a full queue cannot hold back
/// the messages of the others.
pub async fn consume_all(
    channel: &Channel,
    queues: Vec<String>,
) -> lapin::Result<impl futures_util::Stream<Item = lapin::Result<Sourced>> + Unpin + use<>> {
    let mut consumers = Vec::with_capacity(queues.len());
    for queue in queues {
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                lapin::options::BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let queue: std::sync::Arc<str> = queue.into();
        consumers.push(consumer.map(move |m| m.map(|m| (queue.clone(), m))));
    }
    Ok(futures_util::stream::select_all(consumers))
}

/// Properties of every Hookline message: persistent JSON with an id.
pub fn json_properties(message_id: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(message_id.into())
}

/// Publishes like [`publish_confirmed`], inside a producer span that continues the current trace, and
/// with that span's trace context added to `headers` so the consumer continues it too.
pub async fn publish_traced(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    message_id: &str,
    mut headers: FieldTable,
) -> Result<(), PublishError> {
    let span = spans::amqp_send(exchange, routing_key, message_id);
    spans::inject(&span, &mut headers);
    let mut properties = json_properties(message_id);
    if !headers.inner().is_empty() {
        properties = properties.with_headers(headers);
    }
    let result = publish_confirmed(channel, exchange, routing_key, body, properties)
        .instrument(span.clone())
        .await;
    if let Err(error) = &result {
        spans::failed(&span, error.kind());
    }
    result
}

/// How long a publish may wait for its confirm; past it the broker is treated as unavailable.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes `body` as a mandatory message and waits (at most [`CONFIRM_TIMEOUT`]) for the broker's confirm.
pub async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    tokio::time::timeout(
        CONFIRM_TIMEOUT,
        publish_and_confirm(channel, exchange, routing_key, body, properties),
    )
    .await
    .unwrap_or(Err(PublishError::Timeout(CONFIRM_TIMEOUT)))
}

async fn publish_and_confirm(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), PublishError> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange),
            ShortString::from(routing_key),
            options,
            body,
            properties,
        )
        .await
        .map_err(|error| match error.kind() {
            // The write itself broke: some of the frame may have reached the broker.
            lapin::ErrorKind::IOError(_) => PublishError::Unconfirmed(error),
            _ => PublishError::Broker(error),
        })?
        .await
        .map_err(PublishError::Unconfirmed)?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_returned)) => Err(PublishError::Unroutable),
        Confirmation::Nack(_) | Confirmation::NotRequested => Err(PublishError::Nacked),
    }
}

/// How long an ack, nack or reject may take. Nothing answers them: they are frames written to the
/// socket, so one still pending after this is on a connection that is dead or dying, where waiting only
/// holds back the reconnect (the broker redelivers the message once the connection is gone).
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// What becomes of a consumed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Done with: removed from its queue.
    Ack,
    /// Returned to its queue, for this or another consumer to take again.
    Requeue,
    /// Refused without requeueing: dead-lettered where the queue says, else dropped.
    Reject,
}

/// Settles `acker`'s message as `how` says, within [`SETTLE_TIMEOUT`]; like lapin's own, `Ok(false)`
/// when the message was settled before or its channel is gone (the broker then redelivers it).
pub async fn settle(acker: &Acker, how: Settle) -> lapin::Result<bool> {
    let pending = async {
        match how {
            Settle::Ack => acker.ack(BasicAckOptions::default()).await,
            Settle::Requeue => {
                acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        multiple: false,
                    })
                    .await
            }
            Settle::Reject => acker.reject(BasicRejectOptions { requeue: false }).await,
        }
    };
    tokio::time::timeout(SETTLE_TIMEOUT, pending)
        .await
        .unwrap_or_else(|_| {
            let late =
                format!("not settled within {SETTLE_TIMEOUT:?}; the connection is not answering");
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, late).into())
        })
}

/// How long closing a finished connection may take before it is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause before reconnecting after a connection was lost (on top of the backoff of failed attempts).
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// How often [`wait_until_lost`] double-checks the connection's state.
const LIVENESS_CHECK: Duration = Duration::from_millis(500);

/// Returns when `connection` reports an error or stops being connected, or when `stop` fires.
pub async fn wait_until_lost(connection: &Connection, stop: &CancellationToken) {
    let mut events = connection.events_listener();
    let mut ticker = tokio::time::interval(LIVENESS_CHECK);
    loop {
        tokio::select! {
            event = events.next() => {
                if matches!(event, None | Some(lapin::Event::Error(_))) {
                    return;
                }
            }
            _ = ticker.tick() => {
                if !connection.status().connected() {
                    return;
                }
            }
            () = stop.cancelled() => return,
        }
    }
}
