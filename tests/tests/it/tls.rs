//! HTTPS endpoints: deliveries verify the receiver's certificate, trusting the system's roots plus the
//! configured extra ones, and a certificate nobody vouches for is a failed attempt.

use hookline_proto::v1;
use hookline_tests::{DEADLINE, ORG};
use hookline_tests::{Receiver, Reply, Stack};
use sqlx::PgPool;

/// Writes `pem` to a file that lives as long as the returned guard.
fn pem_file(pem: &str) -> (tempdir::Dir, String) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("receiver-ca.pem");
    std::fs::write(&path, pem).expect("writing the certificate");
    let path = path.to_str().expect("a UTF-8 path").to_owned();
    (dir, path)
}

mod tempdir {
    /// A fresh directory under the system's temp dir, removed on drop.
    pub struct Dir(pub std::path::PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir()
                .join(format!("hookline-tls-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&path).expect("a temp dir");
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn https_endpoint_trusted_through_an_extra_root_receives_signed_events(pool: PgPool) {
    let (receiver, cert) = Receiver::start_tls(|_| Reply::status(200)).await;
    let (_dir, ca) = pem_file(&cert);
    let stack = Stack::start_with(
        pool,
        &[
            ("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "false"),
            ("HOOKLINE__ENDPOINTS__EXTRA_ROOT_CERTIFICATES", &ca),
        ],
    )
    .await;
    let (webhook, secret) = stack
        .webhook(ORG, &receiver.tls_url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({"jobId": "J-TLS"}))
        .await;
    let request = receiver.wait_for(1, DEADLINE).await.remove(0);
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&request.body, &request.headers)
        .unwrap();
    stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Succeeded, DEADLINE)
        .await;
}

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn untrusted_certificate_is_a_failed_attempt(pool: PgPool) {
    let (receiver, _cert) = Receiver::start_tls(|_| Reply::status(200)).await;
    let stack = Stack::start_with(
        pool,
        &[("HOOKLINE__ENDPOINTS__ALLOW_INSECURE_HTTP", "false")],
    )
    .await;
    let (webhook, _) = stack
        .webhook(ORG, &receiver.tls_url(), &["job.completed"])
        .await;

    stack
        .publish(ORG, "job.completed", serde_json::json!({}))
        .await;
    let failed = stack
        .settled(ORG, &webhook.id, v1::DeliveryStatus::Retrying, DEADLINE)
        .await;
    let error = &failed.attempts[0].error;
    assert!(
        error.to_lowercase().contains("certificate"),
        "a TLS verification error: {error}"
    );
    assert_eq!(
        receiver.count(),
        0,
        "no request got through the failed handshake"
    );
}
