//! The object-storage contract (`store::objects_contract`) on Cloud Storage, against a real
//! emulator (fake-gcs-server), and signed URLs round trip through it.

mod common;

use gcs::emulator::Emulator;
use store::{ObjectStore, SignedMethod};

#[tokio::test(flavor = "multi_thread")]
async fn cloud_storage_keeps_the_object_storage_contract() {
    let emulator = Emulator::start();
    let objects = common::objects(&emulator, "gabarito-contract", "ci/run-1", None).await;
    assert_eq!(objects.describe(), "gs://gabarito-contract/ci/run-1");
    store::objects_contract::run_all(&objects, "escola-a").await;
    // Without a prefix, too.
    let bare = common::objects(&emulator, "gabarito-bare", "", None).await;
    store::objects_contract::run_all(&bare, "escola-b").await;
    // The kind comes first in the bucket (lifecycle rules match it by prefix).
    let (status, listing) = emulator.request(
        "GET",
        "/storage/v1/b/gabarito-contract/o?prefix=ci/run-1/scans/escola-a/",
        "",
    );
    assert_eq!(status, 200, "{listing}");
    assert!(listing.contains("ci/run-1/scans/escola-a/"), "{listing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_urls_round_trip_through_the_emulator() {
    let emulator = Emulator::start();
    let objects = common::objects(
        &emulator,
        "gabarito-signed",
        "p",
        Some(gcs::emulator::test_service_account()),
    )
    .await;
    let key = "escola-a/bundles/b1/bundle.pdf";
    objects.put(key, b"%PDF-1.7 a bundle").await.expect("put");
    let url = objects
        .signed_url(key, SignedMethod::Get, std::time::Duration::from_secs(600))
        .await
        .expect("sign GET");
    assert!(
        url.starts_with(&format!(
            "{}/gabarito-signed/p/bundles/escola-a/b1/bundle.pdf?",
            emulator.url
        )),
        "{url}"
    );
    assert!(url.contains("X-Goog-Algorithm=GOOG4-RSA-SHA256"), "{url}");
    assert!(url.contains("X-Goog-Signature="), "{url}");
    let http = reqwest::Client::new();
    let got = http.get(&url).send().await.expect("GET signed");
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.bytes().await.expect("body").as_ref(),
        b"%PDF-1.7 a bundle"
    );

    // An upload through a signed PUT lands under the key.
    let upload = "escola-a/uploads/up_1";
    let url = objects
        .signed_url(
            upload,
            SignedMethod::Put,
            std::time::Duration::from_secs(600),
        )
        .await
        .expect("sign PUT");
    let put = http
        .put(&url)
        .body(b"scanner bytes".to_vec())
        .send()
        .await
        .expect("PUT signed");
    assert!(put.status().is_success(), "{}", put.status());
    assert_eq!(
        objects.get(upload).await.expect("uploaded"),
        b"scanner bytes"
    );
    // A lifetime beyond Cloud Storage's 7 days is cut to 7 days, not refused.
    let week = objects
        .signed_url(
            key,
            SignedMethod::Get,
            std::time::Duration::from_secs(30 * 24 * 3600),
        )
        .await
        .expect("sign");
    assert!(week.contains("X-Goog-Expires=604800"), "{week}");
}
