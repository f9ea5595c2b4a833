//! `hookline events publish`: one event through ingest.

use anyhow::Context as _;
use hookline_proto::v1;

use crate::client::{Connection, failed};
use crate::output::Format;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Publishes one event; prints its id once the broker has confirmed it.
    Publish {
        /// `{resource}.{event}`, e.g. job.completed.
        #[arg(long = "type")]
        event_type: String,
        /// `data.object` as a JSON object.
        #[arg(long)]
        data: String,
        /// The same key in the same organisation always gives the same event, delivered once.
        #[arg(long, default_value = "")]
        idempotency_key: String,
        /// The payload version of `data`.
        #[arg(long, default_value_t = 1)]
        version: u32,
    },
}

impl Command {
    pub async fn run(self, c: &Connection, out: Format) -> anyhow::Result<()> {
        let Command::Publish {
            event_type,
            data,
            idempotency_key,
            version,
        } = self;
        let data: serde_json::Value = serde_json::from_str(&data).context("--data is not JSON")?;
        let serde_json::Value::Object(object) = data else {
            anyhow::bail!("--data must be a JSON object");
        };
        let published = c
            .ingest()
            .await?
            .publish_event(v1::PublishEventRequest {
                organisation_id: c.org.clone(),
                event_type,
                data: Some(hookline_core::json_struct::from_json(object)),
                idempotency_key,
                occurred_at: None,
                version,
                versions: Vec::new(),
            })
            .await
            .map_err(failed)?
            .into_inner();
        out.one(&vec![("event_id", published.event_id)]);
        Ok(())
    }
}
