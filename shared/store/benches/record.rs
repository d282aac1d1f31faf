//! How fast graded sheets are recorded into one Postgres: the single-file path
//! (`record_grading`, one transaction a scan) beside batched recording (`receive_scans` +
//! `record_chunk`, one transaction a chunk), by 1 writer and by 8 concurrent writers. A program
//! that prints figures, not a timed test.
//!
//! ```sh
//! cargo bench -p gabarito-store --bench record                   # 8 writers × 2,000 sheets
//! cargo bench -p gabarito-store --bench record -- 500 8 100      # sheets per writer, writers, chunk
//! ```
//!
//! Each sheet is one page of 90 questions (A–E, a few blank and a few uncertain: 1 sheet in
//! 10 has a review item), with the page's report kept as JSON as the grader keeps it. Every
//! writer records distinct sheets of one exam, as the tasks of a Cloud Run batch do.
//! Postgres is `GABARITO_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! in a schema of its own that is dropped afterwards.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use model::scoring::{AnswerState, ReadAnswer};
use model::{BundlePage, Exam};
use store::{ChunkScan, NewScan, ScanGrading, Store, TenantId};

const QUESTIONS: usize = 90;

fn exam() -> Exam {
    let questions: Vec<String> = (0..QUESTIONS)
        .map(|i| {
            let a = (b'A' + (i % 5) as u8) as char;
            let b = (b'A' + ((i + 2) % 5) as u8) as char;
            format!(r#"{{"key":{{"A":"{a}","B":"{b}"}}}}"#)
        })
        .collect();
    Exam::from_json(&format!(
        r#"{{"title":"Benchmark","versions":["A","B"],"questions":[{}]}}"#,
        questions.join(",")
    ))
    .unwrap_or_else(|e| panic!("benchmark exam: {e}"))
}

/// Deterministic answers: mostly right, some wrong, some blank, one uncertain in 10 sheets.
fn answers(exam: &Exam, version: &str, sheet: usize) -> Vec<ReadAnswer> {
    (0..exam.questions.len())
        .map(|i| {
            let key = exam.key_for(version, i).unwrap_or_default();
            let roll = (sheet * 31 + i * 17) % 10;
            let (marked, state) = match roll {
                _ if i == 7 && sheet % 10 == 3 => (key, AnswerState::Uncertain),
                0 => (Vec::new(), AnswerState::Blank),
                1 | 2 => (vec![(key[0] + 1) % 5], AnswerState::Answered),
                _ => (key, AnswerState::Answered),
            };
            ReadAnswer {
                question: i as u32 + 1,
                marked,
                state,
            }
        })
        .collect()
}

/// The page's report as the grader keeps it (the size of a real one: ~4.5 KB for 90 questions).
fn outcome(page: &BundlePage, answers: &[ReadAnswer]) -> String {
    let answers: Vec<serde_json::Value> = answers
        .iter()
        .map(|a| {
            serde_json::json!({
                "question": a.question,
                "marked": a.marked.iter().map(|m| ((b'A' + m) as char).to_string()).collect::<Vec<_>>(),
                "state": format!("{:?}", a.state).to_lowercase(),
            })
        })
        .collect();
    serde_json::json!({
        "file": format!("gs://bench/lote-7/{}.jpg", page.sheet_code),
        "page": 1,
        "sheet_code": page.sheet_code.printed(),
        "student_id": page.student_id,
        "version": page.version,
        "identified_by": "qr-rxing",
        "answers": answers,
        "score": 70.0,
        "max_score": 90.0,
        "review": [],
        "error": null,
    })
    .to_string()
}

fn graded(exam: &Exam, page: &BundlePage, sheet: usize) -> store::GradedPage {
    let read = answers(exam, &page.version, sheet);
    let mut graded = common::page(1, page.sheet_code, read);
    graded.outcome = Some(outcome(page, &graded.answers));
    graded
}

fn new_scan(tenant: &TenantId, run: &str, sheet: usize) -> NewScan {
    let hash = store::content_hash(format!("{run} scan {sheet}").as_bytes());
    NewScan {
        object_key: store::scan_object_key(tenant, &hash),
        content_hash: hash,
        byte_len: 350_000,
        file_name: format!("lote-7/{sheet:07}.jpg"),
    }
}

/// One writer, batched: its sheets `range` in chunks of `chunk`.
async fn write_batched(
    store: Store,
    tenant: TenantId,
    exam: std::sync::Arc<Exam>,
    pages: std::sync::Arc<Vec<BundlePage>>,
    range: std::ops::Range<usize>,
    chunk: usize,
) {
    let sheets: Vec<usize> = range.collect();
    for part in sheets.chunks(chunk) {
        let scans: Vec<NewScan> = part
            .iter()
            .map(|&i| new_scan(&tenant, "batched", i))
            .collect();
        let received = store
            .receive_scans(&tenant, &scans)
            .await
            .unwrap_or_else(|e| panic!("receive: {e}"));
        let chunk: Vec<ChunkScan> = part
            .iter()
            .zip(&received)
            .map(|(&i, r)| ChunkScan {
                scan_id: r.scan.id,
                grading: ScanGrading::Pages(vec![graded(&exam, &pages[i], i)]),
                again: false,
            })
            .collect();
        let outcomes = store
            .record_chunk(&tenant, &chunk)
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
        assert!(outcomes.iter().all(|o| !o.already_graded));
    }
}

/// The machine's one-minute load average: the figures are wall clock on a shared machine.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let per_writer = args.first().copied().unwrap_or(2_000);
    let writers = args.get(1).copied().unwrap_or(8);
    let chunk = args.get(2).copied().unwrap_or(100);
    let single_sheets = (per_writer / 4).clamp(50, 500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let mut schema = common::PgSchema::create().await;
        let store = schema.store.clone();
        let tenant = TenantId::new("bench").unwrap_or_else(|e| panic!("{e}"));
        let exam = exam();
        let total = single_sheets + per_writer + writers * per_writer;
        let students: Vec<(String, String, String)> = (0..total)
            .map(|i| (format!("{i:07}"), format!("Aluno {i}"), "3A".to_string()))
            .collect();
        let bundle = common::bundle(&exam, &students);
        store
            .register_bundle(&tenant, &bundle)
            .await
            .unwrap_or_else(|e| panic!("register: {e}"));
        let pages = std::sync::Arc::new(bundle.pages.clone());
        let exam = std::sync::Arc::new(exam);
        println!(
            "Postgres, one page of {QUESTIONS} questions a sheet, chunks of {chunk}, load average {:.1} at start",
            load_average()
        );

        // The single-file path, one writer, for comparison.
        let t0 = Instant::now();
        for i in 0..single_sheets {
            let scan = store
                .receive_scan(&tenant, &new_scan(&tenant, "single", i))
                .await
                .unwrap_or_else(|e| panic!("receive: {e}"))
                .scan
                .id;
            store
                .record_grading(&tenant, scan, &[graded(&exam, &pages[i], i)])
                .await
                .unwrap_or_else(|e| panic!("record: {e}"));
        }
        let s = t0.elapsed().as_secs_f64();
        println!(
            "single-file path (receive_scan + record_grading), 1 writer: {single_sheets} sheets in {s:.2} s = {:.0} sheets/s",
            single_sheets as f64 / s
        );

        // Batched, one writer.
        let start = single_sheets;
        let t0 = Instant::now();
        write_batched(
            store.clone(),
            tenant.clone(),
            exam.clone(),
            pages.clone(),
            start..start + per_writer,
            chunk,
        )
        .await;
        let s = t0.elapsed().as_secs_f64();
        println!(
            "batched (receive_scans + record_chunk), 1 writer: {per_writer} sheets in {s:.2} s = {:.0} sheets/s",
            per_writer as f64 / s
        );

        // The tables are minutes old: Postgres has no statistics of them yet, and plans the
        // chunk's look-ups (`tenant_id = $1 AND id IN (…)`) as if the tenant had a few dozen
        // rows — scanning all of them for every look-up, slower and slower as they grow. In
        // production autovacuum analyses a table once a tenth of it changed (and the cached
        // plans are made again); here that is done by hand, as a batch running for more than a
        // minute would see it.
        schema.execute("ANALYZE").await;

        // Batched, `writers` at once, each with a store (a pool) of its own, as separate tasks.
        let start = start + per_writer;
        let mut stores = Vec::new();
        for _ in 0..writers {
            stores.push(schema.reconnect().await);
        }
        let t0 = Instant::now();
        let mut handles = Vec::new();
        for (w, s) in stores.iter().enumerate() {
            let from = start + w * per_writer;
            handles.push(tokio::spawn(write_batched(
                s.clone(),
                tenant.clone(),
                exam.clone(),
                pages.clone(),
                from..from + per_writer,
                chunk,
            )));
        }
        for h in handles {
            h.await.unwrap_or_else(|e| panic!("writer: {e}"));
        }
        let s = t0.elapsed().as_secs_f64();
        let n = writers * per_writer;
        println!(
            "batched, {writers} concurrent writers: {n} sheets in {s:.2} s = {:.0} sheets/s in total, load average {:.1} at end",
            n as f64 / s,
            load_average()
        );
        for s in stores {
            s.close().await;
        }
        schema.drop().await;
    });
}
