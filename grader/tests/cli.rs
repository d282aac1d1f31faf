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

#[test]
fn a_token_is_created_listed_verified_and_revoked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = grader(
        &[
            "token",
            "create",
            "--tenant",
            "escola-a",
            "--scope",
            "scan",
            "--scope",
            "results",
            "--label",
            "station 1",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let token = stdout.lines().last().expect("a last line").to_string();
    assert!(token.starts_with("gab_"), "{stdout}");
    assert!(
        !stderr.contains(&token),
        "the token is printed once, on stdout"
    );

    let out = grader(&["token", "list", "--json"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    let listed: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("one token")).expect("json");
    let id = listed["id"].as_str().expect("id").to_string();
    assert!(token.contains(&id));
    assert_eq!(listed["tenant"], "escola-a");
    assert_eq!(listed["scopes"], serde_json::json!(["scan", "results"]));
    assert!(
        !stdout.contains(&token[token.len() - 64..]),
        "no secret in the list"
    );

    // The services accept it: they verify it against the same database.
    let db = dir.path().join("gabarito.sqlite");
    let rt = store::runtime().expect("runtime");
    let verify = |token: &str| {
        rt.block_on(async {
            let store = store::Store::connect(&db.display().to_string())
                .await
                .expect("open");
            let grant = store.verify_token(token).await.expect("verify");
            store.close().await;
            grant
        })
    };
    let grant = verify(&token).expect("valid");
    assert_eq!(grant.tenant.as_str(), "escola-a");
    assert!(grant.allows(store::Scope::Results) && !grant.allows(store::Scope::Render));

    let out = grader(&["token", "revoke", &id], dir.path());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(verify(&token).is_none());
    let out = grader(&["token", "revoke", &id], dir.path());
    assert_eq!(out.status.code(), Some(2));

    let out = grader(&["token", "create", "--scope", "everything"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("render, scan, results, admin"));
}
