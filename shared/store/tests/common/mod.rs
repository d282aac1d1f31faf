//! Fixtures and backend runners shared by the store's integration tests.

#![allow(dead_code)]

use std::future::Future;
use std::str::FromStr;

use model::layout::{SheetShape, layout_sheet};
use model::scoring::{AnswerState, ReadAnswer};
use model::{Bundle, BundlePage, Exam, SheetCode};
use rand::RngExt;
use sqlx::Connection;
use store::{GradedPage, NewScan, Store, TenantId, content_hash};

/// The server the Postgres half of the suite uses when `GABARITO_TEST_POSTGRES` is not set.
pub const DEFAULT_TEST_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Where the Postgres tests connect.
pub fn postgres_url() -> String {
    std::env::var("GABARITO_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES.to_string())
}

/// Runs `test` on a fresh SQLite file.
pub async fn run_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("gabarito.sqlite").display());
    let store = Store::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    assert_eq!(store.backend_name(), "sqlite");
    let result = tokio::spawn(test(store.clone())).await;
    store.close().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A fresh Postgres schema, dropped again by [`PgSchema::drop`].
pub struct PgSchema {
    /// The store, working in the schema.
    pub store: Store,
    name: String,
    admin: sqlx::PgConnection,
    url: String,
}

impl PgSchema {
    /// Creates a schema of its own and a migrated store in it.
    pub async fn create() -> Self {
        let url = postgres_url();
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "cannot reach Postgres at {url}: {e}\n\
                 The contract tests run against a real Postgres server: start one, or set \
                 GABARITO_TEST_POSTGRES to its URL."
            )
        });
        let name = format!(
            "gabarito_test_{}_{:012x}",
            std::process::id(),
            rand::rng().random_range(0..1u64 << 48)
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        let options = sqlx::postgres::PgConnectOptions::from_str(&url)
            .expect("postgres URL")
            .options([("search_path", name.as_str())]);
        let store = Store::connect_postgres(options)
            .await
            .expect("open postgres");
        store.migrate().await.expect("migrate postgres");
        Self {
            store,
            name,
            admin,
            url,
        }
    }

    /// Another store (a pool of its own) on the same schema, as another process would open.
    pub async fn reconnect(&self) -> Store {
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .expect("postgres URL")
            .options([("search_path", self.name.as_str())]);
        Store::connect_postgres(options)
            .await
            .expect("open postgres")
    }

    /// Runs one statement in the schema, as its owner (to break things on purpose).
    pub async fn execute(&mut self, sql: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET search_path TO {}; {sql}",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("statement");
    }

    /// Closes the store and drops the schema with everything in it.
    pub async fn drop(mut self) {
        self.store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop schema");
    }
}

/// Runs `test` in a fresh Postgres schema, dropped afterwards (also when the test fails).
pub async fn run_postgres<F, Fut>(test: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schema = PgSchema::create().await;
    assert_eq!(schema.store.backend_name(), "postgres");
    let result = tokio::spawn(test(schema.store.clone())).await;
    schema.drop().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A tenant id that must be valid.
pub fn tenant(id: &str) -> TenantId {
    TenantId::new(id).expect("tenant id")
}

/// Five questions, two versions, a per-version key, a multiple-correct question of weight 2:
/// 6 points in all.
pub fn exam() -> Exam {
    Exam::from_json(
        r#"{"title":"Simulado — contrato","versions":["A","B"],"questions":[
            {"key":"C"},
            {"key":"B"},
            {"key":{"A":"A","B":"D"}},
            {"key":["A","C"],"weight":2},
            {"key":"E"}]}"#,
    )
    .expect("valid exam")
}

/// Students `001`… named `Aluno 1`…, class 3A.
pub fn roster(n: usize) -> Vec<(String, String, String)> {
    (1..=n)
        .map(|i| (format!("{i:03}"), format!("Aluno {i}"), "3A".to_string()))
        .collect()
}

/// A one-page-per-student bundle, versions in turn.
pub fn bundle(exam: &Exam, students: &[(String, String, String)]) -> Bundle {
    let refs: Vec<(&str, &str, &str)> = students
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    bundle_for(exam, &refs)
}

/// A one-page-per-student bundle, versions in turn.
pub fn bundle_for(exam: &Exam, students: &[(&str, &str, &str)]) -> Bundle {
    let layout = layout_sheet(&SheetShape::of(exam, false))
        .into_iter()
        .next()
        .map(std::sync::Arc::new)
        .expect("one page");
    let pages = students
        .iter()
        .enumerate()
        .map(|(i, (id, name, class))| BundlePage {
            pdf_page: i as u32 + 1,
            sheet_code: SheetCode::random(),
            student_id: Some(id.to_string()),
            student_name: Some(name.to_string()),
            class: Some(class.to_string()),
            version: exam.versions[i % exam.versions.len()].clone(),
            sheet_page: 1,
            sheet_pages: 1,
            layout: layout.clone(),
            kind: model::PageKind::Sheet,
            booklet_page: None,
            answer_boxes: Vec::new(),
            pdf_file: None,
        })
        .collect();
    Bundle {
        exam_id: None,
        layout_version: model::layout::LAYOUT_VERSION,
        exam: exam.clone(),
        pages,
    }
}

/// The key of `version`, read as marked.
pub fn all_right(exam: &Exam, version: &str) -> Vec<ReadAnswer> {
    (0..exam.questions.len())
        .map(|i| {
            let marked = exam.key_for(version, i).expect("key");
            let state = if marked.len() == 1 {
                AnswerState::Answered
            } else {
                AnswerState::Multiple
            };
            ReadAnswer {
                question: i as u32 + 1,
                marked,
                state,
            }
        })
        .collect()
}

/// An identified page.
pub fn page(page: u32, code: SheetCode, answers: Vec<ReadAnswer>) -> GradedPage {
    GradedPage {
        page,
        sheet_code: Some(code),
        identified_by: Some(model::outcome::IdentifiedBy::QrRqrr),
        answers,
        review: Vec::new(),
        error: None,
        student_number: None,
        outcome: None,
    }
}

/// Records a scan of `bytes` (not stored anywhere) and returns its id.
pub async fn receive(store: &Store, tenant: &TenantId, bytes: &[u8]) -> i64 {
    let hash = content_hash(bytes);
    store
        .receive_scan(
            tenant,
            &NewScan {
                object_key: format!("{tenant}/scans/{hash}"),
                content_hash: hash,
                byte_len: bytes.len() as u64,
                file_name: "scan.png".into(),
            },
        )
        .await
        .expect("receive")
        .scan
        .id
}
