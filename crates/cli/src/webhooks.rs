//! `hookline webhooks …`: the registry's webhook RPCs.

use hookline_proto::v1;

use crate::client::{Connection, failed};
use crate::output::{Format, Row, time};

#[derive(clap::Subcommand)]
pub enum Command {
    /// The organisation's webhooks.
    List,
    /// One webhook.
    Get {
        id: String,
    },
    /// Registers a webhook; prints its signing secret, the only time it is shown.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        /// An event type to subscribe to; repeat for several.
        #[arg(long = "event-type", required = true)]
        event_types: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Start enabled (new webhooks are disabled otherwise).
        #[arg(long)]
        enabled: bool,
        /// The most deliveries a second its endpoint is sent (1-1000); no limit if not given.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Changes the fields given; the others keep their values.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Replaces the subscriptions; repeat for several.
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        /// Deliveries a second at most (1-1000); 0 removes the limit.
        #[arg(long)]
        rate_limit: Option<u32>,
    },
    /// Switches a webhook on; if it was off, it receives a signed ping.
    Enable {
        id: String,
    },
    /// Switches a webhook off; pending retries end cancelled.
    Disable {
        id: String,
    },
    Delete {
        id: String,
    },
    /// "Generate new": prints the new secret once; the old one keeps signing for the overlap.
    RotateSecret {
        id: String,
    },
    /// Sends the catalog's example of an event type now and shows the request and response.
    Test {
        id: String,
        #[arg(long = "event-type")]
        event_type: String,
        /// Another URL of the organisation's webhooks to send it to.
        #[arg(long, default_value = "")]
        url: String,
    },
}

fn row(w: &v1::Webhook) -> Row {
    let status = match v1::WebhookStatus::try_from(w.status) {
        Ok(v1::WebhookStatus::Enabled) => "enabled",
        Ok(v1::WebhookStatus::Disabled) => "disabled",
        _ => "unknown",
    };
    vec![
        ("id", w.id.clone()),
        ("name", w.name.clone()),
        ("status", status.into()),
        ("url", w.url.clone()),
        ("event_types", w.event_types.join(",")),
        ("circuit", circuit(w.circuit.as_ref())),
        ("disabled_reason", disabled(w)),
        ("rate_limit", rate_limit(w.rate_limit)),
        ("created_at", time(w.created_at.as_ref())),
    ]
}

/// Why Hookline switched the webhook off, and when; empty if it did not.
fn disabled(w: &v1::Webhook) -> String {
    if w.disabled_reason.is_empty() {
        return String::new();
    }
    format!("{} at {}", w.disabled_reason, time(w.disabled_at.as_ref()))
}

/// The limit as deliveries a second; empty when there is none.
fn rate_limit(per_second: u32) -> String {
    if per_second == 0 {
        return String::new();
    }
    format!("{per_second}/s")
}

/// The breaker in a word, with the probe time while it is open.
fn circuit(c: Option<&v1::Circuit>) -> String {
    let Some(c) = c else { return "closed".into() };
    match v1::CircuitState::try_from(c.state) {
        Ok(v1::CircuitState::Open) => format!("open until {}", time(c.probe_at.as_ref())),
        Ok(v1::CircuitState::HalfOpen) => "half-open".into(),
        _ => "closed".into(),
    }
}

impl Command {
    pub async fn run(self, c: &Connection, out: Format) -> anyhow::Result<()> {
        let mut registry = c.registry().await?;
        let org = c.org.clone();
        let by_id = |id: &str| (org.clone(), id.to_owned());
        match self {
            Command::List => {
                let mut rows = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = registry
                        .list_webhooks(v1::ListWebhooksRequest {
                            organisation_id: org.clone(),
                            page_size: 100,
                            page_token,
                        })
                        .await
                        .map_err(failed)?
                        .into_inner();
                    rows.extend(page.webhooks.iter().map(row));
                    if page.next_page_token.is_empty() {
                        break;
                    }
                    page_token = page.next_page_token;
                }
                out.list(&rows);
            }
            Command::Get { id } => {
                let (organisation_id, id) = by_id(&id);
                let w = registry
                    .get_webhook(v1::GetWebhookRequest {
                        organisation_id,
                        id,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.one(&row(&w));
            }
            Command::Create {
                name,
                url,
                event_types,
                description,
                enabled,
                rate_limit,
            } => {
                let status = if enabled {
                    v1::WebhookStatus::Enabled
                } else {
                    v1::WebhookStatus::Disabled
                };
                let created = registry
                    .create_webhook(v1::CreateWebhookRequest {
                        organisation_id: org,
                        name,
                        url,
                        description,
                        status: status.into(),
                        event_types,
                        rate_limit: rate_limit.unwrap_or(0),
                        ..Default::default()
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                let mut shown = row(&created.webhook.unwrap_or_default());
                shown.push(("secret", created.secret));
                out.one(&shown);
            }
            Command::Update {
                id,
                name,
                url,
                description,
                event_types,
                rate_limit,
            } => {
                let (organisation_id, id) = by_id(&id);
                let current = registry
                    .get_webhook(v1::GetWebhookRequest {
                        organisation_id: organisation_id.clone(),
                        id: id.clone(),
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                let updated = registry
                    .update_webhook(v1::UpdateWebhookRequest {
                        organisation_id,
                        id,
                        name: name.unwrap_or(current.name),
                        url: url.unwrap_or(current.url),
                        description: description.unwrap_or(current.description),
                        status: v1::WebhookStatus::Unspecified.into(),
                        event_types: if event_types.is_empty() {
                            current.event_types
                        } else {
                            event_types
                        },
                        rate_limit,
                        ..Default::default()
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                out.one(&row(&updated));
            }
            Command::Enable { id } => out.one(&row(&set_status(
                &mut registry,
                by_id(&id),
                v1::WebhookStatus::Enabled,
            )
            .await?)),
            Command::Disable { id } => out.one(&row(&set_status(
                &mut registry,
                by_id(&id),
                v1::WebhookStatus::Disabled,
            )
            .await?)),
            Command::Delete { id } => {
                let (organisation_id, id) = by_id(&id);
                registry
                    .delete_webhook(v1::DeleteWebhookRequest {
                        organisation_id,
                        id: id.clone(),
                    })
                    .await
                    .map_err(failed)?;
                out.one(&vec![("deleted", id)]);
            }
            Command::RotateSecret { id } => {
                let (organisation_id, id) = by_id(&id);
                let rotated = registry
                    .rotate_secret(v1::RotateSecretRequest {
                        organisation_id,
                        id,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                let mut shown = row(&rotated.webhook.unwrap_or_default());
                shown.push(("secret", rotated.secret));
                out.one(&shown);
            }
            Command::Test {
                id,
                event_type,
                url,
            } => {
                let answer = registry
                    .send_test_event(v1::SendTestEventRequest {
                        organisation_id: org,
                        webhook_id: id,
                        event_type,
                        version: 0,
                        url,
                    })
                    .await
                    .map_err(failed)?
                    .into_inner();
                let request = answer.request.unwrap_or_default();
                let response = answer.response.unwrap_or_default();
                let mut headers: Vec<String> = request
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                headers.sort();
                out.one(&vec![
                    ("delivery_id", answer.delivery_id),
                    ("success", answer.success.to_string()),
                    ("error", answer.error),
                    ("url", request.url),
                    ("request_headers", headers.join("; ")),
                    ("request_body", request.body),
                    ("status", response.status.to_string()),
                    ("response_body", response.body),
                    ("duration_ms", answer.duration_ms.to_string()),
                ]);
            }
        }
        Ok(())
    }
}

async fn set_status(
    registry: &mut crate::client::Registry,
    (organisation_id, id): (String, String),
    status: v1::WebhookStatus,
) -> anyhow::Result<v1::Webhook> {
    Ok(registry
        .set_webhook_status(v1::SetWebhookStatusRequest {
            organisation_id,
            id,
            status: status.into(),
        })
        .await
        .map_err(failed)?
        .into_inner())
}
