//! The `hookline` CLI against a running stack: webhooks, events, deliveries, a clear error, and
//! `hookline listen` verifying signatures and flagging forged and stale requests.

use std::process::Stdio;

use hookline_core::signing::{SigningSecret, signature_header};
use hookline_runtime::auth::Role;
use hookline_tests::DEADLINE;
use hookline_tests::stack::binary;
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

const ORG: &str = "org_cli";

/// Runs `hookline args…` as the organisation's admin; returns the exit status, stdout and stderr.
async fn hookline(stack: &Stack, args: &[&str]) -> (bool, String, String) {
    let token = hookline_tests::auth::token(Some(ORG), &[Role::OrgAdmin, Role::Publisher], &[]);
    let env = [
        (
            "HOOKLINE_REGISTRY".to_owned(),
            format!("http://{}", stack.registry_addr),
        ),
        (
            "HOOKLINE_INGEST".to_owned(),
            format!("http://{}", stack.ingest_addr),
        ),
        ("HOOKLINE_TOKEN".to_owned(), token),
    ];
    let output = binary("hookline", &env)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("hookline runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn json(stack: &Stack, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--output", "json"];
    all.extend_from_slice(args);
    let (ok, out, err) = hookline(stack, &all).await;
    assert!(ok, "hookline {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"))
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_cli_manages_webhooks_publishes_and_reads_the_log(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let receiver = Receiver::always(200).await;
    let created = json(
        &stack,
        &[
            "webhooks",
            "create",
            "--name",
            "CLI",
            "--url",
            &receiver.url(),
            "--event-type",
            "job.completed",
            "--enabled",
        ],
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let listed = json(&stack, &["webhooks", "list"]).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == id.as_str() && w["circuit"] == "closed"),
        "the list shows each webhook's breaker: {listed}"
    );

    let published = json(
        &stack,
        &[
            "events",
            "publish",
            "--type",
            "job.completed",
            "--data",
            r#"{"jobId":"J-9"}"#,
        ],
    )
    .await;
    let event_id = published["event_id"].as_str().unwrap().to_owned();
    assert_eq!(
        receiver.wait_for(1, DEADLINE).await[0].header("webhook-id"),
        event_id
    );
    let delivery = eventually(
        "the delivery to be listed as succeeded",
        DEADLINE,
        || async {
            // The event's delivery; the webhook's ping, sent when it was switched on, is listed too.
            let rows = json(
                &stack,
                &[
                    "deliveries",
                    "list",
                    "--status",
                    "succeeded",
                    "--event",
                    &event_id,
                ],
            )
            .await;
            rows.as_array()?.first().cloned()
        },
    )
    .await;
    let shown = json(
        &stack,
        &["deliveries", "show", delivery["id"].as_str().unwrap()],
    )
    .await;
    assert!(shown["payload"].as_str().unwrap().contains("J-9"));
    let (ok, table, _) = hookline(&stack, &["webhooks", "list"]).await;
    assert!(
        ok && table.starts_with("ID") && table.contains("CLI"),
        "{table}"
    );

    // A name stored before control characters were refused is shown escaped, never obeyed.
    sqlx::query("UPDATE webhooks SET name = $1 WHERE id = $2::uuid")
        .bind("CLI\u{1b}]0;owned\u{7}")
        .bind(&id)
        .execute(&stack.pool)
        .await
        .unwrap();
    for args in [&["webhooks", "list"][..], &["webhooks", "get", &id][..]] {
        let (ok, shown, _) = hookline(&stack, args).await;
        assert!(
            ok && !shown.contains('\u{1b}') && !shown.contains('\u{7}'),
            "{shown:?}"
        );
        assert!(shown.contains("CLI\\u{1b}]0;owned\\u{7}"), "{shown}");
    }

    let (ok, out, err) = hookline(&stack, &["webhooks", "get", "not-a-uuid"]).await;
    assert!(!ok && out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("InvalidArgument") && err.contains("id"),
        "{err}"
    );
}

#[tokio::test]
async fn listen_verifies_signatures_and_flags_forged_and_stale_requests() {
    let secret = SigningSecret::generate();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut listen = binary("hookline", &[])
        .args([
            "listen",
            "--port",
            &port.to_string(),
            "--secret",
            &secret.encode(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("hookline listen starts");
    let mut lines = tokio::io::BufReader::new(listen.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.contains("listening"), "{first}");

    let body = br#"{"id":"evt","eventType":"job.completed","dateTime":"2026-11-24T09:40:00.000Z","data":{"object":{"objectType":"job","jobId":"J-1"}}}"#;
    let now = chrono::Utc::now().timestamp();
    let other = SigningSecret::generate();
    let cases = [
        (
            signature_header([&secret], "evt", now, body),
            now,
            "204",
            "[verified]",
        ),
        (
            signature_header([&other], "evt", now, body),
            now,
            "400",
            "[FORGED",
        ),
        (
            signature_header([&secret], "evt", now - 3600, body),
            now - 3600,
            "400",
            "[STALE",
        ),
    ];
    for (signature, timestamp, status, mark) in cases {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let head = format!(
            "POST /hooks HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\nwebhook-id: evt\r\nwebhook-timestamp: {timestamp}\r\nwebhook-signature: {signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut response = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response)
            .await
            .unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}")),
            "{mark}: {response}"
        );
        let printed = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            printed.contains("job.completed") && printed.contains(mark),
            "{printed}"
        );
        // The event's object follows, pretty-printed, up to its closing brace.
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            if line == "}" {
                break;
            }
        }
    }
    listen.kill().await.unwrap();
}

/// The README's quick start, as a new terminal runs it after `make run`: its `set -a; . deploy/dev.env`
/// and `export HOOKLINE_TOKEN=$(… token mint …)` lines, in a shell with an empty environment, mint a
/// token that services configured from `deploy/dev.env` accept.
#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn the_quick_start_mints_a_working_token_in_a_new_terminal(pool: PgPool) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| {
            l.starts_with("set -a; . deploy/dev.env") || l.starts_with("export HOOKLINE_TOKEN=")
        })
        .take(2)
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "the quick start's two lines are in the README"
    );
    let cli = hookline_tests::stack::binary_path("hookline");
    let script = format!(
        "{}\nprintf %s \"$HOOKLINE_TOKEN\"",
        lines
            .join("\n")
            .replace("target/debug/hookline", &cli.display().to_string())
    );
    let output = tokio::process::Command::new("bash")
        .args(["-euc", &script])
        .current_dir(root)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("a token");

    let dev_env = std::fs::read_to_string(root.join("deploy/dev.env")).expect("deploy/dev.env");
    let secret = dev_env
        .lines()
        .find_map(|l| l.strip_prefix("HOOKLINE__AUTH__HS256_SECRET="))
        .expect("dev.env sets the HS256 secret");
    let stack = Stack::without_worker(pool, &[("HOOKLINE__AUTH__HS256_SECRET", secret)]).await;
    let listed = stack
        .registry_as(&token)
        .list_webhooks(hookline_proto::v1::ListWebhooksRequest::default())
        .await;
    assert!(
        listed.is_ok(),
        "the quick start's token is accepted: {listed:?}"
    );
}
