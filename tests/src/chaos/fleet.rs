//! The services as an operator runs them: the real binaries, each a process of its own on fixed
//! loopback ports, so that one can be killed, stopped with SIGTERM and started again while clients keep
//! their addresses.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Child;

use crate::auth::{IngestClient, RegistryClient};

/// How long a service may take to report ready, or to exit after SIGTERM.
const PATIENCE: Duration = Duration::from_secs(60);

/// One service process of the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Registry,
    Ingest,
    Worker(usize),
}

impl Role {
    fn binary(self) -> &'static str {
        match self {
            Role::Registry => "hookline-registry",
            Role::Ingest => "hookline-ingest",
            Role::Worker(_) => "hookline-delivery",
        }
    }

    pub fn name(self) -> String {
        match self {
            Role::Registry => "registry".into(),
            Role::Ingest => "ingest".into(),
            Role::Worker(n) => format!("worker-{n}"),
        }
    }

    /// The setting that names the service's HTTP (health and metrics) address.
    fn ops_key(self) -> &'static str {
        match self {
            Role::Registry => "HOOKLINE__REGISTRY__HTTP_LISTEN",
            Role::Ingest => "HOOKLINE__INGEST__HTTP_LISTEN",
            Role::Worker(_) => "HOOKLINE__DELIVERY__HTTP_LISTEN",
        }
    }
}

/// Registry, ingest and `workers` delivery workers, running.
pub struct Fleet {
    env: Vec<(String, String)>,
    logs: PathBuf,
    ops: BTreeMap<Role, SocketAddr>,
    processes: BTreeMap<Role, Child>,
    /// Clients acting as a super_admin. Their channels reconnect by themselves after a restart.
    pub registry: RegistryClient,
    pub ingest: IngestClient,
    /// The super_admin token the clients send (a credential the logs must never show).
    pub token: String,
}

impl Fleet {
    /// Starts every service with `env` (settings), writing each one's output to `logs/<role>.log`, and
    /// returns once all of them report ready.
    pub async fn start(
        env: Vec<(String, String)>,
        workers: usize,
        logs: PathBuf,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&logs)?;
        let (registry_addr, ingest_addr) = (crate::ops::free_addr(), crate::ops::free_addr());
        let mut env = env;
        env.push((
            "HOOKLINE__REGISTRY__GRPC_LISTEN".into(),
            registry_addr.to_string(),
        ));
        env.push((
            "HOOKLINE__INGEST__GRPC_LISTEN".into(),
            ingest_addr.to_string(),
        ));
        let roles = [Role::Registry, Role::Ingest]
            .into_iter()
            .chain((0..workers).map(Role::Worker));
        let ops = roles.map(|r| (r, crate::ops::free_addr())).collect();
        let admin = crate::auth::super_admin();
        let mut fleet = Self {
            env,
            logs,
            ops,
            processes: BTreeMap::new(),
            registry: crate::auth::registry_client(lazy(registry_addr)?, &admin),
            ingest: crate::auth::ingest_client(lazy(ingest_addr)?, &admin),
            token: admin,
        };
        for role in fleet.roles() {
            fleet.spawn(role)?;
        }
        fleet.all_ready().await;
        Ok(fleet)
    }

    pub fn roles(&self) -> Vec<Role> {
        self.ops.keys().copied().collect()
    }

    pub fn workers(&self) -> Vec<Role> {
        self.roles()
            .into_iter()
            .filter(|r| matches!(r, Role::Worker(_)))
            .collect()
    }

    /// Starts `role`'s process, its output appended to its log.
    pub fn spawn(&mut self, role: Role) -> anyhow::Result<()> {
        let path = crate::stack::binary_path(role.binary());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(role))?;
        let child = tokio::process::Command::new(path)
            .env_clear()
            .envs(self.env.iter().cloned())
            .env(role.ops_key(), self.ops[&role].to_string())
            .kill_on_drop(true)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", role.name()))?;
        self.processes.insert(role, child);
        Ok(())
    }

    /// Waits until every service answers `/readyz` with 200.
    pub async fn all_ready(&self) {
        for role in self.roles() {
            self.ready(role).await;
        }
    }

    /// Waits until `role` answers `/readyz` with 200.
    pub async fn ready(&self, role: Role) {
        let ops = self.ops[&role];
        crate::eventually(
            &format!("{} to be ready", role.name()),
            PATIENCE,
            || async {
                matches!(crate::ops::get(ops, "/readyz").await, Some((200, _))).then_some(())
            },
        )
        .await;
    }

    /// SIGKILL: the process ends at once, holding whatever it held.
    pub async fn kill(&mut self, role: Role) -> anyhow::Result<()> {
        if let Some(mut child) = self.processes.remove(&role) {
            child.kill().await?;
        }
        Ok(())
    }

    /// SIGTERM, and the exit status once the process has ended (within [`PATIENCE`]).
    pub async fn terminate(&mut self, role: Role) -> anyhow::Result<ExitStatus> {
        let mut child = self.processes.remove(&role).context("a running process")?;
        crate::ops::terminate(&mut child, PATIENCE)
            .await
            .with_context(|| role.name())
    }

    /// Starts `role` again and waits until it is ready.
    pub async fn restart(&mut self, role: Role) -> anyhow::Result<()> {
        self.spawn(role)?;
        self.ready(role).await;
        Ok(())
    }

    fn log_path(&self, role: Role) -> PathBuf {
        self.logs.join(format!("{}.log", role.name()))
    }

    /// SIGTERM to every process, then SIGKILL to any still running.
    pub async fn stop(mut self) {
        for role in self.roles() {
            if self.terminate(role).await.is_err() {
                let _ = self.kill(role).await;
            }
        }
    }
}

/// A channel to a gRPC server at `addr` that connects when first used and reconnects after a restart.
fn lazy(addr: SocketAddr) -> anyhow::Result<tonic::transport::Channel> {
    Ok(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(2))
            .connect_lazy(),
    )
}
