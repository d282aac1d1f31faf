//! The state through both command lines, on the default SQLite file and on a real Postgres
//! server (`GABARITO_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`; each
//! test works in a database of its own, dropped at the end):
//!
//! - `render-service render` registers the exam, `grader grade` looks the simulated scans' sheets
//!   up in the database, and `grader results --csv` gives every student the score the truth
//!   behind the scans deserves — anonymous sheets under the number filled into their grid;
//! - the same scans posted twice (under other names) are graded once;
//! - `grader grade` killed with SIGKILL in the middle of a 300-scan batch and run again over the
//!   same folder ends with every scan graded exactly once.
//!
//! The binaries are built by `cargo test --workspace`; with `-p gabarito-tests` alone, build them
//! first (`cargo build --release -p grader -p render-service`).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gabarito_tests::binaries::workspace_binary;
use gabarito_tests::e2e::{
    Db, destroy_identity, exam_id, expected_scores, grade_args, pages_per_sheet, parse_results_csv,
    render, render_anonymous, run, scan_counts, text, write_scans,
};
use store::ScanStatus;

/// `grader results EXAM --csv`, as student id → (score, max score).
fn results_csv(work: &Path, db: &Db, exam_id: &str) -> HashMap<String, (f64, f64)> {
    let mut args: Vec<String> = vec!["results".into(), exam_id.into(), "--csv".into()];
    args.extend(db.args());
    let out = run(work, "grader", &args);
    assert!(
        out.status.success(),
        "results failed: {}",
        text(&out.stderr)
    );
    parse_results_csv(&out.stdout)
}

fn rendered_graded_and_listed_scores_are_right(db_of: impl FnOnce(&Path) -> Db) {
    render_grade_and_check_results(db_of, false);
}

/// Anonymous sheets are listed under the number their grid was read as.
fn anonymous_sheets_are_listed_under_the_number_filled_in(db_of: impl FnOnce(&Path) -> Db) {
    render_grade_and_check_results(db_of, true);
}

fn render_grade_and_check_results(db_of: impl FnOnce(&Path) -> Db, anonymous: bool) {
    const SHEETS: usize = 24;
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let fx = if anonymous {
        render_anonymous(work.path(), &db, SHEETS)
    } else {
        render(work.path(), &db, SHEETS)
    };
    let truths = write_scans(&fx, &work.path().join("scans"), SHEETS, 0x5747_E001);
    let out = run(work.path(), "grader", &grade_args(&db, &["scans"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "every scan should be graded without review\n{}",
        text(&out.stderr)
    );
    let expected = expected_scores(&fx, &truths);
    let got = results_csv(work.path(), &db, &exam_id(&fx));
    assert_eq!(got.len(), SHEETS, "one row per student: {got:?}");
    let max = fx.bundle.exam.questions.len() as f64;
    for (student, want) in &expected {
        let (score, max_score) = got
            .get(student)
            .unwrap_or_else(|| panic!("{student} missing from the results"));
        assert!(
            (score - want).abs() < 1e-9,
            "{student}: results say {score}, the scan deserves {want}"
        );
        assert!(*max_score > 0.0 && *max_score <= max * 10.0);
    }
    if let Db::DefaultSqlite { file } = &db {
        assert!(file.exists(), "the default database is gabarito.sqlite");
        assert!(work.path().join("gabarito-objects").is_dir());
    }
}

fn the_same_100_scans_posted_twice_are_graded_once(db_of: impl FnOnce(&Path) -> Db) {
    const SHEETS: usize = 100;
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let fx = render(work.path(), &db, SHEETS);
    let truths = write_scans(&fx, &work.path().join("scans"), SHEETS, 0x7717_CE02);
    // The second post: the same bytes under other names, in another folder.
    let again = work.path().join("again");
    std::fs::create_dir_all(&again).expect("again dir");
    for t in &truths {
        std::fs::copy(
            work.path().join("scans").join(&t.file_name),
            again.join(format!("resent-{}", t.file_name)),
        )
        .expect("copy");
    }
    let first = run(work.path(), "grader", &grade_args(&db, &["scans"]));
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let second = run(work.path(), "grader", &grade_args(&db, &["again"]));
    let stderr = text(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("100 files were already graded"),
        "the second run should say so: {stderr}"
    );
    assert_eq!(scan_counts(&db), (SHEETS, SHEETS));
    assert!(pages_per_sheet(&db, &truths).iter().all(|&n| n == 1));
    assert_eq!(results_csv(work.path(), &db, &exam_id(&fx)).len(), SHEETS);
}

fn a_batch_killed_midway_and_run_again_grades_every_scan_exactly_once(
    db_of: impl FnOnce(&Path) -> Db,
) {
    const SHEETS: usize = 300;
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let fx = render(work.path(), &db, SHEETS);
    let truths = write_scans(&fx, &work.path().join("scans"), SHEETS, 0x0C1_0003);

    let mut child = Command::new(workspace_binary("grader"))
        .args(grade_args(&db, &["scans"]))
        .current_dir(work.path())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("grader starts");
    // Every scan is stored in the objects folder before it is graded: once a third are there,
    // the batch is well under way.
    let objects = work.path().join("gabarito-objects");
    let started = Instant::now();
    loop {
        let stored = walk_count(&objects);
        if stored >= SHEETS / 3 {
            break;
        }
        if let Some(status) = child.try_wait().expect("poll grader") {
            panic!("grader ended ({status}) before it could be killed: {stored} scans stored");
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the batch did not get under way"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Child::kill is SIGKILL on Unix: no chance to clean up.
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let (received, graded) = scan_counts(&db);
    assert!(
        graded < SHEETS,
        "the kill came too late to test anything: {graded} graded"
    );
    eprintln!("killed with {received} scans received, {graded} graded");

    let rerun = run(work.path(), "grader", &grade_args(&db, &["scans"]));
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    assert_eq!(scan_counts(&db), (SHEETS, SHEETS), "every scan graded");
    let pages = pages_per_sheet(&db, &truths);
    assert!(
        pages.iter().all(|&n| n == 1),
        "each sheet graded exactly once: {:?}",
        pages.iter().filter(|&&n| n != 1).count()
    );
    assert_eq!(results_csv(work.path(), &db, &exam_id(&fx)).len(), SHEETS);
}

fn walk_count(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk_count(&p) } else { 1 }
        })
        .sum()
}

/// `grader grade --json` with the common arguments; (exit code, stdout lines sorted, stderr).
fn grade_json(work: &Path, db: &Db, extra: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let mut args = grade_args(db, extra);
    args.push("--json".into());
    let out = run(work, "grader", &args);
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    (out.status.code(), lines, text(&out.stderr))
}

/// Grading a folder twice prints the same outcomes (the second time from the record), with
/// the same exit code; and a person names an unidentified page with `resolve --sheet`, after
/// which it is scored from the marks read the first time.
fn an_unidentified_page_is_named_by_a_person_and_scored(db_of: impl FnOnce(&Path) -> Db) {
    const SHEETS: usize = 6;
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let fx = render(work.path(), &db, SHEETS);
    let truths = write_scans(&fx, &work.path().join("scans"), SHEETS, 0x1D_0008);
    let lost = &truths[2];
    destroy_identity(&work.path().join("scans").join(&lost.file_name), &fx, lost);

    let (code, first, stderr) = grade_json(work.path(), &db, &["scans"]);
    assert_eq!(code, Some(1), "one page needs a person: {stderr}");
    assert_eq!(first.len(), SHEETS, "{first:?}");
    let (again_code, again, stderr) = grade_json(work.path(), &db, &["scans"]);
    assert_eq!(again_code, Some(1), "still open on the rerun: {stderr}");
    assert_eq!(again, first, "the rerun reports the same outcomes");

    let mut args: Vec<String> = vec!["review".into(), "--json".into()];
    args.extend(db.args());
    let out = run(work.path(), "grader", &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let items: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("review item JSON"))
        .collect();
    let unidentified: Vec<&serde_json::Value> = items
        .iter()
        .filter(|i| {
            i["reason"]
                .as_str()
                .is_some_and(|r| r.contains("unidentified"))
        })
        .collect();
    assert_eq!(unidentified.len(), 1, "{items:?}");
    let item = unidentified[0]["id"].as_i64().expect("item id").to_string();

    let before = results_csv(work.path(), &db, &exam_id(&fx));
    let student = lost.student_id.clone().expect("roster sheet");
    assert!(
        !before.contains_key(&student),
        "unscored until named: {before:?}"
    );

    let mut args: Vec<String> = vec![
        "resolve".into(),
        item,
        "--sheet".into(),
        lost.sheet_code.printed(),
    ];
    args.extend(db.args());
    let out = run(work.path(), "grader", &args);
    assert!(out.status.success(), "resolve: {}", text(&out.stderr));

    let expected = expected_scores(&fx, &truths);
    let after = results_csv(work.path(), &db, &exam_id(&fx));
    assert_eq!(after.len(), SHEETS, "{after:?}");
    let (score, _) = after[&student];
    assert!(
        (score - expected[&student]).abs() < 1e-9,
        "{student}: {score}, the scan deserves {}; as graded: {:?}",
        expected[&student],
        first.iter().find(|l| l.contains(&lost.file_name))
    );
    // Named by a person, the page is settled: a rerun answers from the record, and exits 0.
    let (code, _, stderr) = grade_json(work.path(), &db, &["scans"]);
    assert_eq!(code, Some(0), "{stderr}");
}

/// A scan graded against the wrong bundle is unidentified; run again against the right one it
/// is graded again (the new outcome replaces the old and closes its review item). Identical
/// bytes under two names in one run are graded and printed once. `--regrade` grades again
/// what was graded cleanly.
fn reruns_grade_again_what_is_still_open(db_of: impl FnOnce(&Path) -> Db) {
    const SHEETS: usize = 4;
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let fx = render(work.path(), &db, SHEETS);
    write_scans(&fx, &work.path().join("scans"), SHEETS, 0x2E_0008);
    // Another exam's bundle: the scans are not its sheets.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).expect("other dir");
    let out = run(
        work.path(),
        "render-service",
        &[
            vec![
                "render".to_string(),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../examples/simulado-1.json")
                    .display()
                    .to_string(),
                "--copies".into(),
                "2".into(),
                "--out".into(),
                "other/bundle".into(),
            ],
            db.args(),
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let (code, wrong, stderr) =
        grade_json(work.path(), &db, &["scans", "--bundle", "other/bundle"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        wrong.iter().all(|l| l.contains("unidentified")),
        "{wrong:?}"
    );

    let (code, right, stderr) = grade_json(work.path(), &db, &["scans", "--bundle", "bundle"]);
    assert_eq!(code, Some(0), "graded again, and right this time: {stderr}");
    assert_eq!(right.len(), SHEETS);
    assert!(
        right.iter().all(|l| !l.contains("unidentified")),
        "{right:?}"
    );
    assert_eq!(results_csv(work.path(), &db, &exam_id(&fx)).len(), SHEETS);
    let mut args: Vec<String> = vec!["review".into(), "--json".into()];
    args.extend(db.args());
    let out = run(work.path(), "grader", &args);
    assert_eq!(text(&out.stdout).trim(), "", "the old items are closed");

    // The same bytes under two names in one run.
    let dup = work.path().join("dup");
    std::fs::create_dir_all(&dup).expect("dup dir");
    let any = std::fs::read_dir(work.path().join("scans"))
        .expect("scans")
        .flatten()
        .next()
        .expect("a scan")
        .path();
    std::fs::copy(&any, dup.join("a.jpg")).expect("copy");
    std::fs::copy(&any, dup.join("b.jpg")).expect("copy");
    let (code, lines, stderr) = grade_json(work.path(), &db, &["dup", "--regrade"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines.len(), 1, "graded and printed once: {lines:?}");
    assert!(stderr.contains("same bytes as"), "{stderr}");
    assert!(stderr.contains("1 files were graded again"), "{stderr}");
    assert_eq!(scan_counts(&db), (SHEETS, SHEETS));
}

/// A file over the size limit is refused on the record, with its reason, like any bad file.
fn a_file_over_the_size_limit_is_refused_on_the_record(db_of: impl FnOnce(&Path) -> Db) {
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let big = work.path().join("big");
    std::fs::create_dir_all(&big).expect("dir");
    let file = std::fs::File::create(big.join("huge.pdf")).expect("create");
    // Sparse: no disk or time spent on it, but 201 MiB to whoever reads it.
    file.set_len(201 * 1024 * 1024).expect("set_len");
    drop(file);
    let (code, lines, stderr) = grade_json(work.path(), &db, &["big"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("file too large"), "{lines:?}");
    let scans = db.inspect(async |store, tenant| store.scans(tenant).await.expect("scans"));
    assert_eq!(scans.len(), 1, "refused, but on the record");
    assert_eq!(scans[0].status, ScanStatus::Failed);
    assert!(
        scans[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("too large")),
        "{:?}",
        scans[0].error
    );
    assert!(
        walk_count(&work.path().join("gabarito-objects")) == 0,
        "its bytes are not stored"
    );
}

/// A database file nobody may write (opened `?mode=ro`: SQLite then refuses every write, also
/// for root, whom file modes do not stop) still answers `results`; `grade` says in one line
/// which database is read-only. A database in a missing folder is named with the folder.
#[test]
fn a_read_only_database_answers_results_and_grade_says_it_is_read_only() {
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::default_sqlite(work.path());
    let fx = render(work.path(), &db, 2);
    write_scans(&fx, &work.path().join("scans"), 2, 0x4EAD_0001);
    let file = work.path().join("gabarito.sqlite");
    let read_only = vec![
        "--db".to_string(),
        format!("sqlite:{}?mode=ro", file.display()),
    ];

    let mut args = vec!["results".to_string(), exam_id(&fx)];
    args.extend(read_only.iter().cloned());
    let results = run(work.path(), "grader", &args);
    assert!(
        results.status.success(),
        "results on a read-only file: {}",
        text(&results.stderr)
    );

    let mut args = vec!["grade".to_string(), "scans".to_string()];
    args.extend(read_only);
    let grade = run(work.path(), "grader", &args);
    let stderr = text(&grade.stderr);
    assert_ne!(grade.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("database sqlite:{} is read-only", file.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("attempt to write"), "{stderr}");

    let missing = run(
        work.path(),
        "grader",
        &[
            "results".into(),
            "x".into(),
            "--db".into(),
            "/no/such/dir/x.sqlite".into(),
        ],
    );
    let stderr = text(&missing.stderr);
    assert!(
        stderr.contains(
            "cannot open database /no/such/dir/x.sqlite: folder /no/such/dir does not exist"
        ),
        "{stderr}"
    );
}

/// Each scenario runs twice: `<scenario>::sqlite` on the default SQLite file of a fresh working
/// folder, `<scenario>::postgres` in a Postgres database of its own.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn sqlite() {
                    super::$scenario(super::Db::default_sqlite);
                }
                #[test]
                fn postgres() {
                    super::$scenario(|_| super::Db::postgres());
                }
            }
        )*
    };
}

on_both_backends!(
    rendered_graded_and_listed_scores_are_right,
    anonymous_sheets_are_listed_under_the_number_filled_in,
    the_same_100_scans_posted_twice_are_graded_once,
    a_batch_killed_midway_and_run_again_grades_every_scan_exactly_once,
    an_unidentified_page_is_named_by_a_person_and_scored,
    reruns_grade_again_what_is_still_open,
    a_file_over_the_size_limit_is_refused_on_the_record,
);
