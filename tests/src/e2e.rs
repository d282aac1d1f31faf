//! What the end-to-end tests of the command lines share: a database for a test (the default
//! SQLite file of a working folder, or a Postgres database of its own), running the binaries,
//! rendering the example exam and writing simulated scans of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use model::scoring::{ReadAnswer, score_sheet};
use sqlx::Connection;
use store::{ScanStatus, Store, TenantId};

use crate::binaries::workspace_binary;
use crate::fixture::{RenderedFixture, roster};
use crate::run::{SetOptions, for_each_scan};
use crate::scenario::{Mix, SheetTruth};

/// Scans at 150 dpi keep the runs short; the grader reads them as well as 300-dpi ones.
pub const DPI: u32 = 150;

/// Where a test keeps its state: the default SQLite file of its working folder, or a Postgres
/// database of its own.
pub enum Db {
    /// No `--db`: the commands use `sqlite:gabarito.sqlite` in the working folder.
    DefaultSqlite {
        /// `work/gabarito.sqlite`.
        file: PathBuf,
    },
    /// `--db postgres://…/<name>`; dropped on drop.
    Postgres {
        /// Its URL.
        url: String,
        /// The server's admin URL, to drop it.
        admin: String,
        /// The database's name.
        name: String,
    },
}

impl Db {
    /// The default SQLite file of the working folder `work`.
    pub fn default_sqlite(work: &Path) -> Self {
        Db::DefaultSqlite {
            file: work.join("gabarito.sqlite"),
        }
    }

    /// A Postgres database of its own, created now (on `GABARITO_TEST_POSTGRES`).
    pub fn postgres() -> Self {
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
    pub fn args(&self) -> Vec<String> {
        match self {
            Db::DefaultSqlite { .. } => Vec::new(),
            Db::Postgres { url, .. } => vec!["--db".into(), url.clone()],
        }
    }

    /// The database URL, for [`Store::connect`].
    pub fn url(&self) -> String {
        match self {
            Db::DefaultSqlite { file } => format!("sqlite:{}", file.display()),
            Db::Postgres { url, .. } => url.clone(),
        }
    }

    /// Reads the state the commands left, through the repository.
    pub fn inspect<T>(&self, f: impl AsyncFnOnce(&Store, &TenantId) -> T) -> T {
        self.inspect_as("default", f)
    }

    /// Reads the state of school `tenant` (the services' tenant is their token's), through
    /// the repository.
    pub fn inspect_as<T>(&self, tenant: &str, f: impl AsyncFnOnce(&Store, &TenantId) -> T) -> T {
        let rt = store::runtime().expect("runtime");
        rt.block_on(async {
            let store = Store::connect(&self.url())
                .await
                .expect("open the database");
            let tenant = TenantId::new(tenant).expect("tenant id");
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
pub fn with_database(url: &str, name: &str) -> String {
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
pub fn run(work: &Path, bin: &str, args: &[String]) -> Output {
    Command::new(workspace_binary(bin))
        .args(args)
        .current_dir(work)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"))
}

/// A process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `render-service render` of the example exam for `students` students into `work/bundle`,
/// registering it in `db`.
pub fn render(work: &Path, db: &Db, students: usize) -> RenderedFixture {
    let mut csv = String::from("student_id,name,class\n");
    for s in roster(students) {
        csv.push_str(&format!("{},{},{}\n", s.student_id, s.name, s.class));
    }
    std::fs::write(work.join("roster.csv"), csv).expect("roster");
    render_with(work, db, &["--roster", "roster.csv"])
}

/// `render-service render` of `copies` anonymous sheets (no roster) into `work/bundle`.
pub fn render_anonymous(work: &Path, db: &Db, copies: usize) -> RenderedFixture {
    render_with(work, db, &["--copies", &copies.to_string()])
}

/// `render-service render` of the example exam with `students` (roster or copies arguments)
/// into `work/bundle`, registering it in `db`.
pub fn render_with(work: &Path, db: &Db, students: &[&str]) -> RenderedFixture {
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
pub fn write_scans(fx: &RenderedFixture, dir: &Path, sheets: usize, seed: u64) -> Vec<SheetTruth> {
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

/// `grade PATHS… --jobs 2` with the `--db` arguments of `db`.
pub fn grade_args(db: &Db, paths: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["grade".into()];
    args.extend(paths.iter().map(|p| p.to_string()));
    args.extend(["--jobs".into(), "2".into()]);
    args.extend(db.args());
    args
}

/// The exam id `render-service render` wrote into `bundle.json`.
pub fn exam_id(fx: &RenderedFixture) -> String {
    fx.bundle
        .exam_id
        .clone()
        .expect("bundle.json carries the registered exam id")
}

/// Counts the scans by status.
pub fn scan_counts(db: &Db) -> (usize, usize) {
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
pub fn pages_per_sheet(db: &Db, truths: &[SheetTruth]) -> Vec<usize> {
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

/// The score each student deserves: the truth's marks scored by the shared rules.
pub fn expected_scores(fx: &RenderedFixture, truths: &[SheetTruth]) -> HashMap<String, f64> {
    expected_scores_under(&fx.bundle.exam, fx, truths)
}

/// The score each student deserves under `exam` (the bundle's exam with keys changed or
/// questions annulled), by student id (or the number filled in, for anonymous sheets).
pub fn expected_scores_under(
    exam: &model::Exam,
    fx: &RenderedFixture,
    truths: &[SheetTruth],
) -> HashMap<String, f64> {
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
            let score = score_sheet(exam, &t.version, &read).expect("scores");
            let student = t
                .student_id
                .clone()
                .or_else(|| t.student_number.clone())
                .expect("a roster sheet, or an anonymous one with its number filled in");
            (student, score.score)
        })
        .collect()
}

/// Whites out the QR code and the printed id of a scan (the page as its truth says it was fed,
/// upright or upside down), and nothing else: nothing is left to identify it by.
pub fn destroy_identity(scan: &Path, fx: &RenderedFixture, truth: &SheetTruth) {
    let layout = &fx.bundle.pages[fx.sheet_pages()[0]].layout;
    let mut img = image::open(scan).expect("scan decodes").to_luma8();
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    // Points to pixels from the scan's own size: captures differ in resolution.
    let sx = w as f32 / layout.paper.width;
    let sy = h as f32 / layout.paper.height;
    // Points around each box: enough for the simulated skew, not enough to reach the corner
    // mark above the QR code (14 pt away).
    let margin = 5.0;
    let boxes = [
        (layout.qr.x, layout.qr.y, layout.qr.size, layout.qr.size),
        (
            layout.text_id.x,
            layout.text_id.y,
            layout.text_id.width,
            layout.text_id.height,
        ),
    ];
    for (x, y, bw, bh) in boxes {
        let x0 = ((x - margin) * sx) as i64;
        let y0 = ((y - margin) * sy) as i64;
        let x1 = ((x + bw + margin) * sx) as i64;
        let y1 = ((y + bh + margin) * sy) as i64;
        let (ax, ay, bx, by) = if truth.degradation.geometry.upside_down {
            (w - x1, h - y1, w - x0, h - y0)
        } else {
            (x0, y0, x1, y1)
        };
        for yy in ay.max(0)..by.min(h) {
            for xx in ax.max(0)..bx.min(w) {
                img.put_pixel(xx as u32, yy as u32, image::Luma([255]));
            }
        }
    }
    img.save_with_format(scan, image::ImageFormat::Jpeg)
        .expect("rewrite scan");
}

/// The CSV of `grader results --csv` (or of `GET /v1/exams/{id}/results` as `text/csv`), as
/// student id → (score, max score).
///
/// # Panics
///
/// When the header is not the documented one, or a score is not a number.
pub fn parse_results_csv(bytes: &[u8]) -> HashMap<String, (f64, f64)> {
    let mut reader = csv::Reader::from_reader(bytes);
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
