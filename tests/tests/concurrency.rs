//! Two `grader grade` runs at once on one SQLite file (the default `gabarito.sqlite` of the
//! working folder): over two halves of one folder, and both over the same folder. Both finish
//! (no "database is locked"), every scan ends `graded` (none left `received`), and each sheet
//! is graded exactly once.
//!
//! The binaries are built by `cargo test --workspace`; with `-p gabarito-tests` alone, build them
//! first (`cargo build --release -p grader -p render-service`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use gabarito_tests::binaries::workspace_binary;
use gabarito_tests::e2e::{
    Db, exam_id, grade_args, pages_per_sheet, render, run, scan_counts, text, write_scans,
};

const SHEETS: usize = 60;

/// `grader grade PATHS` started in `work`, not waited for.
fn spawn_grade(work: &Path, db: &Db, paths: &[&str]) -> Child {
    Command::new(workspace_binary("grader"))
        .args(grade_args(db, paths))
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("grader starts")
}

/// Renders `SHEETS` students, writes their scans into `work/scans`, and returns the truths.
fn rendered_scans(work: &Path, db: &Db, seed: u64) -> Vec<gabarito_tests::scenario::SheetTruth> {
    let fx = render(work, db, SHEETS);
    let truths = write_scans(&fx, &work.join("scans"), SHEETS, seed);
    assert!(!exam_id(&fx).is_empty(), "the bundle is registered");
    truths
}

/// Both runs ended well and said nothing of a locked database.
fn assert_both_finished(runs: [Output; 2]) {
    for (i, out) in runs.iter().enumerate() {
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("locked"),
            "run {i} met a locked database:\n{stderr}"
        );
        assert!(
            !stderr.contains("not recorded"),
            "run {i} could not record a file:\n{stderr}"
        );
        assert_eq!(out.status.code(), Some(0), "run {i}:\n{stderr}");
    }
}

/// Every scan graded, each sheet once.
fn assert_each_graded_once(db: &Db, truths: &[gabarito_tests::scenario::SheetTruth]) {
    assert_eq!(
        scan_counts(db),
        (SHEETS, SHEETS),
        "(scans, graded): none may stay received"
    );
    let pages = pages_per_sheet(db, truths);
    assert!(
        pages.iter().all(|&n| n == 1),
        "each sheet graded exactly once: {pages:?}"
    );
}

#[test]
fn two_runs_over_two_halves_of_one_folder_both_finish() {
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::default_sqlite(work.path());
    let truths = rendered_scans(work.path(), &db, 0xC0C0_0001);
    for (i, t) in truths.iter().enumerate() {
        let half = work.path().join(if i % 2 == 0 { "a" } else { "b" });
        std::fs::create_dir_all(&half).expect("half dir");
        std::fs::rename(
            work.path().join("scans").join(&t.file_name),
            half.join(&t.file_name),
        )
        .expect("move scan");
    }
    let a = spawn_grade(work.path(), &db, &["a"]);
    let b = spawn_grade(work.path(), &db, &["b"]);
    assert_both_finished([
        a.wait_with_output().expect("run a"),
        b.wait_with_output().expect("run b"),
    ]);
    assert_each_graded_once(&db, &truths);
}

#[test]
fn two_runs_over_the_same_folder_both_finish() {
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::default_sqlite(work.path());
    let truths = rendered_scans(work.path(), &db, 0xC0C0_0002);
    let a = spawn_grade(work.path(), &db, &["scans"]);
    let b = spawn_grade(work.path(), &db, &["scans"]);
    assert_both_finished([
        a.wait_with_output().expect("run a"),
        b.wait_with_output().expect("run b"),
    ]);
    assert_each_graded_once(&db, &truths);
    // And a third run finds nothing left to do.
    let again = run(work.path(), "grader", &grade_args(&db, &["scans"]));
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stderr));
    assert_each_graded_once(&db, &truths);
}
