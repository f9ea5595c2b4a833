//! `hookline deliveries …` and `hookline dlq …`: the delivery log and the dead letters.

use hookline_proto::v1;

use crate::client::{Connection, failed};
use crate::output::{Format, Row, time};

#[derive(clap::Subcommand)]
pub enum DeliveriesCommand {
    /// The delivery log, newest first.
    List {
        #[arg(long, default_value = "")]
        webhook: String,
        #[arg(long = "event-type", default_value = "")]
        event_type: String,
        /// Only this event's deliveries (one per webhook it went to).
        #[arg(long, default_value = "")]
        event: String,
        /// pending, retrying, succeeded, failed, skipped or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One delivery: the signed payload and every attempt.
    Show { id: String },
    /// Sends a delivery again as a new chain of attempts, with the same webhook-id.
    Redeliver { id: String },
}

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Dead-lettered deliveries, newest first.
    List {
        #[arg(long, default_value = "")]
        webhook: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Moves dead letters back into the delivery queue: these ids, or every one of a webhook.
    Replay {
        #[arg(long = "id")]
        ids: Vec<String>,
        #[arg(long, default_value = "")]
        webhook: String,
    },
}

fn status_name(status: i32) -> String {
    v1::DeliveryStatus::try_from(status)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("DELIVERY_STATUS_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn parse_status(raw: &str) -> anyhow::Result<i32> {
    v1::DeliveryStatus::from_str_name(&format!("DELIVERY_STATUS_{}", raw.to_uppercase()))
        .map(|s| s as i32)
        .ok_or_else(|| anyhow::anyhow!("`{raw}` is not a delivery status"))
}

fn row(d: &v1::Delivery) -> Row {
    vec![
        ("id", d.id.clone()),
        ("created_at", time(d.created_at.as_ref())),
        ("event_type", d.event_type.clone()),
        ("status", status_name(d.status)),
        ("attempts", d.attempts.to_string()),
        ("last_status", d.last_response_status.to_string()),
        ("url", d.url.clone()),
    ]
}

impl DeliveriesCommand {
    pub async fn run(self, c: &Connection, out: Format) -> anyhow::Result<()> {
        let mut registry = c.registry().await?;
        match self {
            DeliveriesCommand::List {
                webhook,
                event_type,
                event,
                status,
                limit,
            } => {
                let page = registry
                    .list_deliveries(v1::ListDeliveriesRequest {
                        organisation_id: c.org.clone(),
                        webhook_id: webhook,
                        event_id: event,
                        page_size: limit,
                        event_type,
                        status: status
                            .as_deref()
                            .map(parse_status)
                            .transpose()?
                            .unwrap_or(0),
                        ..Default::default()
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.list(&page.deliveries.iter().map(row).collect::<Vec<_>>());
            }
            DeliveriesCommand::Show { id } => {
                let detail = registry
                    .get_delivery(v1::GetDeliveryRequest {
                        organisation_id: c.org.clone(),
                        id,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                let mut shown = row(&detail.delivery.unwrap_or_default());
                shown.push(("payload", detail.payload));
                for a in &detail.attempts {
                    let outcome = if a.success {
                        "ok".to_owned()
                    } else {
                        a.error.clone()
                    };
                    shown.push((
                        "attempt",
                        format!(
                            "#{} {} {} {} ms {}",
                            a.attempt,
                            time(a.started_at.as_ref()),
                            a.response_status,
                            a.duration_ms,
                            outcome
                        ),
                    ));
                }
                out.one(&shown);
            }
            DeliveriesCommand::Redeliver { id } => {
                let d = registry
                    .redeliver(v1::RedeliverRequest {
                        organisation_id: c.org.clone(),
                        id,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.one(&row(&d));
            }
        }
        Ok(())
    }
}

impl DlqCommand {
    pub async fn run(self, c: &Connection, out: Format) -> anyhow::Result<()> {
        let mut registry = c.registry().await?;
        match self {
            DlqCommand::List { webhook, limit } => {
                let page = registry
                    .list_dead_letters(v1::ListDeadLettersRequest {
                        organisation_id: c.org.clone(),
                        webhook_id: webhook,
                        page_size: limit,
                        page_token: String::new(),
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.list(&page.deliveries.iter().map(row).collect::<Vec<_>>());
            }
            DlqCommand::Replay { ids, webhook } => {
                anyhow::ensure!(
                    !ids.is_empty() || !webhook.is_empty(),
                    "give --id or --webhook"
                );
                let replayed = registry
                    .replay_dead_letters(v1::ReplayDeadLettersRequest {
                        organisation_id: c.org.clone(),
                        delivery_ids: ids,
                        webhook_id: webhook,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.one(&vec![("replayed", replayed.replayed.to_string())]);
            }
        }
        Ok(())
    }
}
