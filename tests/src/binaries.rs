//! The workspace's command-line programs, as the end-to-end tests run them.

use std::path::{Path, PathBuf};

/// The binary `name` built by Cargo with the same profile as the running test, which lives in
/// `target/<profile>/deps/`: the binary is `target/<profile>/<name>`. `cargo test --workspace`
/// builds every member's binaries; with `-p gabarito-tests` alone, build them first
/// (`cargo build --release -p grader -p render-service`).
///
/// # Panics
///
/// When the binary is not there, with the command that builds it.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile folder");
    let bin = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: run `cargo test --workspace` (or `cargo build -p {name}` with the same \
         profile first)",
        bin.display()
    );
    bin
}
