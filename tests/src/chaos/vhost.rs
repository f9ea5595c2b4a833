//! A RabbitMQ virtual host of the fault suite's own on the shared broker, so that closing "every
//! connection" closes only the suite's, and deleting the vhost at the end removes every queue it made.

use anyhow::Context;
use tokio::process::Command;

/// A vhost that `guest` may use; deleted, with everything in it, when dropped.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub async fn create() -> anyhow::Result<Self> {
        let vhost = Self {
            name: format!("{}{}", VHOST_PREFIX, uuid::Uuid::new_v4().simple()),
        };
        rabbitmqctl(&["add_vhost", &vhost.name]).await?;
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])
        .await?;
        Ok(vhost)
    }

    /// The AMQP URL of this vhost on the local broker.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// Closes every client connection to this vhost, as a broker restart or a network cut would.
    pub async fn close_connections(&self) -> anyhow::Result<()> {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.name,
            "hookline fault suite: broker-side close",
        ])
        .await
        .map(drop)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &self.name])
            .output();
    }
}

/// Every vhost the fault suite makes starts with this, so a run killed before it could delete its own
/// can be cleaned up later (`hookline-purge-test-queues`).
pub const VHOST_PREFIX: &str = "hookline-chaos-";

/// `rabbitmqctl -q <args>` against the shared broker (or another node, given `-n`), which must
/// succeed; what it printed.
pub async fn rabbitmqctl(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .await
        .context("rabbitmqctl runs (RabbitMQ's CLI is installed with the broker)")?;
    anyhow::ensure!(
        output.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}
