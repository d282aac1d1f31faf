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

/// `grader grade --json` with the common arguments; (exit code, stdout lines sorted, stderr).
fn grade_json(work: &Path, db: &Db, extra: &[&str]) -> (Option<i32>, Vec<String>, String) {
    let mut args = grade_args(db, extra);
    args.push("--json".into());
    let out = run(work, "grader", &args);
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    lines.sort();
    (out.status.code(), lines, text(&out.stderr))
}

/// Whites out the QR code and the printed id of a scan, where they are printed and where they
/// would be on a page fed upside down: nothing is left to identify it by.
fn destroy_identity(scan: &Path, fx: &RenderedFixture) {
    let layout = &fx.bundle.pages[fx.sheet_pages()[0]].layout;
    let mut img = image::open(scan).expect("scan decodes").to_luma8();
    let (w, h) = img.dimensions();
    let px = |pt: f32| (pt * DPI as f32 / 72.0).round() as i64;
    let margin = 40.0; // points: more than the simulated skew moves these boxes
    let boxes = [
        (
            layout.qr.x - margin,
            layout.qr.y - margin,
            layout.qr.size + 2.0 * margin,
            layout.qr.size + 2.0 * margin,
        ),
        (
            layout.text_id.x - margin,
            layout.text_id.y - margin,
            layout.text_id.width + 2.0 * margin,
            layout.text_id.height + 2.0 * margin,
        ),
    ];
    for (x, y, bw, bh) in boxes {
        let (x0, y0, x1, y1) = (px(x), px(y), px(x + bw), px(y + bh));
        for (ax, ay, bx, by) in [
            (x0, y0, x1, y1),
            (
                i64::from(w) - x1,
                i64::from(h) - y1,
                i64::from(w) - x0,
                i64::from(h) - y0,
            ),
        ] {
            for yy in ay.max(0)..by.min(i64::from(h)) {
                for xx in ax.max(0)..bx.min(i64::from(w)) {
                    img.put_pixel(xx as u32, yy as u32, image::Luma([255]));
                }
            }
        }
    }
    img.save_with_format(scan, image::ImageFormat::Jpeg)
        .expect("rewrite scan");
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
    destroy_identity(&work.path().join("scans").join(&lost.file_name), &fx);

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
        "{student}: {score}, the scan deserves {}",
        expected[&student]
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
