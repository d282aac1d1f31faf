//! What the grader's Cloud Storage tests share: simulated scans of a rendered bundle, and a
//! client of a bucket of the emulator.

use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::{Mix, SimulatedScan};
use gcs::emulator::Emulator;
use gcs::{GcsConfig, GcsLocation, GcsObjects};

/// A bundle of `students` answer sheets and one clean-ish 150-dpi scan of each (scanner
/// captures, no stray marks: these tests are about storage, not reading).
pub fn fixture(students: usize) -> (RenderedFixture, Vec<SimulatedScan>) {
    let exam = example_exam().expect("exam");
    let fx = RenderedFixture::render(&exam, &roster(students), 7).expect("render");
    let opts = SetOptions {
        seed: 23,
        sheets: fx.sheet_pages().len(),
        dpi: 150,
        mix: Mix {
            all_styles: false,
            stray_rate: 0.0,
            ..Mix::scanner((75, 90))
        },
        keep_failures: None,
    };
    let scans = for_each_scan(&fx, &opts, |scan| scan).expect("simulate");
    (fx, scans)
}

/// Objects under `gs://BUCKET/PREFIX` of the emulator (the bucket created if need be), signing
/// URLs with `signer` when given.
pub async fn bucket(
    emulator: &Emulator,
    bucket: &str,
    prefix: &str,
    signer: Option<serde_json::Value>,
) -> GcsObjects {
    emulator.create_bucket(bucket);
    let location = GcsLocation::parse(&format!("gs://{bucket}/{prefix}"))
        .expect("gs")
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
