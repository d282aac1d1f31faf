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
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gabarito_tests::binaries::workspace_binary;
use gabarito_tests::fixture::{RenderedFixture, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::{Mix, SheetTruth};
use model::scoring::{ReadAnswer, score_sheet};
use sqlx::Connection;
use store::{ScanStatus, Store, TenantId};

/// Scans at 150 dpi keep the runs short; the grader reads them as well as 300-dpi ones.
const DPI: u32 = 150;

/// Where a test keeps its state: the default SQLite file of its working folder, or a Postgres
/// database of its own.
enum Db {
    /// No `--db`: the commands use `sqlite:gabarito.sqlite` in the working folder.
    DefaultSqlite { file: PathBuf },
    /// `--db postgres://…/<name>`; dropped on drop.
    Postgres {
        url: String,
        admin: String,
        name: String,
    },
}

impl Db {
    fn default_sqlite(work: &Path) -> Self {
        Db::DefaultSqlite {
            file: work.join("gabarito.sqlite"),
        }
    }

    fn postgres() -> Self {
        let admin = std::env::var("GABARITO_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!(
            "gabarito_e2e_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() % 1_000_000_000)
                .unwrap_or(0)
        );
        let rt = store::runtime().expect("runtime");
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot reach Postgres at {admin}: {e}\nThese tests run against a real \
                         Postgres server: start one, or set GABARITO_TEST_POSTGRES to its URL."
                    )
                });
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create database");
        });
        let url = with_database(&admin, &name);
        Db::Postgres { url, admin, name }
    }

    /// The `--db` arguments of the commands.
    fn args(&self) -> Vec<String> {
        match self {
            Db::DefaultSqlite { .. } => Vec::new(),
            Db::Postgres { url, .. } => vec!["--db".into(), url.clone()],
        }
    }

    fn url(&self) -> String {
        match self {
            Db::DefaultSqlite { file } => format!("sqlite:{}", file.display()),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    /// Reads the state the commands left, through the repository.
    fn inspect<T>(&self, f: impl AsyncFnOnce(&Store, &TenantId) -> T) -> T {
        let rt = store::runtime().expect("runtime");
        rt.block_on(async {
            let store = Store::connect(&self.url())
                .await
                .expect("open the database");
            let tenant = TenantId::new("default").expect("tenant id");
            let out = f(&store, &tenant).await;
            store.close().await;
            out
        })
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Db::Postgres { admin, name, .. } = self {
            let Ok(rt) = store::runtime() else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        }
    }
}

/// `url` with its database replaced by `name` (query parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs a command in `work` with no `DATABASE_URL` from the environment, and returns its output.
fn run(work: &Path, bin: &str, args: &[String]) -> Output {
    Command::new(workspace_binary(bin))
        .args(args)
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `render-service render` of the example exam for `students` students into `work/bundle`,
/// registering it in `db`.
fn render(work: &Path, db: &Db, students: usize) -> RenderedFixture {
    let mut csv = String::from("student_id,name,class\n");
    for s in roster(students) {
        csv.push_str(&format!("{},{},{}\n", s.student_id, s.name, s.class));
    }
    std::fs::write(work.join("roster.csv"), csv).expect("roster");
    render_with(work, db, &["--roster", "roster.csv"])
}

/// `render-service render` of `copies` anonymous sheets (no roster) into `work/bundle`.
fn render_anonymous(work: &Path, db: &Db, copies: usize) -> RenderedFixture {
    render_with(work, db, &["--copies", &copies.to_string()])
}

fn render_with(work: &Path, db: &Db, students: &[&str]) -> RenderedFixture {
    let exam = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/simulado-1.json");
    let mut args: Vec<String> = vec!["render".into(), exam.display().to_string()];
    args.extend(students.iter().map(|s| s.to_string()));
    args.extend(["--out".into(), "bundle".into()]);
    args.extend(db.args());
    let out = run(work, "render-service", &args);
    assert!(out.status.success(), "render failed: {}", text(&out.stderr));
    RenderedFixture::load(&work.join("bundle")).expect("bundle.json")
}

/// Simulated scans of every sheet of the bundle into `dir`: clean enough that every question has
/// one right reading (pens and pencils, flatbed and feeder), so that the expected scores are the
/// truth's.
fn write_scans(fx: &RenderedFixture, dir: &Path, sheets: usize, seed: u64) -> Vec<SheetTruth> {
    std::fs::create_dir_all(dir).expect("scan dir");
    let opts = SetOptions {
        seed,
        sheets,
        dpi: DPI,
        mix: Mix {
            all_styles: false,
            stray_rate: 0.0,
            ..Mix::scanner((70, 90))
        },
        keep_failures: None,
    };
    for_each_scan(fx, &opts, |scan| {
        std::fs::write(dir.join(&scan.truth.file_name), &scan.bytes).expect("write scan");
        scan.truth
    })
    .expect("simulates")
}

fn grade_args(db: &Db, paths: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["grade".into()];
    args.extend(paths.iter().map(|p| p.to_string()));
    args.extend(["--jobs".into(), "2".into()]);
    args.extend(db.args());
    args
}

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

fn exam_id(fx: &RenderedFixture) -> String {
    fx.bundle
        .exam_id
        .clone()
        .expect("bundle.json carries the registered exam id")
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

/// Counts the scans by status.
fn scan_counts(db: &Db) -> (usize, usize) {
    db.inspect(async |store, tenant| {
        let scans = store.scans(tenant).await.expect("scans");
        let graded = scans
            .iter()
            .filter(|s| s.status == ScanStatus::Graded)
            .count();
        (scans.len(), graded)
    })
}

/// Per sheet code, how many graded pages the database holds.
fn pages_per_sheet(db: &Db, truths: &[SheetTruth]) -> Vec<usize> {
    db.inspect(async |store, tenant| {
        let mut counts = Vec::with_capacity(truths.len());
        for t in truths {
            counts.push(
                store
                    .pages_of_sheet(tenant, &t.sheet_code)
                    .await
                    .expect("pages")
                    .len(),
            );
        }
        counts
    })
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
