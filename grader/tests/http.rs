//! The grader's HTTP API over real HTTP: the server started in-process on 127.0.0.1:0 against
//! SQLite (and Postgres when `GABARITO_TEST_POSTGRES` is set), scans rendered by the real
//! renderer and simulated by the test simulator, a real HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::{Mix, SimulatedScan};
use grader::http::{AppState, GradeScans};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use service::{Ops, Worker};
use store::{LocalObjects, Scope, Store, TenantId};
use tokio_util::sync::CancellationToken;

/// A running server and what a test needs to talk to it.
struct Server {
    base: String,
    store: Store,
    tenant: TenantId,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(url: Option<String>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let url =
            url.unwrap_or_else(|| format!("sqlite:{}", dir.path().join("g.sqlite").display()));
        let store = Store::connect(&url).await.expect("database");
        store.migrate().await.expect("migrate");
        let objects = Arc::new(LocalObjects::new(dir.path().join("objects")));
        let worker = Worker::new(store.clone(), Worker::instance_name("grader-test"))
            .poll(Duration::from_millis(100));
        let ops = Ops {
            store: store.clone(),
            metrics: service::telemetry::install_metrics(),
        };
        let state = AppState::new(store.clone(), objects, ops, worker.wake());
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
            shutdown,
            _dir: dir,
        }
    }

    async fn token(&self, tenant: &TenantId, scopes: &[Scope]) -> String {
        self.store
            .create_token(tenant, scopes, Some("test"))
            .await
            .expect("token")
            .token
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The example exam rendered for `students` students, and a clean simulated scan of each.
fn fixture(students: usize) -> (RenderedFixture, Vec<SimulatedScan>) {
    let exam = example_exam().expect("exam");
    let fx = RenderedFixture::render(&exam, &roster(students), 7).expect("render");
    let opts = SetOptions {
        seed: 11,
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

async fn problem(response: reqwest::Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(
        body["type"],
        format!("urn:gabarito:problem:{kind}"),
        "{body}"
    );
    body
}

async fn scenario(url: Option<String>) {
    let (fx, scans) = tokio::task::spawn_blocking(|| fixture(10))
        .await
        .expect("fixture");
    let server = Server::start(url).await;
    let tenant = server.tenant.clone();
    let exam_id = server
        .store
        .ensure_bundle(&tenant, &fx.bundle)
        .await
        .expect("register")
        .exam_id;
    let scan_token = server.token(&tenant, &[Scope::Scan]).await;
    let results_token = server.token(&tenant, &[Scope::Results]).await;
    let other = TenantId::new("escola-b").expect("tenant");
    let other_token = server.token(&other, &[Scope::Admin]).await;
    // A request refused before its body is read (401, 403, 413) ends its connection; a pooled
    // client could send the next request on it as it closes. One connection a request.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    // Operations need no token; the document lists the routes.
    let doc: Value = http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/scans",
        "/v1/scans/{id}",
        "/v1/scans/{id}/annotated",
        "/v1/scan-batches/{id}",
        "/v1/exams/{id}/results",
        "/v1/exams/{id}/stats",
        "/v1/exams/{id}/review",
        "/v1/review/{item}",
        "/v1/review/{item}/image",
        "/v1/exams/{id}/key",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    // 401 without a token or with a bad one, 403 with the wrong scope.
    let first = &scans[0];
    let post = |token: Option<&str>, bytes: Vec<u8>| {
        let mut r = http
            .post(server.url("/v1/scans"))
            .header("content-type", "image/jpeg")
            .header(
                "content-disposition",
                "attachment; filename=\"sheet-1.jpg\"",
            )
            .body(bytes);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = post(None, first.bytes.clone()).await.expect("post");
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = post(Some("gab_nonsense"), first.bytes.clone())
        .await
        .expect("post");
    problem(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = post(Some(&results_token), first.bytes.clone())
        .await
        .expect("post");
    problem(r, StatusCode::FORBIDDEN, "forbidden").await;

    // One image: graded while the client waits.
    let r = post(Some(&scan_token), first.bytes.clone())
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let graded: Value = r.json().await.expect("json");
    let entry = &graded["scans"][0];
    assert_eq!(entry["status"], "graded", "{graded}");
    assert_eq!(entry["file_name"], "sheet-1.jpg");
    let page = &entry["pages"][0];
    assert_eq!(
        page["sheet_code"],
        first.truth.sheet_code.printed(),
        "{page}"
    );
    assert!(page["identified_by"].is_string(), "{page}");
    assert!(page["score"].is_number(), "{page}");
    assert_eq!(page["answers"].as_array().map(Vec::len), Some(90));
    let scan_id = entry["scan_id"].as_i64().expect("scan id");

    // The same bytes again: the stored outcome, one scan.
    let r = post(Some(&scan_token), first.bytes.clone())
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let again: Value = r.json().await.expect("json");
    assert_eq!(again["scans"][0]["status"], "already-graded");
    assert_eq!(again["scans"][0]["scan_id"], scan_id);
    assert_eq!(again["scans"][0]["pages"], entry["pages"]);
    assert_eq!(server.store.scans(&tenant).await.expect("scans").len(), 1);

    // The scan by id; another school's token does not find it.
    let stored: Value = http
        .get(server.url(&format!("/v1/scans/{scan_id}")))
        .bearer_auth(&scan_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(stored["pages"], entry["pages"]);
    let r = http
        .get(server.url(&format!("/v1/scans/{scan_id}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("get");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;
    let r = http
        .get(server.url(&format!("/v1/exams/{exam_id}/results")))
        .bearer_auth(&other_token)
        .send()
        .await
        .expect("get");
    problem(r, StatusCode::NOT_FOUND, "not-found").await;

    // The annotated page is a PNG.
    let r = http
        .get(server.url(&format!("/v1/scans/{scan_id}/annotated")))
        .bearer_auth(&scan_token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let png = r.bytes().await.expect("png");
    assert!(png.starts_with(b"\x89PNG"));

    // A corrupt file alone: 422, with the pipeline's reason; recorded as refused.
    let r = post(
        Some(&scan_token),
        b"\xff\xd8\xff\xe0 not really a jpeg".to_vec(),
    )
    .await
    .expect("post");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unreadable-scan").await;
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("sheet-1.jpg")),
        "{p}"
    );
    // Over 32 MiB: 413, saying why.
    let r = post(Some(&scan_token), vec![0u8; 33 * 1024 * 1024])
        .await
        .expect("post");
    let p = problem(r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("32 MiB")),
        "{p}"
    );
    // Not a scan type.
    let r = http
        .post(server.url("/v1/scans"))
        .bearer_auth(&scan_token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("post");
    problem(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    )
    .await;

    // Multipart: a good file and a corrupt one, each with its own entry.
    let form = Form::new()
        .part(
            "file",
            Part::bytes(scans[1].bytes.clone()).file_name("sheet-2.jpg"),
        )
        .part(
            "file",
            Part::bytes(b"garbage".to_vec()).file_name("junk.png"),
        );
    let r = http
        .post(server.url("/v1/scans"))
        .bearer_auth(&scan_token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let both: Value = r.json().await.expect("json");
    assert_eq!(both["scans"][0]["status"], "graded", "{both}");
    assert_eq!(both["scans"][1]["status"], "unreadable", "{both}");
    assert!(both["scans"][1]["error"].is_string());

    // Nine files: more than a request graded at once, so a batch.
    let mut form = Form::new();
    for s in &scans[1..10] {
        form = form.part(
            "file",
            Part::bytes(s.bytes.clone()).file_name(s.truth.file_name.clone()),
        );
    }
    let r = http
        .post(server.url("/v1/scans"))
        .bearer_auth(&scan_token)
        .multipart(form)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_string();
    let accepted: Value = r.json().await.expect("json");
    assert_eq!(
        location,
        format!("/v1/scan-batches/{}", accepted["id"].as_str().expect("id"))
    );
    let mut batch = Value::Null;
    for _ in 0..600 {
        batch = http
            .get(server.url(&location))
            .bearer_auth(&scan_token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if batch["status"] == "done" || batch["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(batch["status"], "done", "{batch}");
    assert_eq!(batch["progress"]["total"], 9);
    assert_eq!(batch["progress"]["done"], 9);
    for (s, truth) in batch["scans"]
        .as_array()
        .expect("scans")
        .iter()
        .zip(&scans[1..10])
    {
        assert_eq!(
            s["outcome"]["pages"][0]["sheet_code"],
            truth.truth.sheet_code.printed(),
            "{s}"
        );
    }
    // Every sheet graded once: 10 scans of sheets and the corrupt ones.
    let graded = server
        .store
        .scans(&tenant)
        .await
        .expect("scans")
        .iter()
        .filter(|s| s.status == store::ScanStatus::Graded)
        .count();
    assert_eq!(graded, 10);

    // Results: the CSV of `grader results --csv`, and the statistics.
    let r = http
        .get(server.url(&format!("/v1/exams/{exam_id}/results")))
        .bearer_auth(&results_token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.expect("csv");
    let results = server
        .store
        .results(&tenant, &exam_id)
        .await
        .expect("results");
    let mut expected = Vec::new();
    model::results::write_csv(&results, &mut expected).expect("csv");
    assert_eq!(csv.as_bytes(), expected.as_slice());
    assert_eq!(csv.lines().count(), 11, "header and ten students");
    let stats: Value = http
        .get(server.url(&format!("/v1/exams/{exam_id}/stats")))
        .bearer_auth(&results_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["items"].as_array().map(Vec::len), Some(90));
    assert_eq!(stats["sheets"], 10);

    // The review queue answers, every image URL a PNG.
    let review: Value = http
        .get(server.url(&format!("/v1/exams/{exam_id}/review")))
        .bearer_auth(&results_token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    for item in review["items"].as_array().expect("items").iter().take(2) {
        let url = item["image_url"].as_str().expect("url");
        let r = http
            .get(server.url(url))
            .bearer_auth(&results_token)
            .send()
            .await
            .expect("get");
        assert!(
            r.status() == StatusCode::OK || r.status() == StatusCode::CONFLICT,
            "{item}"
        );
    }

    // A key change: a bad one names its field; annulling a question re-scores.
    let r = http
        .put(server.url(&format!("/v1/exams/{exam_id}/key")))
        .bearer_auth(&results_token)
        .json(&serde_json::json!({"changes": [{"question": 2, "key": "Z"}]}))
        .send()
        .await
        .expect("put");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable").await;
    assert_eq!(p["errors"][0]["field"], "changes[0].key");
    let r = http
        .put(server.url(&format!("/v1/exams/{exam_id}/key")))
        .bearer_auth(&results_token)
        .json(&serde_json::json!({"changes": [{"question": 1, "annulled": true}]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["sheets"], 10, "{report}");

    server.shutdown.cancel();
    server.store.close().await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn the_api_on_sqlite() {
    runtime().block_on(scenario(None));
}

#[test]
fn the_api_on_postgres() {
    let Ok(admin) = std::env::var("GABARITO_TEST_POSTGRES") else {
        eprintln!("GABARITO_TEST_POSTGRES not set: Postgres run skipped");
        return;
    };
    let db = gabarito_tests::e2e::Db::postgres();
    let _ = admin;
    runtime().block_on(scenario(Some(db.url())));
}
