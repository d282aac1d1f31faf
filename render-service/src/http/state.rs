//! What every handler of the render service shares.

use std::sync::Arc;

use axum::extract::FromRef;
use service::{Ops, Wake};
use store::{ObjectStore, Store};

/// The render service's state: the database, object storage, the metrics handle and the
/// handle that wakes this instance's worker when a bundle is queued.
#[derive(Clone)]
pub struct AppState {
    /// The database and the metrics (what the operations routes need).
    pub ops: Ops,
    /// Where bundle PDFs and manifests are.
    pub objects: Arc<dyn ObjectStore>,
    /// Wakes the worker of this instance.
    pub wake: Wake,
}

impl AppState {
    /// The database.
    pub fn store(&self) -> &Store {
        &self.ops.store
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.ops.store.clone()
    }
}

impl FromRef<AppState> for Ops {
    fn from_ref(state: &AppState) -> Self {
        state.ops.clone()
    }
}
