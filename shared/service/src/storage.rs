//! Which object storage a service uses: `GABARITO_STORAGE` is a local folder (the default) or
//! `gs://BUCKET[/PREFIX]` (Cloud Storage, crate `gabarito-gcs`), with `GCS_ENDPOINT` naming an
//! emulator instead of Google's servers.

use std::sync::Arc;

use store::{LocalObjects, ObjectStore};

/// The object storage `storage` names: `gs://BUCKET[/PREFIX]`, else a local folder.
/// `gcs_endpoint` is an emulator's base URL (anonymous credentials); `None` in production
/// (Application Default Credentials).
pub async fn open_objects(
    storage: &str,
    gcs_endpoint: Option<&str>,
) -> Result<Arc<dyn ObjectStore>, gcs::GcsError> {
    match gcs::GcsLocation::parse(storage) {
        Some(location) => {
            let config = gcs::GcsConfig {
                endpoint: gcs_endpoint.filter(|e| !e.is_empty()).map(str::to_string),
                signer_key: None,
            };
            Ok(Arc::new(gcs::GcsObjects::new(location?, config).await?))
        }
        None => Ok(Arc::new(LocalObjects::new(storage))),
    }
}
