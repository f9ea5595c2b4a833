//! Signature checks on whatever a receiver is sent: never a panic, and no header verifies a body it
//! was not made for.
#![no_main]

use std::time::Duration;

use hookline_core::signing::{SigningSecret, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, i64, &[u8], &str)| {
    let (msg_id, timestamp, body, header) = input;
    let secret =
        SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("a valid secret");
    let tolerance = Duration::from_secs(300);
    if verify(
        &secret, msg_id, timestamp, body, header, timestamp, tolerance,
    )
    .is_ok()
    {
        // Only a real signature of exactly these bytes can verify.
        let mut other = body.to_vec();
        other.push(b'!');
        assert!(
            verify(
                &secret, msg_id, timestamp, &other, header, timestamp, tolerance
            )
            .is_err()
        );
    }
    let _ = SigningSecret::parse(header);
});
