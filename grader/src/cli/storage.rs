//! Where scans are kept (`--storage`, `--gcs-endpoint`), for `grade` and `batch`: the same
//! settings the services take.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use store::ObjectStore;

/// Object storage options.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// Object storage: the folder where every scan is stored (by content hash) before it is
    /// graded, or `gs://BUCKET[/PREFIX]`; the services take the same setting.
    #[arg(
        long = "storage",
        visible_alias = "objects",
        env = "GABARITO_STORAGE",
        default_value = "gabarito-objects",
        value_name = "DIR"
    )]
    pub objects: String,
    /// A Cloud Storage emulator's base URL (with a gs:// storage); unset in production.
    #[arg(long, env = "GCS_ENDPOINT", value_name = "URL")]
    pub gcs_endpoint: Option<String>,
}

impl StorageArgs {
    /// The object storage where scans are kept.
    pub async fn open(&self) -> Result<Arc<dyn ObjectStore>> {
        self.open_at(&self.objects).await
    }

    /// Objects at `spec` (`gs://BUCKET[/PREFIX]` or a folder), reached as the scans' storage
    /// is (the same emulator, the same credentials).
    pub async fn open_at(&self, spec: &str) -> Result<Arc<dyn ObjectStore>> {
        service::storage::open_objects(spec, self.gcs_endpoint.as_deref())
            .await
            .with_context(|| format!("cannot open object storage {spec}"))
    }
}
