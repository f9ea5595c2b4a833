//! Signing secrets: shown once, sealed at rest, and rotated with an overlap during which both sign.

use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Stack, eventually};
use sqlx::PgPool;

fn verifies(secret: &str, request: &hookline_tests::receiver::Received) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .is_ok()
}

/// A stack with one webhook at a local receiver whose secret was just rotated with `overlap`. Workers
/// re-read webhooks on every attempt, so the rotation shows at once.
struct Rotated {
    stack: Stack,
    receiver: Receiver,
    webhook: v1::Webhook,
    old: String,
    new: String,
}

async fn rotated(pool: PgPool, overlap: &str) -> Rotated {
    let settings = [
        ("HOOKLINE__SECRETS__ROTATION_OVERLAP", overlap),
        ("HOOKLINE__DELIVERY__WEBHOOK_CACHE_TTL", "0s"),
    ];
    let stack = Stack::start_with(pool, &settings).await;
    let receiver = Receiver::always(200).await;
    let (webhook, old) = stack
        .webhook(ORG, &receiver.url(), &["job.completed"])
        .await;
    let new = rotate(&stack, &webhook).await;
    Rotated {
        stack,
        receiver,
        webhook,
        old,
        new,
    }
}

async fn rotate(stack: &Stack, webhook: &v1::Webhook) -> String {
    let request = v1::RotateSecretRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
    };
    stack
        .registry
        .clone()
        .rotate_secret(request)
        .await
        .expect("rotating")
        .into_inner()
        .secret
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn secrets_are_sealed_at_rest_and_never_read_back(pool: PgPool) {
    let stack = Stack::without_worker(pool.clone(), &[]).await;
    let (webhook, secret) = stack
        .webhook(ORG, "https://example.com/h", &["job.completed"])
        .await;

    let row: (Option<String>, Option<String>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT secret, secret_key_id, secret_sealed FROM webhooks WHERE id = $1::uuid",
    )
    .bind(&webhook.id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.0, None, "no plaintext column value");
    assert_eq!(
        row.1.as_deref(),
        Some("test"),
        "the key id travels with the ciphertext"
    );
    let sealed = row.2.expect("a sealed secret");
    let key = secret.strip_prefix("whsec_").unwrap();
    let dump = String::from_utf8_lossy(&sealed);
    assert!(
        !dump.contains(key) && !dump.contains(&secret),
        "the database holds no trace of the secret"
    );

    // No read RPC carries the secret (Webhook has no such field); check the responses anyway.
    let mut registry = stack.registry.clone();
    let get = v1::GetWebhookRequest {
        organisation_id: ORG.into(),
        id: webhook.id.clone(),
    };
    let got = format!(
        "{:?}",
        registry.get_webhook(get).await.unwrap().into_inner()
    );
    let list = v1::ListWebhooksRequest {
        organisation_id: ORG.into(),
        ..Default::default()
    };
    let listed = format!(
        "{:?}",
        registry.list_webhooks(list).await.unwrap().into_inner()
    );
    assert!(!got.contains(key) && !listed.contains(key));
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(pool: PgPool) {
    let Rotated {
        stack,
        receiver,
        old,
        new,
        ..
    } = rotated(pool, "3s").await;
    assert_ne!(old, new);

    stack
        .publish(ORG, "job.completed", serde_json::json!({"n": 1}))
        .await;
    let during = receiver.wait_for(1, DEADLINE).await.remove(0);
    assert_eq!(
        during.header("webhook-signature").split(' ').count(),
        2,
        "two signatures during the overlap"
    );
    assert!(
        verifies(&old, &during) && verifies(&new, &during),
        "either secret verifies"
    );

    // Once the overlap is over, a delivery carries only the new signature.
    let after = eventually(
        "a delivery signed only with the new secret",
        DEADLINE,
        || async {
            let seen = receiver.count();
            stack
                .publish(ORG, "job.completed", serde_json::json!({}))
                .await;
            let request = receiver.wait_for(seen + 1, DEADLINE).await.pop()?;
            (request.header("webhook-signature").split(' ').count() == 1).then_some(request)
        },
    )
    .await;
    assert!(verifies(&new, &after));
    assert!(!verifies(&old, &after), "the old secret no longer verifies");
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn rotation_without_overlap_drops_the_old_secret_at_once(pool: PgPool) {
    let Rotated {
        stack,
        receiver,
        webhook,
        old,
        new,
    } = rotated(pool, "0s").await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let request = receiver.wait_for(1, DEADLINE).await.remove(0);
    assert!(verifies(&new, &request));
    assert!(!verifies(&old, &request));

    let other = v1::RotateSecretRequest {
        organisation_id: "org_other".into(),
        id: webhook.id.clone(),
    };
    let status = stack
        .registry
        .clone()
        .rotate_secret(other)
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        tonic::Code::NotFound,
        "another organisation cannot rotate it"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn a_new_master_key_reseals_old_and_plaintext_secrets_at_start_up(pool: PgPool) {
    const OLD: &str = "old:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const NEW: &str = "new:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    let receiver = Receiver::always(200).await;
    let (sealed_hook, sealed_secret, legacy_hook, legacy_secret) = {
        let before =
            Stack::without_worker(pool.clone(), &[("HOOKLINE__SECRETS__MASTER_KEYS", OLD)]).await;
        let (a, a_secret) = before
            .webhook(ORG, &receiver.url(), &["job.completed"])
            .await;
        let (b, b_secret) = before
            .webhook(ORG, &receiver.url(), &["job.completed"])
            .await;
        (a, a_secret, b, b_secret)
    };
    // A row as written before secrets were sealed.
    sqlx::query("UPDATE webhooks SET secret = $2, secret_key_id = NULL, secret_sealed = NULL WHERE id = $1::uuid")
        .bind(&legacy_hook.id)
        .bind(&legacy_secret)
        .execute(&pool)
        .await
        .unwrap();

    let keys = format!("{NEW},{OLD}");
    let stack = Stack::start_with(pool.clone(), &[("HOOKLINE__SECRETS__MASTER_KEYS", &keys)]).await;
    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let requests = receiver.wait_for(2, DEADLINE).await;
    for (hook, secret) in [
        (&sealed_hook, &sealed_secret),
        (&legacy_hook, &legacy_secret),
    ] {
        let request = requests
            .iter()
            .find(|r| r.json()["webhookId"] == hook.id.as_str())
            .expect("delivered");
        assert!(
            verifies(secret, request),
            "the original secret still verifies after re-sealing"
        );
    }
    let rows: Vec<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT secret, secret_key_id FROM webhooks ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(None, Some("new".to_owned())); 2],
        "both re-sealed under the new key"
    );
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn no_log_line_contains_a_secret_even_at_trace_level(pool: PgPool) {
    // A registry process of its own, logging everything, so its whole output can be searched.
    let env = hookline_tests::stack::test_env(
        &pool,
        &[
            ("HOOKLINE__LOG__FILTER", "trace"),
            ("HOOKLINE__LOG__FORMAT", "json"),
            ("HOOKLINE__REGISTRY__GRPC_LISTEN", "127.0.0.1:0"),
        ],
    );
    let (out, log) = hookline_tests::logs::file("hookline-registry");
    let mut registry = hookline_tests::stack::binary("hookline-registry", &env)
        .arg("serve")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("starting hookline-registry");

    // The gRPC port is chosen by the OS; the start-up line names it.
    let addr = eventually("the registry to listen", DEADLINE, || async {
        let text = std::fs::read_to_string(&log).ok()?;
        let line = text.lines().find(|l| l.contains("registry listening"))?;
        let json: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(json["grpc"].as_str()?.to_owned())
    })
    .await;
    let mut client = eventually("a connection", DEADLINE, || async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        Some(hookline_tests::auth::registry_client(
            channel,
            &hookline_tests::auth::super_admin(),
        ))
    })
    .await;
    let created = eventually("the registry to serve", DEADLINE, || {
        let mut client = client.clone();
        async move {
            let request = hookline_tests::stack::webhook_request(
                ORG,
                "https://example.com/h",
                &["job.completed"],
            );
            client
                .create_webhook(request)
                .await
                .ok()
                .map(|r| r.into_inner())
        }
    })
    .await;
    let id = created.webhook.unwrap().id;
    let rotated = client
        .rotate_secret(v1::RotateSecretRequest {
            organisation_id: ORG.into(),
            id,
        })
        .await
        .unwrap();
    registry.kill().await.unwrap();
    let settings = hookline_runtime::config::Settings::load_from(None, env).unwrap();
    hookline_tests::stack::delete_queues(&settings)
        .await
        .expect("deleting the registry's queues");

    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(
        text.contains("webhook created") && text.contains("secret rotated"),
        "the log was captured"
    );
    for secret in [created.secret, rotated.into_inner().secret] {
        let key = secret.strip_prefix("whsec_").unwrap().to_owned();
        assert!(!text.contains(&key), "a secret appeared in the log");
    }
}
