//! The Cloud Vision fallback over real HTTP: `grader serve`'s API in-process (SQLite), and a
//! local server on 127.0.0.1:0 that speaks the `images:annotate` contract. That server decodes
//! each base64 PNG crop and reads it with the pipeline's own OCR (so a crop that is not the
//! printed id reads as nothing), counts calls and images per call, and can be switched to 500,
//! 429 with Retry-After, per-image errors, or hanging past the client's timeout.
//!
//! The grader runs with `GABARITO_OCR=vision` (no local OCR), so a scan whose QR code is
//! scribbled out can only be named through Vision.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::{Mix, QrDamage, SimulatedScan};
use grader::cloud_ocr::OcrChain;
use grader::http::{AppState, GradeScans};
use serde_json::{Value, json};
use service::{Ops, Worker};
use store::{LocalObjects, Scope, Store, TenantId};
use tokio_util::sync::CancellationToken;

const OK: u8 = 0;
const FAIL_500: u8 = 1;
const FAIL_429: u8 = 2;
const HANG: u8 = 3;
const IMAGE_ERROR: u8 = 4;

/// The fake Vision: its mode and what it was sent.
#[derive(Default)]
struct Vision {
    mode: AtomicU8,
    /// Images per call, one entry per call.
    calls: Mutex<Vec<usize>>,
}

impl Vision {
    fn calls(&self) -> Vec<usize> {
        self.calls.lock().expect("calls").clone()
    }
}

async fn annotate(State(v): State<Arc<Vision>>, Json(body): Json<Value>) -> Response {
    let requests = body["requests"].as_array().cloned().unwrap_or_default();
    v.calls.lock().expect("calls").push(requests.len());
    let error = |code: StatusCode, status: &str| {
        (
            code,
            Json(json!({"error": {"code": code.as_u16(), "message": "test", "status": status}})),
        )
    };
    match v.mode.load(Ordering::SeqCst) {
        FAIL_500 => return error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL").into_response(),
        FAIL_429 => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED").into_response();
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return r;
        }
        HANG => {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        _ => {}
    }
    if requests.is_empty() || requests.len() > 16 {
        return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT").into_response();
    }
    let mut responses = Vec::new();
    for r in &requests {
        assert_eq!(r["features"][0]["type"], "TEXT_DETECTION", "{r}");
        if v.mode.load(Ordering::SeqCst) == IMAGE_ERROR {
            responses.push(json!({"error": {"code": 3, "message": "Bad image data.", "status": "INVALID_ARGUMENT"}}));
            continue;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(r["image"]["content"].as_str().unwrap_or_default())
            .expect("base64 content");
        let crop = image::load_from_memory(&bytes)
            .expect("a PNG or JPEG image")
            .to_luma8();
        // A crop of the id region, never the page: a line of text and its margins.
        assert!(
            crop.width() < 1000 && crop.height() < 200 && crop.width() > 3 * crop.height(),
            "not a crop of the printed id: {}×{}",
            crop.width(),
            crop.height()
        );
        match pipeline::ocr::read(&crop) {
            Some(reading) => {
                let text = reading.best_text();
                responses.push(json!({
                    "textAnnotations": [{"locale": "en", "description": format!("{text}\n")},
                                        {"description": text}],
                    "fullTextAnnotation": {"text": format!("{text}\n")},
                }));
            }
            None => responses.push(json!({})),
        }
    }
    Json(json!({ "responses": responses })).into_response()
}

async fn start_vision() -> (String, Arc<Vision>) {
    let v = Arc::new(Vision::default());
    let app = axum::Router::new()
        .route("/v1/images:annotate", axum::routing::post(annotate))
        .with_state(Arc::clone(&v));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), v)
}

struct Server {
    base: String,
    store: Store,
    tenant: TenantId,
    client: Arc<vision::Client>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn start_grader(endpoint: &str) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("g.sqlite").display());
    let store = Store::connect(&url).await.expect("database");
    store.migrate().await.expect("migrate");
    let objects = Arc::new(LocalObjects::new(dir.path().join("objects")));
    let worker = Worker::new(store.clone(), Worker::instance_name("grader-vision-test"))
        .poll(Duration::from_millis(100));
    let ops = Ops {
        store: store.clone(),
        metrics: service::telemetry::install_metrics(),
    };
    let mut state = AppState::new(store.clone(), objects, ops, worker.wake());
    // GABARITO_OCR=vision, with short timeouts so that the hanging server costs seconds.
    let mut config = vision::Config::new(endpoint, vision::Auth::None);
    config.timeout = Duration::from_secs(2);
    config.retry_budget = Duration::from_secs(6);
    config.base_backoff = Duration::from_millis(50);
    config.max_backoff = Duration::from_secs(1);
    config.breaker_threshold = 2;
    let client = Arc::new(vision::Client::new(config).expect("vision client"));
    state.ocr = OcrChain {
        local: false,
        vision: Some(Arc::clone(&client)),
    };
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
        tenant: TenantId::new("escola-a").expect("tenant"),
        client,
        shutdown,
        _dir: dir,
    }
}

/// `students` sheets, about half with the QR code scribbled out (the printed id intact).
fn fixture(students: usize) -> (RenderedFixture, Vec<SimulatedScan>) {
    let exam = example_exam().expect("exam");
    let fx = RenderedFixture::render(&exam, &roster(students), 21).expect("render");
    let opts = SetOptions {
        seed: 0x0015_1011,
        sheets: fx.sheet_pages().len(),
        dpi: 200,
        mix: Mix {
            all_styles: false,
            stray_rate: 0.0,
            qr_scribble_rate: 0.55,
            ..Mix::scanner((80, 92))
        },
        keep_failures: None,
    };
    let scans = for_each_scan(&fx, &opts, |scan| scan).expect("simulate");
    (fx, scans)
}

fn scribbled(scan: &SimulatedScan) -> bool {
    scan.truth.qr_damage == Some(QrDamage::Scribbled)
}

async fn post(
    http: &reqwest::Client,
    server: &Server,
    token: &str,
    scans: &[&SimulatedScan],
) -> Vec<Value> {
    let mut form = reqwest::multipart::Form::new();
    for s in scans {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(s.bytes.clone())
                .file_name(s.truth.file_name.clone())
                .mime_str("image/jpeg")
                .expect("mime"),
        );
    }
    let r = http
        .post(format!("{}/v1/scans", server.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    let status = r.status();
    let mut answer: Value = r.json().await.expect("json");
    if status == reqwest::StatusCode::ACCEPTED {
        let id = answer["id"].as_str().expect("batch id").to_string();
        for _ in 0..1200 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            answer = http
                .get(format!("{}/v1/scan-batches/{id}", server.base))
                .bearer_auth(token)
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("json");
            if answer["status"] == "done" || answer["status"] == "failed" {
                break;
            }
        }
        assert_eq!(answer["status"], "done", "{answer}");
        return answer["scans"]
            .as_array()
            .expect("scans")
            .iter()
            .map(|s| s["outcome"].clone())
            .collect();
    }
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    answer["scans"].as_array().expect("scans").clone()
}

/// The one page of a scan's outcome.
fn page(scan: &Value) -> &Value {
    &scan["pages"][0]
}

async fn healthy(
    http: &reqwest::Client,
    server: &Server,
    vision: &Vision,
    token: &str,
    scans: &[SimulatedScan],
) {
    let n = scans.iter().filter(|s| scribbled(s)).count();
    assert!(
        n > 16,
        "{n} scribbled sheets: the test needs more than one call's worth"
    );
    let all: Vec<&SimulatedScan> = scans.iter().collect();
    let outcomes = post(http, server, token, &all).await;
    assert_eq!(outcomes.len(), scans.len());
    let mut by_vision = 0;
    for (s, o) in scans.iter().zip(&outcomes) {
        let p = page(o);
        let truth = s.truth.sheet_code.printed();
        if scribbled(s) {
            // Identified through Vision with the right code, never through a QR decoder.
            assert_eq!(
                p["identified_by"], "ocr-vision",
                "{}: {o}",
                s.truth.file_name
            );
            assert_eq!(p["sheet_code"], truth.as_str(), "{o}");
            assert!(p["score"].is_number(), "{o}");
            by_vision += 1;
        } else {
            assert_eq!(p["sheet_code"], truth.as_str(), "{o}");
            assert_ne!(p["identified_by"], "ocr-vision", "{o}");
        }
    }
    let calls = vision.calls();
    println!(
        "{n} scribbled of {}; Vision calls (images each): {calls:?}",
        scans.len()
    );
    assert_eq!(by_vision, n);
    assert_eq!(
        calls.iter().sum::<usize>(),
        n,
        "one image per scribbled sheet"
    );
    assert!(
        calls.len() <= n.div_ceil(16),
        "{} calls for {n} pages: {calls:?}",
        calls.len()
    );
}

/// Vision failing as `mode`: the scribbled sheets go to review, the others are graded, every
/// scan is recorded, the service answers, and the breaker opens.
async fn failing(mode: u8) {
    let (vision_url, vision) = start_vision().await;
    vision.mode.store(mode, Ordering::SeqCst);
    let server = start_grader(&vision_url).await;
    let (fx, scans) = tokio::task::spawn_blocking(|| fixture(12))
        .await
        .expect("fixture");
    server
        .store
        .ensure_bundle(&server.tenant, &fx.bundle)
        .await
        .expect("register");
    let token = server
        .store
        .create_token(&server.tenant, &[Scope::Admin], Some("test"))
        .await
        .expect("token")
        .token;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    // Three requests of four files (graded while the client waits), each with scribbled sheets.
    let mut outcomes = Vec::new();
    for chunk in scans.chunks(4) {
        let files: Vec<&SimulatedScan> = chunk.iter().collect();
        outcomes.extend(post(&http, &server, &token, &files).await);
    }
    assert_eq!(outcomes.len(), scans.len(), "every file answered");
    let mut to_review = 0;
    for (s, o) in scans.iter().zip(&outcomes) {
        let p = page(o);
        assert!(o["scan_id"].is_number(), "recorded: {o}");
        if scribbled(s) {
            assert!(p["sheet_code"].is_null(), "{o}");
            let review = p["review"].to_string();
            assert!(review.contains("unidentified"), "{o}");
            assert_eq!(o["open"], true, "{o}");
            to_review += 1;
        } else {
            assert_eq!(
                p["sheet_code"],
                s.truth.sheet_code.printed().as_str(),
                "{o}"
            );
            assert!(p["score"].is_number(), "{o}");
        }
    }
    assert!(
        to_review >= 3,
        "the test needs scribbled sheets ({to_review})"
    );
    assert_eq!(
        server.client.breaker_state(),
        vision::BreakerState::Open,
        "mode {mode}: the breaker opens after failed calls in a row"
    );
    let calls = vision.calls().len();
    // Per-image errors are answers, not failures of the service: they do not open it.
    let ready = http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(
        ready.status(),
        reqwest::StatusCode::OK,
        "the service stays healthy"
    );
    // The open breaker sends sheets straight to review without calling Vision.
    let again: Vec<&SimulatedScan> = scans.iter().filter(|s| scribbled(s)).take(1).collect();
    let mut copy = again[0].clone();
    copy.bytes.extend_from_slice(&[0u8; 16]); // other bytes, the same sheet: a new scan
    let o = post(&http, &server, &token, &[&copy]).await;
    assert!(page(&o[0])["sheet_code"].is_null(), "{}", o[0]);
    assert_eq!(
        vision.calls().len(),
        calls,
        "no call while the breaker is open"
    );
    println!("mode {mode}: {to_review} sheets to review, {calls} calls");
    server.shutdown.cancel();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn scribbled_qr_sheets_are_identified_through_vision_16_a_call() {
    runtime().block_on(async {
        let (vision_url, vision) = start_vision().await;
        vision.mode.store(OK, Ordering::SeqCst);
        let server = start_grader(&vision_url).await;
        let (fx, scans) = tokio::task::spawn_blocking(|| fixture(40))
            .await
            .expect("fixture");
        server
            .store
            .ensure_bundle(&server.tenant, &fx.bundle)
            .await
            .expect("register");
        let token = server
            .store
            .create_token(&server.tenant, &[Scope::Admin], Some("test"))
            .await
            .expect("token")
            .token;
        let http = reqwest::Client::new();
        healthy(&http, &server, &vision, &token, &scans).await;
        server.shutdown.cancel();
    });
}

#[test]
fn vision_answering_500_sends_those_sheets_to_review_and_opens_the_breaker() {
    runtime().block_on(failing(FAIL_500));
}

#[test]
fn vision_answering_429_sends_those_sheets_to_review_and_opens_the_breaker() {
    runtime().block_on(failing(FAIL_429));
}

#[test]
fn vision_hanging_past_the_timeout_sends_those_sheets_to_review() {
    runtime().block_on(failing(HANG));
}

#[test]
fn per_image_errors_send_those_sheets_to_review_without_opening_the_breaker() {
    runtime().block_on(async {
        let (vision_url, vision) = start_vision().await;
        vision.mode.store(IMAGE_ERROR, Ordering::SeqCst);
        let server = start_grader(&vision_url).await;
        let (fx, scans) = tokio::task::spawn_blocking(|| fixture(6))
            .await
            .expect("fixture");
        server
            .store
            .ensure_bundle(&server.tenant, &fx.bundle)
            .await
            .expect("register");
        let token = server
            .store
            .create_token(&server.tenant, &[Scope::Admin], Some("test"))
            .await
            .expect("token")
            .token;
        let http = reqwest::Client::new();
        let files: Vec<&SimulatedScan> = scans.iter().collect();
        let outcomes = post(&http, &server, &token, &files).await;
        for (s, o) in scans.iter().zip(&outcomes) {
            if scribbled(s) {
                assert!(page(o)["sheet_code"].is_null(), "{o}");
            } else {
                assert!(page(o)["score"].is_number(), "{o}");
            }
        }
        assert_eq!(server.client.breaker_state(), vision::BreakerState::Closed);
        server.shutdown.cancel();
    });
}
