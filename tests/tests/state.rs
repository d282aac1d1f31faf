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
    Db, exam_id, grade_args, pages_per_sheet, render, render_anonymous, run, scan_counts, text,
    write_scans,
};
use gabarito_tests::fixture::RenderedFixture;
use gabarito_tests::scenario::SheetTruth;
use model::scoring::{ReadAnswer, score_sheet};

/// The score each student deserves: the truth's marks scored by the shared rules.
fn expected_scores(fx: &RenderedFixture, truths: &[SheetTruth]) -> HashMap<String, f64> {
    let layout = &fx.bundle.pages[fx.sheet_pages()[0]].layout;
    truths
        .iter()
        .map(|t| {
            let read: Vec<ReadAnswer> = t
                .questions
                .iter()
                .map(|q| {
                    let labels: Vec<&str> = layout
                        .bubbles
                        .iter()
                        .filter(|b| b.question == q.question)
                        .map(|b| b.choice.as_str())
                        .collect();
                    ReadAnswer {
                        question: q.question,
                        marked: q
                            .marked
                            .iter()
                            .filter_map(|m| labels.iter().position(|l| l == m))
                            .map(|i| i as u8)
                            .collect(),
                        state: q.state,
                    }
                })
                .collect();
            let score = score_sheet(&fx.bundle.exam, &t.version, &read).expect("scores");
            let student = t
                .student_id
                .clone()
                .or_else(|| t.student_number.clone())
                .expect("a roster sheet, or an anonymous one with its number filled in");
            (student, score.score)
        })
        .collect()
}

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
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().expect("CSV header").clone();
    assert_eq!(
        headers.iter().take(6).collect::<Vec<_>>(),
        [
            "student_id",
            "name",
            "class",
            "version",
            "score",
            "max_score"
        ]
    );
    reader
        .records()
        .map(|r| {
            let r = r.expect("CSV row");
            let num = |i: usize| -> f64 {
                r[i].parse()
                    .unwrap_or_else(|_| panic!("column {i} of {r:?} is not a number"))
            };
            (r[0].to_string(), (num(4), num(5)))
        })
        .collect()
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
);
