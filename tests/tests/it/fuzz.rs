//! The gRPC fuzzer against the running services: every RPC of the served descriptor set gets requests
//! built from its input type with hostile values (see `hookline_tests::fuzz`). None may panic a server
//! or be answered `INTERNAL`, `UNKNOWN` or `UNAVAILABLE` (a retry would not fix bad input); every
//! `INVALID_ARGUMENT` names the field; and each service answers a normal call afterwards.

use hookline_tests::Stack;
use hookline_tests::fuzz::{Fuzzer, RawCodec, Schema};
use sqlx::PgPool;
use tonic::Code;

/// Requests per RPC. `HOOKLINE_FUZZ_CASES` raises it for a longer run.
const CASES: usize = 100;
/// The seed `make test` uses, so CI is repeatable; `HOOKLINE_FUZZ_SEED` (a number, or `random`) explores.
const SEED: u64 = 20_261_205;

#[sqlx::test(migrator = "hookline_store::MIGRATOR")]
async fn every_rpc_answers_hostile_requests_with_a_named_error_and_stays_up(pool: PgPool) {
    let stack = Stack::start(pool).await;
    let schema = Schema::from_descriptor_set(hookline_proto::FILE_DESCRIPTOR_SET);
    assert!(
        schema.rpcs.len() >= 20,
        "every RPC is read from the descriptor set"
    );
    let seed = match std::env::var("HOOKLINE_FUZZ_SEED").ok().as_deref() {
        Some("random") => rand::random::<u64>(),
        Some(seed) => seed
            .parse()
            .expect("HOOKLINE_FUZZ_SEED is a number or `random`"),
        None => SEED,
    };
    let cases = std::env::var("HOOKLINE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CASES);
    eprintln!("fuzzing with HOOKLINE_FUZZ_SEED={seed}, {cases} requests per RPC");
    let mut fuzzer = Fuzzer::new(&schema, seed);
    let token = hookline_tests::auth::super_admin();
    let mut failures = Vec::new();
    for rpc in &schema.rpcs {
        let (channel, service) = if rpc.path.contains(".EventIngest/") {
            (stack.ingest_channel.clone(), "hookline.v1.EventIngest")
        } else {
            (
                stack.registry_channel.clone(),
                "hookline.v1.WebhookRegistry",
            )
        };
        let input = rpc.input.rsplit('.').next().unwrap_or_default();
        for case in 0..cases {
            let body = fuzzer.message(&rpc.input);
            let len = body.len();
            let Err(status) = call(channel.clone(), &rpc.path, body, &token).await else {
                continue;
            };
            if let Some(why) = unacceptable(&status, input) {
                failures.push(format!(
                    "{} case {case} ({len} bytes): {why}: {:?}: {}",
                    rpc.path,
                    status.code(),
                    status.message().chars().take(300).collect::<String>()
                ));
            }
        }
        // Whatever it was sent, the service still serves.
        hookline_tests::stack::serving(&channel, service).await;
    }
    assert!(
        failures.is_empty(),
        "HOOKLINE_FUZZ_SEED={seed}: {} unacceptable answers:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Why `status` is not an acceptable answer to a hostile request of type `input`, if it is not.
fn unacceptable(status: &tonic::Status, input: &str) -> Option<&'static str> {
    match status.code() {
        Code::Internal | Code::Unknown => Some("a server fault"),
        Code::Unavailable => Some("retryable, though retrying cannot help"),
        Code::InvalidArgument => {
            let named_in_details = tonic_types::StatusExt::get_details_bad_request(status)
                .is_some_and(|d| {
                    !d.field_violations.is_empty()
                        && d.field_violations.iter().all(|v| !v.field.is_empty())
                });
            // A request that does not decode is named by prost's path to the bad field.
            let named_in_message = status.message().contains(&format!("{input}."));
            (!named_in_details && !named_in_message).then_some("no field named")
        }
        _ => None,
    }
}

async fn call(
    channel: tonic::transport::Channel,
    path: &str,
    body: Vec<u8>,
    token: &str,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unknown(format!("the channel is not ready: {e}")))?;
    let mut request = tonic::Request::new(body);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    let path = http::uri::PathAndQuery::try_from(path).expect("a valid path");
    Ok(grpc.unary(request, path, RawCodec).await?.into_inner())
}
