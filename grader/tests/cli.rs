//! The `grader` command line as a user meets it first. (Also: this integration test makes
//! `cargo test --workspace` build the `grader` binary, which the end-to-end tests in `tests/`
//! run.)

use std::process::Command;

fn grader(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_grader"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("grader runs")
}

#[test]
fn a_missing_path_is_named_in_one_line_and_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = grader(&["grade", "no-such-folder"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-folder"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn resolve_without_a_decision_says_what_to_give() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = grader(&["resolve", "1"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--sheet CODE"), "{stderr}");
}

#[test]
fn a_sheet_code_that_fails_its_check_is_refused_before_the_database_is_touched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = grader(
        &["resolve", "1", "--sheet", "K7QM4-XRT9H-WDA3X"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a sheet code"), "{stderr}");
    assert!(!dir.path().join("gabarito.sqlite").exists());
}
