//! What the emulator tests share: a bucket on a fresh emulator and a client of it.

#![allow(dead_code)]

use gcs::emulator::Emulator;
use gcs::{GcsConfig, GcsLocation, GcsObjects};

/// A client of `gs://BUCKET/PREFIX` on `emulator` (bucket created).
pub async fn objects(
    emulator: &Emulator,
    bucket: &str,
    prefix: &str,
    signer: Option<serde_json::Value>,
) -> GcsObjects {
    emulator.create_bucket(bucket);
    let location = GcsLocation::parse(&format!("gs://{bucket}/{prefix}"))
        .expect("gs://")
        .expect("location");
    GcsObjects::new(
        location,
        GcsConfig {
            endpoint: Some(emulator.url.clone()),
            signer_key: signer,
        },
    )
    .await
    .expect("client")
}
