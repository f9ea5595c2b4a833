//! The ops side of a service as an orchestrator sees it: plain HTTP GETs of `/healthz`, `/readyz` and
//! `/metrics`, free ports for services started as processes, waiting for their gRPC port, and stopping
//! them with SIGTERM.

use std::net::SocketAddr;

/// The status code and body of `GET path` on `addr`, or `None` while nothing answers there.
pub async fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    Some((status, body.to_owned()))
}

/// A loopback address nobody listens on now, for a service started as a process.
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A channel to the gRPC server a process started at `addr`, once it accepts connections.
pub async fn listening(addr: &str) -> tonic::transport::Channel {
    crate::eventually(
        &format!("a gRPC server on {addr}"),
        std::time::Duration::from_secs(30),
        || async {
            tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .ok()?
                .connect()
                .await
                .ok()
        },
    )
    .await
}

/// Sends SIGTERM to `child` and returns its exit status once it has ended, within `deadline`.
pub async fn terminate(
    child: &mut tokio::process::Child,
    deadline: std::time::Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    use anyhow::Context as _;
    let pid = child.id().context("a live process")?.to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await?;
    anyhow::ensure!(sent.success(), "kill -TERM {pid}");
    tokio::time::timeout(deadline, child.wait())
        .await
        .with_context(|| format!("process {pid} to exit after SIGTERM"))?
        .map_err(Into::into)
}

/// [`terminate`], asserting a clean exit within [`crate::LONG_DEADLINE`]; `what` names the process.
pub async fn stops_cleanly(child: &mut tokio::process::Child, what: &str) {
    let status = terminate(child, crate::LONG_DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("SIGTERM to {what}: {e:#}"));
    assert!(status.success(), "SIGTERM stops {what} cleanly: {status:?}");
}
