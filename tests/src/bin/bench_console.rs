//! `hookline-bench-console`: how fast the console serves its pages to an organisation with 100,000
//! deliveries in its log. Each page is fetched in turn, signed in, beside the console's own `/healthz`
//! (no registry call) as the same-run baseline.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use hookline_runtime::auth::Role;
use hookline_tests::bench::{BenchDb, Pipeline, quantile_ms};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sqlx::PgPool;

const ORG: &str = "org_bench";
const DELIVERIES: i64 = 100_000;
/// Requests per page, after a warm-up of a tenth as many.
const REQUESTS: usize = 200;

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<bytes::Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let db = BenchDb::create().await?;
    let settings = db.settings(&[])?;
    let pipeline = Pipeline::start(&settings, 0).await?;
    let webhook = pipeline
        .webhook(ORG, "https://hooks.example.com/bench")
        .await?;
    let pool = PgPool::connect(&db.url).await?;
    let started = Instant::now();
    let sample = fill_log(&pool, &webhook.id).await?;
    eprintln!(
        "{DELIVERIES} deliveries written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut console_settings = settings.clone();
    console_settings.console.listen = "127.0.0.1:0".parse()?;
    console_settings.console.registry_url = format!("http://{}", pipeline.registry_addr);
    console_settings.console.secure_cookies = false;
    let console = hookline_console::Console::build(&console_settings).await?;
    let base = format!("http://{}", console.addr());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(console.run_until_stopped(stop.clone()));

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let token = hookline_tests::auth::token(Some(ORG), &[Role::OrgAdmin], &[]);
    let cookie = sign_in(&client, &base, &token).await?;
    let pages = [
        "/healthz".to_owned(),
        "/webhooks".to_owned(),
        "/deliveries".to_owned(),
        "/deliveries?state=failed".to_owned(),
        format!("/deliveries?webhook={}", webhook.id),
        format!("/deliveries?event={}", sample.1),
        format!("/deliveries/{}", sample.0),
        "/dead-letters".to_owned(),
        "/events".to_owned(),
        "/events?event_type=job.completed".to_owned(),
    ];
    println!("| page | p50 | p99 | p99 ÷ `/healthz` p99 |");
    println!("|---|---|---|---|");
    let mut baseline = None;
    for page in &pages {
        let url = format!("{base}{page}");
        for _ in 0..REQUESTS / 10 {
            fetch(&client, &url, &cookie).await?;
        }
        let mut samples = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let at = Instant::now();
            fetch(&client, &url, &cookie).await?;
            samples.push(at.elapsed().as_micros() as u64);
        }
        let (p50, p99) = (quantile_ms(&samples, 0.5), quantile_ms(&samples, 0.99));
        let base_p99 = *baseline.get_or_insert(p99);
        println!(
            "| `{page}` | {p50:.1} ms | {p99:.1} ms | {:.1} |",
            p99 / base_p99
        );
    }
    stop.cancel();
    pipeline.stop().await?;
    pool.close().await;
    db.drop().await
}

/// Writes `DELIVERIES` events, one delivery each (mostly succeeded, some failed or retrying) and an
/// attempt each, straight into the log. Returns one delivery's id and its event's id.
async fn fill_log(pool: &PgPool, webhook_id: &str) -> anyhow::Result<(String, String)> {
    sqlx::query(
        "INSERT INTO events (id, organisation_id, event_type, version, occurred_at, data, received_at)
         SELECT gen_random_uuid(), $1, 'job.completed', 1, now(), jsonb_build_object('jobId', 'J-' || n),
                now() - make_interval(secs => $2 - n)
           FROM generate_series(1, $2) AS n",
    )
    .bind(ORG)
    .bind(DELIVERIES)
    .execute(pool)
    .await
    .context("writing events")?;
    sqlx::query(
        "INSERT INTO deliveries (id, event_id, webhook_id, organisation_id, event_type, url, status,
                                 attempts, last_response_status, created_at, updated_at)
         SELECT gen_random_uuid(), e.id, $1::uuid, e.organisation_id, e.event_type,
                'https://hooks.example.com/bench',
                CASE WHEN n % 20 = 0 THEN 'failed' WHEN n % 20 = 1 THEN 'retrying' ELSE 'succeeded' END,
                CASE WHEN n % 20 = 0 THEN 3 ELSE 1 END,
                CASE WHEN n % 20 IN (0, 1) THEN 500 ELSE 200 END,
                e.received_at, e.received_at
           FROM (SELECT id, organisation_id, event_type, received_at,
                        row_number() OVER (ORDER BY received_at) AS n FROM events) e",
    )
    .bind(webhook_id)
    .execute(pool)
    .await
    .context("writing deliveries")?;
    sqlx::query(
        "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, response_status,
             response_headers, response_body, response_body_truncated, request_body, error, success)
         SELECT id, 1, created_at, 12, last_response_status, '[[\"content-type\", \"text/plain\"]]',
                'ok', false, '{}', NULL, last_response_status = 200
           FROM deliveries",
    )
    .execute(pool)
    .await
    .context("writing attempts")?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let sample: (String, String) = sqlx::query_as(
        "SELECT id::text, event_id::text FROM deliveries WHERE status = 'failed' LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    Ok(sample)
}

async fn sign_in(client: &HttpClient, base: &str, token: &str) -> anyhow::Result<String> {
    let response = client
        .get(format!("{base}/sign-in?token={token}").parse()?)
        .await?;
    let cookie = response
        .headers()
        .get(http::header::SET_COOKIE)
        .context("a session cookie")?
        .to_str()?;
    Ok(cookie.split(';').next().unwrap_or_default().to_owned())
}

async fn fetch(client: &HttpClient, url: &str, cookie: &str) -> anyhow::Result<()> {
    let request = http::Request::get(url)
        .header(http::header::COOKIE, cookie)
        .body(Empty::new())?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request)).await??;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "{url}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(())
}
