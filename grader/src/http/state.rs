//! What every handler of the grader shares: the database, object storage, the worker's wake-up
//! and the bound on grading work at once.

use std::sync::Arc;

use axum::extract::FromRef;
use pipeline::Limits;
use service::{Ops, Wake};
use store::{ObjectStore, Store};
use tokio::sync::Semaphore;

/// The state of the grader's routes.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Where results and statistics are read: a read replica (`DATABASE_READ_URL`), or the
    /// database itself.
    pub reads: Store,
    /// Where scans are kept.
    pub objects: Arc<dyn ObjectStore>,
    /// What the operations routes need.
    pub ops: Ops,
    /// Wakes this instance's worker when a request queues a batch.
    pub wake: Wake,
    /// Files graded at once by requests and review images (each holds a decoded page, tens
    /// of MB): the instance's memory stays bounded whatever the number of requests.
    pub grading: Arc<Semaphore>,
    /// The pipeline's input limits.
    pub limits: Limits,
    /// Whether `POST /v1/storage-events` takes events (`GABARITO_STORAGE_EVENTS=cloud-run-iam`):
    /// only where Cloud Run's IAM lets nothing but the Eventarc trigger through.
    pub storage_events: bool,
    /// The identification chain after the QR decoders (`GABARITO_OCR`): local OCR, Cloud
    /// Vision.
    pub ocr: crate::cloud_ocr::OcrChain,
}

impl AppState {
    /// The state over `store` and `objects`, grading at most one file per core at once.
    pub fn new(store: Store, objects: Arc<dyn ObjectStore>, ops: Ops, wake: Wake) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            reads: store.clone(),
            store,
            objects,
            ops,
            wake,
            grading: Arc::new(Semaphore::new(cores)),
            limits: Limits::default(),
            storage_events: false,
            ocr: crate::cloud_ocr::OcrChain::default(),
        }
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Store {
        state.store.clone()
    }
}

impl FromRef<AppState> for Ops {
    fn from_ref(state: &AppState) -> Ops {
        state.ops.clone()
    }
}
