//! The secret scan of a whole test run (`make test` runs it last): every file under the run's logs
//! folder (the `cargo test` output, and the output of every process the tests started) is searched
//! for every secret the tests recorded making, the credentials in their settings, and anything shaped
//! like a signing secret, a JWT or a Basic credential. Exits non-zero, naming each, if any is found.
//! `hookline-scan-test-logs [FOLDER]`; the folder defaults to `target/debug/test-logs`.

use std::path::PathBuf;

use hookline_tests::secret_scan;

fn main() -> anyhow::Result<()> {
    let logs = std::env::args_os()
        .nth(1)
        .map_or_else(hookline_tests::logs::dir, PathBuf::from);
    anyhow::ensure!(
        logs.is_dir(),
        "{} is not a folder of test logs",
        logs.display()
    );
    let secrets = secret_scan::made_and_configured(&logs)?;
    let leaks = secret_scan::leaks(&logs, &secrets)?;
    for leak in &leaks {
        println!("leaked: {leak}");
    }
    anyhow::ensure!(
        leaks.is_empty(),
        "{} secrets leaked into the test logs",
        leaks.len()
    );
    println!(
        "secret scan: {} secrets, and the shapes of secrets, in every log under {}: nothing leaked",
        secrets.len(),
        logs.display()
    );
    Ok(())
}
