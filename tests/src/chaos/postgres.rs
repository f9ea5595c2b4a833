//! A PostgreSQL server of the fault suite's own: initdb in a fresh folder, on a spare loopback port, so
//! a scenario may stop it without touching the shared server that other tests and services use.

use std::path::PathBuf;

use anyhow::Context;
use tokio::process::Command;

/// A private server; stopped and its folder removed when dropped.
pub struct PrivatePostgres {
    pub port: u16,
    dir: PathBuf,
    bindir: PathBuf,
    /// Whether commands run as the `postgres` user: PostgreSQL refuses to run as root.
    as_postgres: bool,
}

impl PrivatePostgres {
    /// Initialises a cluster (trust authentication, user `postgres`) and starts it.
    pub async fn start() -> anyhow::Result<Self> {
        let uid = Command::new("id").arg("-u").output().await?;
        let server = Self {
            port: crate::ops::free_addr().port(),
            dir: std::env::temp_dir().join(format!("hookline-chaos-pg-{}", uuid::Uuid::new_v4())),
            bindir: bindir()?,
            as_postgres: String::from_utf8_lossy(&uid.stdout).trim() == "0",
        };
        let dir = server.dir.display().to_string();
        server
            .run(
                "initdb",
                &["-D", &dir, "-U", "postgres", "-A", "trust", "--no-sync"],
            )
            .await?;
        server.start_again().await?;
        Ok(server)
    }

    /// Starts the stopped server, and returns once it accepts connections.
    pub async fn start_again(&self) -> anyhow::Result<()> {
        let dir = self.dir.display().to_string();
        let options = format!(
            "-p {} -k {dir} -c listen_addresses=127.0.0.1 -c max_connections=200",
            self.port
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &dir, "-o", &options, "-l", &log, "-w", "start"],
        )
        .await
    }

    /// Stops the server (fast shutdown: sessions are disconnected, as on a real outage).
    pub async fn stop(&self) -> anyhow::Result<()> {
        let dir = self.dir.display().to_string();
        self.run("pg_ctl", &["-D", &dir, "-m", "fast", "-w", "stop"])
            .await
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    async fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let output = Command::from(self.command(program, args)).output().await?;
        anyhow::ensure!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    fn command(&self, program: &str, args: &[&str]) -> std::process::Command {
        let program = self.bindir.join(program);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        command.args(args).current_dir(std::env::temp_dir());
        command
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        let _ = self
            .command("pg_ctl", &["-D", &dir, "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where PostgreSQL's server programs are: `HOOKLINE_PG_BINDIR`, else the newest Debian install
/// (`/usr/lib/postgresql/<major>/bin`).
fn bindir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("HOOKLINE_PG_BINDIR") {
        return Ok(dir.into());
    }
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL's server programs (set HOOKLINE_PG_BINDIR)")?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    installed.sort();
    installed
        .pop()
        .map(|(_, bin)| bin)
        .context("no initdb under /usr/lib/postgresql (set HOOKLINE_PG_BINDIR)")
}
