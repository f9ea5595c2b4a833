//! Each failure is classified by the real sender against a real socket that misbehaves that way.

use std::time::Duration;

use hookline_core::signing::SigningSecret;
use hookline_runtime::config::EndpointPolicy;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::AttemptFailure;
use crate::sender::Sender;
use crate::webhooks::Target;

const TIMEOUT: Duration = Duration::from_millis(300);

fn sender() -> Sender {
    let policy = EndpointPolicy {
        allow_insecure_http: true,
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        extra_root_certificates: Vec::new(),
    };
    Sender::new(TIMEOUT, 1024, 1, &policy).unwrap()
}

/// What one attempt at `url` failed with.
async fn failure(url: &str) -> Option<AttemptFailure> {
    let target = Target {
        url: url.to_owned(),
        secrets: vec![SigningSecret::generate()],
        auth: None,
        enabled: true,
        circuit_open_until: None,
        rate_limit: None,
    };
    sender()
        .send(url, &target, "msg_1", b"{}".to_vec())
        .await
        .failure
}

/// A local server that answers every connection with `answer` (after reading the request), or never
/// answers when it is `None`.
async fn server(answer: Option<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                match answer {
                    Some(answer) => {
                        let _ = socket.write_all(answer).await;
                    }
                    None => std::future::pending::<()>().await,
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn statuses_and_redirects_are_told_apart_and_worded_as_before() {
    let port = server(Some(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let failed = failure(&format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert!(matches!(failed, AttemptFailure::Status(s) if s == 503));
    assert_eq!(failed.to_string(), "HTTP 503 Service Unavailable");
    assert!(failed.signals_overload() && failed.kind().is_none());
    assert!(failed.is_retryable());

    let port = server(Some(b"HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n\r\n")).await;
    let failed = failure(&format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert_eq!(failed, AttemptFailure::Status(http::StatusCode::GONE));
    assert!(
        !failed.is_retryable(),
        "410 says the endpoint is gone for good"
    );

    let port = server(Some(
        b"HTTP/1.1 302 Found\r\nlocation: /x\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let failed = failure(&format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert!(matches!(failed, AttemptFailure::Redirect(s) if s == 302));
    assert_eq!(
        failed.to_string(),
        "HTTP 302 Found: redirects are not followed"
    );
    assert!(!failed.signals_overload());

    let port = server(Some(b"HTTP/1.1 204 No Content\r\n\r\n")).await;
    assert_eq!(failure(&format!("http://127.0.0.1:{port}/")).await, None);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let failed = failure(&format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert!(matches!(failed, AttemptFailure::Connect(_)), "{failed:?}");
    assert_eq!(failed.kind(), Some(super::TRANSPORT));
    assert!(failed.signals_overload() && failed.is_retryable());
}

#[tokio::test]
async fn a_server_that_does_not_speak_tls_is_a_tls_failure() {
    let port = server(Some(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")).await;
    let failed = failure(&format!("https://127.0.0.1:{port}/"))
        .await
        .unwrap();
    assert!(matches!(failed, AttemptFailure::Tls(_)), "{failed:?}");
}

#[tokio::test]
async fn silence_is_a_timeout() {
    let port = server(None).await;
    let failed = failure(&format!("http://127.0.0.1:{port}/")).await.unwrap();
    assert_eq!(failed, AttemptFailure::Timeout(TIMEOUT));
    assert_eq!(failed.to_string(), format!("timed out after {TIMEOUT:?}"));
    assert_eq!(failed.kind(), Some(super::TIMEOUT));
    assert!(failed.is_retryable());
}

#[tokio::test]
async fn a_private_address_is_refused_without_a_request() {
    let failed = failure("http://10.0.0.1/").await.unwrap();
    assert!(matches!(failed, AttemptFailure::Refused(_)), "{failed:?}");
    assert_eq!(failed.kind(), Some(super::REFUSED));
    assert!(!failed.signals_overload());
    assert!(
        failed.is_retryable(),
        "the address may resolve elsewhere later"
    );
}
