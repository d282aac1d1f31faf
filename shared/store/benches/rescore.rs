//! How long annulling a question takes to re-score every stored sheet of a large exam, on each
//! backend. A program that prints figures, not a timed test.
//!
//! ```sh
//! cargo bench -p shared --bench rescore            # 10,000 sheets of 50 questions
//! cargo bench -p shared --bench rescore -- 2000    # another size
//! ```
//!
//! Postgres is `GABARITO_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! in a schema of its own that is dropped afterwards; SQLite is a file in a temporary folder.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use model::Exam;
use model::scoring::{AnswerState, ReadAnswer};
use store::{Store, TenantId};

const QUESTIONS: usize = 50;

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

/// Deterministic answers: mostly right, some wrong, some blank.
fn answers(exam: &Exam, version: &str, student: usize) -> Vec<ReadAnswer> {
    (0..exam.questions.len())
        .map(|i| {
            let key = exam.key_for(version, i).unwrap_or_default();
            let roll = (student * 31 + i * 17) % 10;
            let (marked, state) = match roll {
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

async fn bench(store: &Store, sheets: usize) {
    let tenant = TenantId::new("bench").unwrap_or_else(|e| panic!("{e}"));
    let exam = exam();
    let students: Vec<(String, String, String)> = (0..sheets)
        .map(|i| (format!("{i:06}"), format!("Aluno {i}"), "3A".to_string()))
        .collect();
    let bundle = common::bundle(&exam, &students);
    let t0 = Instant::now();
    let exam_id = store
        .register_bundle(&tenant, &bundle)
        .await
        .unwrap_or_else(|e| panic!("register: {e}"));
    let register = t0.elapsed();

    let t0 = Instant::now();
    for (i, page) in bundle.pages.iter().enumerate() {
        let scan = common::receive(store, &tenant, format!("scan {i}").as_bytes()).await;
        store
            .record_grading(
                &tenant,
                scan,
                &[common::page(
                    1,
                    page.sheet_code,
                    answers(&exam, &page.version, i),
                )],
            )
            .await
            .unwrap_or_else(|e| panic!("record: {e}"));
    }
    let record = t0.elapsed();

    let t0 = Instant::now();
    let report = store
        .annul_question(&tenant, &exam_id, 7, true)
        .await
        .unwrap_or_else(|e| panic!("annul: {e}"));
    let annul = t0.elapsed();
    assert_eq!(report.sheets, sheets);

    let t0 = Instant::now();
    store
        .results(&tenant, &exam_id)
        .await
        .unwrap_or_else(|e| panic!("results: {e}"));
    let results = t0.elapsed();

    println!(
        "{:<8} {sheets:>6} sheets × {QUESTIONS} questions: register {:>6.2} s, record scans {:>7.2} s \
         ({:>6.0} scans/s), annul 1 question + re-score all {:>6.2} s, results + statistics {:>6.2} s",
        store.backend_name(),
        register.as_secs_f64(),
        record.as_secs_f64(),
        sheets as f64 / record.as_secs_f64(),
        annul.as_secs_f64(),
        results.as_secs_f64(),
    );
}

fn main() {
    let sheets: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let url = format!("sqlite:{}", dir.path().join("bench.sqlite").display());
        let store = Store::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("sqlite: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        bench(&store, sheets).await;
        store.close().await;

        let schema = common::PgSchema::create().await;
        bench(&schema.store, sheets).await;
        schema.drop().await;
    });
}
