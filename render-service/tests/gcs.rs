//! The render service on Cloud Storage (a real emulator, fake-gcs-server): a bundle is rendered
//! into the bucket, streamed back byte for byte (whole and by range), and handed over as a V4
//! signed URL with `?redirect=signed`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gcs::emulator::Emulator;
use gcs::{GcsConfig, GcsLocation, GcsObjects};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, RANGE};
use serde_json::{Value, json};
use service::Ops;
use store::{ObjectStore, Scope, Store, TenantId};
use tokio_util::sync::CancellationToken;

const EXAM: &str = include_str!("../../examples/simulado-1.json");

async fn flow() {
    let emulator = Emulator::start();
    emulator.create_bucket("gabarito-render");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("r.sqlite").display()))
        .await
        .expect("db");
    store.migrate().await.expect("migrate");
    let objects: Arc<dyn ObjectStore> = Arc::new(
        GcsObjects::new(
            GcsLocation::parse("gs://gabarito-render/r")
                .expect("gs")
                .expect("location"),
            GcsConfig {
                endpoint: Some(emulator.url.clone()),
                signer_key: Some(gcs::emulator::test_service_account()),
            },
        )
        .await
        .expect("client"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let ops = Ops {
        store: store.clone(),
        metrics: service::telemetry::install_metrics(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(render_service::http::run(
        listener,
        ops,
        objects,
        1,
        Duration::from_secs(30),
        shutdown.clone(),
    ));
    let tenant = TenantId::new("escola-a").expect("tenant");
    let token = store
        .create_token(&tenant, &[Scope::Render], Some("test"))
        .await
        .expect("token")
        .token;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = http
        .post(format!("{base}/v1/exams"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(EXAM)
        .send()
        .await
        .expect("exam");
    assert_eq!(r.status(), StatusCode::CREATED);
    let exam: Value = r.json().await.expect("json");
    let exam_id = exam["id"].as_str().expect("id");
    let r = http
        .post(format!("{base}/v1/exams/{exam_id}/bundles"))
        .bearer_auth(&token)
        .json(&json!({"copies": 6}))
        .send()
        .await
        .expect("bundle");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let bundle: Value = r.json().await.expect("json");
    let id = bundle["id"].as_str().expect("id").to_string();
    let started = Instant::now();
    let bundle = loop {
        let b: Value = http
            .get(format!("{base}/v1/bundles/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if b["status"] == "done" {
            break b;
        }
        assert!(b["status"] != "failed", "{b}");
        assert!(started.elapsed() < Duration::from_secs(180), "{b}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let pdf_url = format!("{base}/v1/bundles/{id}/pdf");
    let streamed = http
        .get(&pdf_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("pdf")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(Some(streamed.len() as u64), bundle["bytes"].as_u64());
    assert!(streamed.starts_with(b"%PDF"));
    let part = http
        .get(&pdf_url)
        .bearer_auth(&token)
        .header(RANGE, "bytes=-16")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.bytes().await.expect("tail"),
        streamed[streamed.len() - 16..]
    );

    let r = http
        .get(format!("{pdf_url}?redirect=signed"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("signed");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let signed = r.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    assert!(signed.starts_with(&emulator.url), "{signed}");
    assert!(signed.contains("X-Goog-Signature="), "{signed}");
    // The bucket serves it to whoever holds the URL, without the bearer token.
    let direct = http.get(&signed).send().await.expect("GET signed");
    assert_eq!(direct.status(), StatusCode::OK);
    assert_eq!(direct.bytes().await.expect("bytes"), streamed);

    shutdown.cancel();
    task.await.expect("join").expect("serve");
    store.close().await;
}

#[test]
fn bundles_live_in_cloud_storage() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(flow());
}
