//! Where a test run's logs are kept: `make test` writes the whole `cargo test` output there, and every
//! process the tests start writes its own file, so that the secret scan ([`crate::secret_scan`]) can
//! read everything the run logged.

use std::path::PathBuf;

/// Where the test run's logs go: `target/<profile>/test-logs` (beside the binaries). `make test`
/// writes the whole `cargo test` output there, and processes the tests start write theirs.
pub fn dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut dir = exe.parent().expect("the binary's folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("test-logs")
}

/// A new file among the run's logs for a process running `name`, and its path.
pub fn file(name: &str) -> (std::fs::File, PathBuf) {
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("the test logs' folder");
    let path = dir.join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
    let file =
        std::fs::File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    (file, path)
}
