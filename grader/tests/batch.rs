//! `grader batch` as a Cloud Run Job runs it: 200 scans (and one file that is not a scan) under
//! one prefix of a real Cloud Storage emulator, two tasks (`CLOUD_RUN_TASK_COUNT=2`) against one
//! Postgres database. Task 1 is killed (SIGKILL) after it has recorded a chunk and run again as
//! attempt 1; then both tasks run again over the same prefix. Each scan is graded exactly once
//! between them all, and the tasks' own counts add up.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gabarito_tests::e2e::Db;
use gcs::emulator::Emulator;
use store::{ObjectStore, ScanStatus, Store, TenantId};

const BUCKET: &str = "gabarito-batch";
const SCANS: usize = 200;
const TENANT: &str = "escola-a";

/// A task's one-line summary, parsed: listed, mine, graded, already graded, to review, failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Summary {
    listed: u64,
    mine: u64,
    graded: u64,
    already: u64,
    review: u64,
    failed: u64,
}

fn summary_of(stdout: &str) -> Summary {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("grader batch: task "))
        .unwrap_or_else(|| panic!("no summary line in {stdout:?}"));
    let number = |label: &str| -> u64 {
        let at = line
            .find(&format!("{label} "))
            .unwrap_or_else(|| panic!("{label} in {line:?}"));
        line[at + label.len() + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("{label} in {line:?}"))
    };
    Summary {
        listed: number("listed"),
        mine: number("mine"),
        graded: number(", graded"),
        already: number("already graded"),
        review: number("to review"),
        failed: number("failed"),
    }
}

struct Job<'a> {
    emulator: &'a Emulator,
    db: &'a Db,
}

impl Job<'_> {
    /// `grader batch` as task `index` of 2, attempt `attempt`, its output piped.
    fn task(&self, index: u32, attempt: u32) -> Child {
        Command::new(env!("CARGO_BIN_EXE_grader"))
            .args(["batch", &format!("gs://{BUCKET}/lote"), "--chunk", "10"])
            .args(["--jobs", "1", "--db", &self.db.url(), "--tenant", TENANT])
            .env("GABARITO_STORAGE", format!("gs://{BUCKET}/store"))
            .env("GCS_ENDPOINT", &self.emulator.url)
            .env("GABARITO_OCR", "local")
            .env("CLOUD_RUN_TASK_INDEX", index.to_string())
            .env("CLOUD_RUN_TASK_COUNT", "2")
            .env("CLOUD_RUN_TASK_ATTEMPT", attempt.to_string())
            .env_remove("VISION_ENDPOINT")
            .env_remove("VISION_API_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("grader batch starts")
    }

    /// Waits for a task; its summary, and its stderr for failure messages.
    fn finish(child: Child) -> (Summary, String) {
        let out = child.wait_with_output().expect("grader batch runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        (summary_of(&stdout), stderr)
    }
}

/// Every scan of the tenant, with how many pages each sheet has recorded.
fn state(db: &Db, sheets: &[model::SheetCode]) -> (Vec<ScanStatus>, Vec<usize>) {
    db.inspect_as(TENANT, async |store: &Store, tenant: &TenantId| {
        let scans = store.scans(tenant).await.expect("scans");
        let mut pages = Vec::new();
        for code in sheets {
            pages.push(
                store
                    .pages_of_sheet(tenant, code)
                    .await
                    .expect("pages")
                    .len(),
            );
        }
        (scans.into_iter().map(|s| s.status).collect(), pages)
    })
}

#[test]
fn two_tasks_grade_each_scan_once_also_when_one_is_killed_and_retried() {
    let started = Instant::now();
    let emulator = Emulator::start();
    let db = Db::postgres();
    let (fx, scans) = common::fixture(SCANS);
    assert_eq!(scans.len(), SCANS);
    eprintln!("simulated {SCANS} scans in {:.1?}", started.elapsed());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let exam_id = rt.block_on(async {
        let store = Store::connect(&db.url()).await.expect("database");
        store.migrate().await.expect("migrate");
        let tenant = TenantId::new(TENANT).expect("tenant");
        let exam_id = store
            .ensure_bundle(&tenant, &fx.bundle)
            .await
            .expect("register")
            .exam_id;
        store.close().await;
        // Names of two segments keep their order in the bucket: lote/tray-N/sNNN.jpg; one in
        // ten named as scanning stations name files (spaces, accents, a `#`, a `%`, a `+`),
        // which must reach the grader and the record unmangled.
        let lote = common::bucket(&emulator, BUCKET, "lote", None).await;
        for (i, scan) in scans.iter().enumerate() {
            let name = if i % 10 == 0 {
                format!("tray-{}/Turma 3ºA – João #{i:03} 100% + ç.jpg", i % 4)
            } else {
                format!("tray-{}/s{i:03}.jpg", i % 4)
            };
            lote.put(&name, &scan.bytes).await.expect("upload");
        }
        // A file that is not a scan is reported, recorded for review, and the batch goes on.
        lote.put("tray-0/notes.jpg", b"not a JPEG at all")
            .await
            .expect("upload");
        exam_id
    });
    let objects = SCANS as u64 + 1;
    let job = Job {
        emulator: &emulator,
        db: &db,
    };
    let sheets: Vec<model::SheetCode> = scans.iter().map(|s| s.truth.sheet_code).collect();

    // Both tasks at once; task 1 killed once it has recorded a chunk.
    let t0 = job.task(0, 0);
    let mut t1 = job.task(1, 0);
    let stderr = t1.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("task 1 records a chunk");
        if line.contains("chunk recorded") {
            break;
        }
    }
    t1.kill().expect("SIGKILL task 1");
    let _ = t1.wait();
    let (statuses, _) = state(&db, &sheets);
    let recorded = statuses
        .iter()
        .filter(|s| **s != ScanStatus::Received)
        .count();
    eprintln!(
        "task 1 killed at {:.1?}: {recorded} scans recorded, {} received and not recorded",
        started.elapsed(),
        statuses.len() - recorded
    );
    let (first0, _) = Job::finish(t0);
    let (retry1, _) = Job::finish(job.task(1, 1));
    eprintln!(
        "task 0 {first0:?}, task 1 attempt 1 {retry1:?} at {:.1?}",
        started.elapsed()
    );
    assert_eq!((first0.listed, retry1.listed), (objects, objects));
    assert_eq!(
        first0.mine + retry1.mine,
        objects,
        "every object in one shard"
    );
    assert!(
        first0.mine > 70 && retry1.mine > 70,
        "{first0:?} {retry1:?}"
    );
    assert_eq!(first0.already, 0, "{first0:?}");
    assert_eq!(first0.graded, first0.mine);
    assert!(
        retry1.already >= 10,
        "the killed attempt's chunk counts: {retry1:?}"
    );
    assert_eq!(retry1.graded + retry1.already, retry1.mine);
    assert_eq!(first0.failed + retry1.failed, 0);

    // Exactly once: one scan a file, each recorded, each sheet one page.
    let (statuses, pages) = state(&db, &sheets);
    assert_eq!(statuses.len() as u64, objects, "{statuses:?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == ScanStatus::Failed)
            .count(),
        1,
        "the file that is not a scan: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s != ScanStatus::Received));
    // Never a sheet twice; every sheet once but for a scan the grader could not identify (to
    // review, not counted), which these clean scans should not have.
    assert!(pages.iter().all(|&n| n <= 1), "pages per sheet: {pages:?}");
    let identified = pages.iter().filter(|&&n| n == 1).count();
    assert!(identified >= SCANS - 2, "pages per sheet: {pages:?}");
    let scores = db.inspect_as(TENANT, async |store: &Store, tenant: &TenantId| {
        store.scores(tenant, &exam_id).await.expect("scores").len()
    });
    assert_eq!(scores, identified, "one score a sheet");

    // The names as the station gave them: every accented name recorded, graded, as it is.
    let names = db.inspect_as(TENANT, async |store: &Store, tenant: &TenantId| {
        store
            .scans(tenant)
            .await
            .expect("scans")
            .into_iter()
            .filter(|s| s.status == ScanStatus::Graded)
            .map(|s| s.file_name)
            .collect::<Vec<String>>()
    });
    let accented = names
        .iter()
        .filter(|n| n.contains("Turma 3ºA – João #"))
        .count();
    assert_eq!(accented, SCANS / 10, "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.ends_with("Turma 3ºA – João #010 100% + ç.jpg")),
        "{names:?}"
    );

    // A second run of the whole job: nothing new, everything already graded.
    let (again0, _) = Job::finish(job.task(0, 0));
    let (again1, _) = Job::finish(job.task(1, 0));
    assert_eq!((again0.graded, again1.graded), (0, 0));
    assert_eq!((again0.review, again1.review, again0.failed), (0, 0, 0));
    assert_eq!((again0.already, again1.already), (first0.mine, retry1.mine));
    let (after, pages_after) = state(&db, &sheets);
    assert_eq!(after.len() as u64, objects);
    assert_eq!(pages_after, pages);
    eprintln!("done in {:.1?}", started.elapsed());
}
