//! State: exams, sheets, scans, marks, scores and review items, in Postgres or in an embedded
//! SQLite file, behind one repository ([`Store`]); scans and bundles in object storage
//! ([`objects`]).
//!
//! The two backends share one contract: the same public methods, the same tables (one migration
//! set per backend, `shared/store/migrations/{postgres,sqlite}`), and the same SQL text wherever the two
//! dialects agree, written once in [`repo`](self) and compiled for each driver. The contract
//! test-suite (`shared/store/tests/store_contract.rs`) runs every test against both.
//!
//! Every method takes the [`TenantId`] it acts for, and every query filters on it: nothing of one
//! school is visible through another school's calls.
//!
//! Scores are never taken from the grader as given: they are computed here, with
//! [`model::scoring::score_sheet`], from the stored marks of the pages that count, so re-scoring
//! after a key change reads no image.

#[cfg(feature = "cli")]
pub mod cli;
mod db;
mod migrations;
pub mod objects;
#[cfg(feature = "contract")]
pub mod objects_contract;
mod repo;
mod types;

pub use db::{ChunkScan, DEFAULT_DATABASE_URL, ScanGrading, Store};
pub use model::results::{
    self as results, ExamResults, ItemStatistics, QuestionResult, SheetScore, StudentResult,
};
pub use objects::{
    ListedObject, LocalObjects, ObjectError, ObjectMeta, ObjectPage, ObjectReader, ObjectStore,
    SignedMethod, content_hash, scan_object_key,
};
pub use types::*;

/// The runtime type [`runtime`] returns.
pub use tokio::runtime::Runtime;

/// A single-threaded tokio runtime for command-line tools that call the store from synchronous
/// code (the store is async because the services are).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Stores an uploaded file (before anything else is done with it) under its content hash, then
/// records it. The same bytes received again are the same scan (`new == false`): grade it only
/// when [`ScanStatus::needs_grading`].
pub async fn ingest_scan(
    store: &Store,
    objects: &dyn ObjectStore,
    tenant: &TenantId,
    file_name: &str,
    bytes: &[u8],
) -> Result<ReceivedScan, StoreError> {
    let hash = content_hash(bytes);
    let key = scan_object_key(tenant, &hash);
    if !objects.exists(&key).await? {
        objects.put(&key, bytes).await?;
    }
    store
        .receive_scan(
            tenant,
            &NewScan {
                content_hash: hash,
                object_key: key,
                byte_len: bytes.len() as u64,
                file_name: file_name.to_string(),
            },
        )
        .await
}
