//! A three-node RabbitMQ cluster of the fault suite's own: each node with its own name, AMQP and
//! distribution ports and data folder, run by the installed broker's programs, so a scenario may kill
//! its nodes without touching the shared broker that other tests and services use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

use super::vhost::rabbitmqctl;

/// How long a node may take to boot (or to join the cluster) before the suite gives up.
const BOOT: Duration = Duration::from_secs(90);
/// Where the broker's own start script is (Debian's package).
const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
/// The account the broker's programs run as when the suite runs as root: the Erlang cookie that
/// `rabbitmqctl` uses is that account's.
const BROKER_USER: &str = "rabbitmq";
const BROKER_HOME: &str = "/var/lib/rabbitmq";

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Node {
    /// The Erlang node name, e.g. `hookline-chaos-1a2b3c4d-1@localhost`.
    pub name: String,
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
}

/// Three running nodes joined into one cluster; every node is killed and its folder removed when
/// dropped.
pub struct Cluster {
    pub nodes: Vec<Node>,
    root: PathBuf,
    as_broker_user: bool,
}

impl Cluster {
    /// Starts three nodes and joins the second and third to the first.
    pub async fn start() -> anyhow::Result<Self> {
        let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let root = std::env::temp_dir().join(format!("{NODE_PREFIX}{id}"));
        let uid = Command::new("id").arg("-u").output().await?;
        let cluster = Self {
            nodes: (1..=3)
                .map(|n| Node {
                    name: format!("{NODE_PREFIX}{id}-{n}@localhost"),
                    port: crate::ops::free_addr().port(),
                    dist_port: crate::ops::free_addr().port(),
                    dir: root.join(format!("node-{n}")),
                })
                .collect(),
            root,
            as_broker_user: String::from_utf8_lossy(&uid.stdout).trim() == "0",
        };
        for node in &cluster.nodes {
            cluster.prepare(node)?;
            cluster.boot(node)?;
        }
        for node in &cluster.nodes {
            await_startup(node).await?;
        }
        let first = &cluster.nodes[0].name;
        for node in &cluster.nodes[1..] {
            ctl(&node.name, &["stop_app"]).await?;
            ctl(&node.name, &["join_cluster", first]).await?;
            ctl(&node.name, &["start_app"]).await?;
        }
        Ok(cluster)
    }

    /// Every node's AMQP URL, comma-separated, in node order: `amqp.url` for a cluster.
    pub fn amqp_url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("amqp://guest:guest@127.0.0.1:{}/%2f", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// How many quorum queues each node leads (every node named, 0 for none), asked of the first
    /// node that answers.
    pub async fn leaders(&self) -> anyhow::Result<BTreeMap<String, usize>> {
        let mut last = None;
        for via in &self.nodes {
            match ctl_output(&via.name, &["list_queues", "leader", "--formatter", "json"]).await {
                Ok(output) => {
                    let rows: Vec<serde_json::Value> =
                        serde_json::from_slice(&output).context("list_queues as JSON")?;
                    let mut led: BTreeMap<String, usize> =
                        self.nodes.iter().map(|n| (n.name.clone(), 0)).collect();
                    for leader in rows.iter().filter_map(|r| r["leader"].as_str()) {
                        *led.entry(leader.to_owned()).or_default() += 1;
                    }
                    return Ok(led);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.context("a node")?)
    }

    /// SIGKILL the node's Erlang VM: it ends at once, as on a crash or a lost machine.
    pub async fn kill(&self, name: &str) -> anyhow::Result<()> {
        let node = self.node(name)?;
        let pid = std::fs::read_to_string(node.dir.join("pid"))
            .with_context(|| format!("{}'s pid file", node.name))?;
        let status = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -KILL {}", pid.trim());
        crate::eventually(&format!("{} to be gone", node.name), BOOT, || async {
            (!Path::new(&format!("/proc/{}", pid.trim())).exists()).then_some(())
        })
        .await;
        Ok(())
    }

    /// Stops the node as an operator would (`rabbitmqctl stop`): it hands over what it leads first.
    pub async fn stop(&self, name: &str) -> anyhow::Result<()> {
        ctl(name, &["stop"]).await
    }

    /// Starts a node that was killed or stopped, and returns once it runs (and so has rejoined).
    pub async fn start_again(&self, name: &str) -> anyhow::Result<()> {
        let node = self.node(name)?;
        self.boot(node)?;
        await_startup(node).await
    }

    fn node(&self, name: &str) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("no node {name} in the cluster"))
    }

    /// The node's folders and its configuration: its own AMQP port on loopback, no plugins.
    fn prepare(&self, node: &Node) -> anyhow::Result<()> {
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(node.dir.join(sub))?;
        }
        std::fs::write(
            node.dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{}\n", node.port),
        )?;
        std::fs::write(node.dir.join("enabled_plugins"), "[].\n")?;
        if self.as_broker_user {
            let status = std::process::Command::new("chown")
                .args(["-R", &format!("{BROKER_USER}:{BROKER_USER}")])
                .arg(&self.root)
                .status()?;
            anyhow::ensure!(status.success(), "chown {}", self.root.display());
        }
        Ok(())
    }

    /// Starts the node's VM in the background (`rabbitmq-server -detached`).
    fn boot(&self, node: &Node) -> anyhow::Result<()> {
        let dir = |sub: &str| node.dir.join(sub).display().to_string();
        let env = [
            ("RABBITMQ_NODENAME", node.name.clone()),
            ("RABBITMQ_CONFIG_FILE", dir("rabbitmq.conf")),
            ("RABBITMQ_DIST_PORT", node.dist_port.to_string()),
            ("RABBITMQ_MNESIA_BASE", dir("mnesia")),
            ("RABBITMQ_LOG_BASE", dir("log")),
            ("RABBITMQ_PID_FILE", dir("pid")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", dir("enabled_plugins")),
        ];
        let mut command = if self.as_broker_user {
            let mut c = std::process::Command::new("runuser");
            c.args([
                "-u",
                BROKER_USER,
                "--",
                "env",
                &format!("HOME={BROKER_HOME}"),
            ]);
            c.args(env.iter().map(|(k, v)| format!("{k}={v}")));
            c.arg(SERVER);
            c
        } else {
            let mut c = std::process::Command::new(SERVER);
            c.envs(env);
            c
        };
        let output = command
            .arg("-detached")
            .current_dir(&node.dir)
            .output()
            .context("rabbitmq-server (the broker's package) runs")?;
        anyhow::ensure!(
            output.status.success(),
            "rabbitmq-server -detached for {}: {}",
            node.name,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &self.nodes {
            if let Ok(pid) = std::fs::read_to_string(node.dir.join("pid")) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", pid.trim()])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Every node the fault suite starts is named with this, so one that a killed run left running can be
/// stopped later (`hookline-purge-test-queues`).
pub const NODE_PREFIX: &str = "hookline-chaos-";

/// Waits until the node has booted. Until the VM has registered its name, `await_startup` fails at
/// once, so it is asked again until [`BOOT`] has passed.
async fn await_startup(node: &Node) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + BOOT;
    loop {
        match ctl(&node.name, &["await_startup", "--timeout", "60"]).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// `rabbitmqctl -n <node> <args>`, which must succeed.
pub async fn ctl(node: &str, args: &[&str]) -> anyhow::Result<()> {
    ctl_output(node, args).await.map(drop)
}

async fn ctl_output(node: &str, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    rabbitmqctl(&[&["-n", node], args].concat()).await
}
