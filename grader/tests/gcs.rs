//! The grader on Cloud Storage (a real emulator, fake-gcs-server): a 60 MiB scanner PDF
//! uploaded through a signed URL is graded; files dropped into the bucket and announced by
//! storage events are graded once, whatever the order and number of deliveries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use gcs::GcsObjects;
use gcs::emulator::Emulator;
use grader::http::{AppState, GradeScans};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::{Ops, Worker};
use store::{ObjectStore, Scope, Store, TenantId};
use tokio_util::sync::CancellationToken;

const BUCKET: &str = "gabarito-grader";
const PREFIX: &str = "g";

struct Server {
    base: String,
    store: Store,
    objects: Arc<GcsObjects>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(emulator: &Emulator, events: bool) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("g.sqlite").display());
        let store = Store::connect(&url).await.expect("database");
        store.migrate().await.expect("migrate");
        let objects = Arc::new(
            common::bucket(
                emulator,
                BUCKET,
                PREFIX,
                Some(gcs::emulator::test_service_account()),
            )
            .await,
        );
        let worker = Worker::new(store.clone(), Worker::instance_name("grader-gcs-test"))
            .poll(Duration::from_millis(100));
        let ops = Ops {
            store: store.clone(),
            metrics: service::telemetry::install_metrics(),
        };
        let mut state = AppState::new(store.clone(), objects.clone(), ops, worker.wake());
        state.storage_events = events;
        let worker = worker.register(GradeScans {
            state: state.clone(),
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(worker.run(shutdown.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let app = grader::http::app(state);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        Server {
            base: format!("http://{addr}"),
            store,
            objects,
            shutdown,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A scanner's PDF of one sheet, padded with an unreferenced stream of random bytes to
/// `at_least` bytes (a real batch PDF is that large because of its many pages).
fn padded_pdf(jpeg: &[u8], at_least: usize) -> Vec<u8> {
    use rand::{RngExt, SeedableRng};
    let pdf = gabarito_tests::http::scanner_pdf(&[jpeg.to_vec()], 150);
    let mut doc = lopdf::Document::load_mem(&pdf).expect("pdf");
    let mut rng = rand::rngs::StdRng::seed_from_u64(60);
    let padding: Vec<u8> = (0..at_least).map(|_| rng.random()).collect();
    doc.add_object(lopdf::Stream::new(lopdf::dictionary! {}, padding));
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

/// A CloudEvent of `name`'s generation `generation`, as Eventarc posts it.
async fn deliver(
    http: &reqwest::Client,
    server: &Server,
    ce_id: &str,
    bucket: &str,
    name: &str,
    generation: i64,
) -> reqwest::Response {
    http.post(server.url("/v1/storage-events"))
        .header("ce-id", ce_id)
        .header("ce-specversion", "1.0")
        .header("ce-type", "google.cloud.storage.object.v1.finalized")
        .header(
            "ce-source",
            format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
        )
        .header("ce-subject", format!("objects/{name}"))
        .header("content-type", "application/json")
        .body(
            json!({
                "kind": "storage#object",
                "bucket": bucket,
                "name": name,
                "generation": generation.to_string(),
                "metageneration": "1",
                "size": "1234",
                "contentType": "image/jpeg",
            })
            .to_string(),
        )
        .send()
        .await
        .expect("event")
}

async fn event(
    http: &reqwest::Client,
    server: &Server,
    ce_id: &str,
    name: &str,
    generation: i64,
) -> Value {
    let r = deliver(http, server, ce_id, BUCKET, name, generation).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("json")
}

async fn wait_done(http: &reqwest::Client, server: &Server, token: &str, batch: &str) -> Value {
    let started = Instant::now();
    loop {
        let b: Value = http
            .get(server.url(&format!("/v1/scan-batches/{batch}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("batch")
            .json()
            .await
            .expect("json");
        if b["status"] == "done" || b["status"] == "failed" {
            return b;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "batch {batch} still {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn scenario() {
    let emulator = Emulator::start();
    let (fx, scans) = tokio::task::spawn_blocking(|| common::fixture(4))
        .await
        .expect("fixture");
    let server = Server::start(&emulator, true).await;
    let tenant = TenantId::new("escola-a").expect("tenant");
    server
        .store
        .ensure_bundle(&tenant, &fx.bundle)
        .await
        .expect("register");
    let token = server
        .store
        .create_token(&tenant, &[Scope::Scan], Some("test"))
        .await
        .expect("token")
        .token;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    let doc: Value = http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/scan-uploads",
        "/v1/scan-uploads/{id}/complete",
        "/v1/storage-events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    // --- A 60 MiB scanner PDF through a signed URL. ---
    let r = http
        .post(server.url("/v1/scan-uploads"))
        .bearer_auth(&token)
        .json(&json!({"file_name": "lote 1.pdf"}))
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), StatusCode::CREATED);
    let upload: Value = r.json().await.expect("json");
    let id = upload["upload_id"].as_str().expect("id").to_string();
    assert!(id.ends_with("_lote_1.pdf"), "{upload}");
    // Completing before uploading is a conflict, said as a problem.
    let r = http
        .post(server.url(&format!("/v1/scan-uploads/{id}/complete")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("complete");
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let pdf = tokio::task::spawn_blocking({
        let jpeg = scans[0].bytes.clone();
        move || padded_pdf(&jpeg, 60 * 1024 * 1024)
    })
    .await
    .expect("pdf");
    assert!(pdf.len() > 60 * 1024 * 1024);
    let put = http
        .put(upload["url"].as_str().expect("url"))
        .body(pdf)
        .send()
        .await
        .expect("PUT");
    assert!(put.status().is_success(), "{}", put.status());
    let complete = server.url(upload["complete"].as_str().expect("complete"));
    let r = http
        .post(&complete)
        .bearer_auth(&token)
        .send()
        .await
        .expect("complete");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let done: Value = r.json().await.expect("json");
    assert_eq!(done["status"], "queued", "{done}");
    let batch = done["batch_id"].as_str().expect("batch").to_string();
    let again: Value = http
        .post(&complete)
        .bearer_auth(&token)
        .send()
        .await
        .expect("complete")
        .json()
        .await
        .expect("json");
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["batch_id"], batch.as_str());
    let b = wait_done(&http, &server, &token, &batch).await;
    assert_eq!(b["status"], "done", "{b}");
    let page = &b["scans"][0]["outcome"]["pages"][0];
    assert_eq!(
        page["sheet_code"],
        scans[0].truth.sheet_code.printed(),
        "{b}"
    );
    assert!(page["score"].is_number(), "{page}");

    // --- Drop-folder events: twice, out of order, same bytes under two names. ---
    let inbox = |name: &str| format!("{PREFIX}/inbox/escola-a/{name}");
    let key = |name: &str| format!("escola-a/inbox/{name}");
    server
        .objects
        .put(&key("tray-1/s2.jpg"), &scans[1].bytes)
        .await
        .expect("drop");
    let g = server
        .objects
        .stat(&key("tray-1/s2.jpg"))
        .await
        .expect("stat");
    let g = g.generation.expect("generation");
    let first = event(&http, &server, "ev-1", &inbox("tray-1/s2.jpg"), g).await;
    assert_eq!(first["status"], "queued", "{first}");
    assert_eq!(first["tenant"], "escola-a");
    let twice = event(&http, &server, "ev-1", &inbox("tray-1/s2.jpg"), g).await;
    assert_eq!(twice["status"], "duplicate", "{twice}");
    assert_eq!(twice["batch_id"], first["batch_id"]);

    // s3.jpg is written twice; the second generation's event comes first.
    server
        .objects
        .put(&key("s3.jpg"), &scans[2].bytes)
        .await
        .expect("gen 1");
    let g1 = server
        .objects
        .stat(&key("s3.jpg"))
        .await
        .expect("stat")
        .generation
        .expect("g");
    server
        .objects
        .put(&key("s3.jpg"), &scans[3].bytes)
        .await
        .expect("gen 2");
    let g2 = server
        .objects
        .stat(&key("s3.jpg"))
        .await
        .expect("stat")
        .generation
        .expect("g");
    assert!(g2 > g1);
    let newer = event(&http, &server, "ev-3b", &inbox("s3.jpg"), g2).await;
    assert_eq!(newer["status"], "queued", "{newer}");
    let older = event(&http, &server, "ev-3a", &inbox("s3.jpg"), g1).await;
    assert_eq!(older["status"], "superseded", "{older}");
    let newer_again = event(&http, &server, "ev-3b-redelivered", &inbox("s3.jpg"), g2).await;
    assert_eq!(newer_again["status"], "duplicate", "{newer_again}");

    // The same bytes as s2.jpg under another name: the same scan.
    server
        .objects
        .put(&key("copy-of-s2.jpg"), &scans[1].bytes)
        .await
        .expect("copy");
    let gc = server
        .objects
        .stat(&key("copy-of-s2.jpg"))
        .await
        .expect("stat")
        .generation
        .expect("g");
    let copy = event(&http, &server, "ev-4", &inbox("copy-of-s2.jpg"), gc).await;
    assert!(
        copy["status"] == "queued" || copy["status"] == "already-graded",
        "{copy}"
    );
    assert_eq!(copy["scan_id"], first["scan_id"]);

    // The services' own objects, and other prefixes, are acknowledged and left alone.
    let own = event(
        &http,
        &server,
        "ev-5",
        &format!("{PREFIX}/scans/escola-a/ab/abcd"),
        1,
    )
    .await;
    assert_eq!(own["status"], "ignored", "{own}");
    let elsewhere = event(&http, &server, "ev-6", "other/inbox/escola-a/x.jpg", 1).await;
    assert_eq!(elsewhere["status"], "ignored", "{elsewhere}");
    // Refusals are problem documents: another bucket, a missing header, a bad body.
    let r = deliver(&http, &server, "ev-7", "another-bucket", &inbox("x.jpg"), 1).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let r = http
        .post(server.url("/v1/storage-events"))
        .header("ce-type", "google.cloud.storage.object.v1.finalized")
        .body("{}")
        .send()
        .await
        .expect("event");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    for b in [&first, &newer, &copy] {
        if let Some(batch) = b["batch_id"].as_str() {
            let b = wait_done(&http, &server, &token, batch).await;
            assert_eq!(b["status"], "done", "{b}");
        }
    }
    // Graded once each: the PDF, s2 (and its copy), s3's second generation; never s3's first.
    let stored = server.store.scans(&tenant).await.expect("scans");
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (i, scan) in scans.iter().enumerate() {
        let pages = server
            .store
            .pages_of_sheet(&tenant, &scan.truth.sheet_code)
            .await
            .expect("pages");
        let expected = usize::from(i != 2);
        assert_eq!(pages.len(), expected, "sheet {i}: {pages:?}");
    }
    server.shutdown.cancel();

    // A service without storage events refuses them.
    let off = Server::start(&emulator, false).await;
    let r = deliver(&http, &off, "ev-8", BUCKET, &inbox("tray-1/s2.jpg"), g).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    off.shutdown.cancel();
}

#[test]
fn scans_reach_the_grader_through_cloud_storage() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(scenario());
}
