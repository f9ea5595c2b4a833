//! Deletes the queues and exchanges that earlier test runs left on the shared broker: every name under a
//! test prefix (`test-` and 32 hex digits, as `hookline_tests::stack::test_env` makes them).
//!
//! Each test deletes its own when it ends, but a test that panics, or is killed with its run, cannot.
//! Left behind, they pile up: every test stack declares about 30 quorum queues, each a Raft group with
//! its own log, and a broker holding thousands of them grows slow to boot and to answer new
//! connections. It also deletes the vhosts of fault-suite runs (`make chaos`) that could not delete
//! their own, and stops the nodes of their private clusters. `make test` runs this first, while no
//! test can be using them. It reads the names with `rabbitmqctl` (AMQP cannot list them) and deletes
//! over AMQP, which takes milliseconds per queue where `rabbitmqctl delete_queue` takes most of a
//! second.

use std::process::Command;

use hookline_runtime::amqp;
use hookline_runtime::config::Settings;
use hookline_tests::chaos::cluster::NODE_PREFIX;
use hookline_tests::chaos::vhost::VHOST_PREFIX;

/// Whether `name` belongs to a test run's topology.
fn is_test_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("test-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or_default();
    hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && rest.len() > 32
}

/// The names `rabbitmqctl list_<what> name` prints that `belongs` to test runs.
fn listed(what: &str, belongs: fn(&str) -> bool) -> anyhow::Result<Vec<String>> {
    let output = Command::new("rabbitmqctl")
        .args(["-q", &format!("list_{what}"), "name"])
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "rabbitmqctl list_{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|name| belongs(name))
        .map(str::to_owned)
        .collect())
}

/// Stops the RabbitMQ nodes of fault-suite clusters that a killed run left running: the names that
/// `epmd -names` lists under [`NODE_PREFIX`].
fn stop_leftover_nodes() -> anyhow::Result<()> {
    let Ok(output) = Command::new("epmd").arg("-names").output() else {
        return Ok(()); // no epmd, so no Erlang node is running
    };
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(name) = line.strip_prefix("name ").and_then(|l| l.split(' ').next()) else {
            continue;
        };
        if name.starts_with(NODE_PREFIX) {
            let node = format!("{name}@localhost");
            let status = Command::new("rabbitmqctl")
                .args(["-q", "-n", &node, "stop"])
                .status()?;
            anyhow::ensure!(status.success(), "rabbitmqctl -n {node} stop");
            println!("purge: stopped the node {node} left by a fault-suite run");
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    stop_leftover_nodes()?;
    // A fault-suite run that was killed leaves its whole vhost behind; deleting it deletes its queues.
    for vhost in listed("vhosts", |name| name.starts_with(VHOST_PREFIX))? {
        let status = Command::new("rabbitmqctl")
            .args(["-q", "delete_vhost", &vhost])
            .status()?;
        anyhow::ensure!(status.success(), "rabbitmqctl delete_vhost {vhost}");
        println!("purge: deleted the vhost {vhost} left by a fault-suite run");
    }
    let queues = listed("queues", is_test_name)?;
    let exchanges = listed("exchanges", is_test_name)?;
    if queues.is_empty() && exchanges.is_empty() {
        return Ok(());
    }
    // The broker the tests use: the default settings, or `HOOKLINE__AMQP__URL`.
    let url = Settings::load(None)?.amqp.url;
    let connection = amqp::connect(&url, "hookline-purge-test-queues").await?;
    let channel = connection.create_channel().await?;
    for queue in &queues {
        channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await?;
    }
    for exchange in &exchanges {
        channel
            .exchange_delete(exchange.as_str().into(), Default::default())
            .await?;
    }
    amqp::close_channel(channel).await;
    connection.close(200, "done".into()).await?;
    println!(
        "purge: deleted {} queues and {} exchanges left by earlier test runs",
        queues.len(),
        exchanges.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_test_name;

    #[test]
    fn only_test_prefixes_match() {
        assert!(is_test_name(
            "test-0123456789abcdef0123456789abcdef.events.3"
        ));
        assert!(!is_test_name("test-0123456789abcdef0123456789abcdef"));
        assert!(!is_test_name("hookline.events.0"));
        assert!(!is_test_name("test-short.events"));
        assert!(!is_test_name(
            "bench-0123456789abcdef0123456789abcdef.events"
        ));
    }
}
