//! The HTTP API over real HTTP: the server and its bundle worker started in-process on
//! loopback, on a fresh SQLite file, and on Postgres (a fresh schema) when
//! `GABARITO_TEST_POSTGRES` names a server.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::RngExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use serde_json::{Value, json};
use service::Ops;
use service::telemetry::install_metrics;
use sqlx::Connection;
use store::{LocalObjects, ObjectStore, Scope, Store, TenantId};
use tokio_util::sync::CancellationToken;

const EXAM: &str = include_str!("../../examples/simulado-1.json");
const ROSTER_CSV: &str = include_str!("../../examples/turma-3a.csv");

/// A running server and what the test needs of it.
struct Server {
    base: String,
    store: Store,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(store: Store) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let objects: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(dir.path().join("objects")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let ops = Ops {
            store: store.clone(),
            metrics: install_metrics(),
        };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(render_service::http::run(
            listener,
            ops,
            objects,
            2,
            std::time::Duration::from_secs(30),
            shutdown.clone(),
        ));
        Self {
            base,
            store,
            shutdown,
            task,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("serve");
        self.store.close().await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn token(&self, tenant: &TenantId, scopes: &[Scope]) -> String {
        self.store
            .create_token(tenant, scopes, Some("test"))
            .await
            .expect("token")
            .token
    }
}

fn random_tenant(prefix: &str) -> TenantId {
    let n: u32 = rand::rng().random();
    TenantId::new(&format!("{prefix}-{n:08x}")).expect("tenant")
}

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/problem+json",
        "{status}"
    );
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

/// Polls a bundle until it is done (or failed, which fails the test).
async fn wait_done(http: &reqwest::Client, server: &Server, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let bundle: Value = http
            .get(server.url(&format!("/v1/bundles/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("get bundle")
            .json()
            .await
            .expect("bundle json");
        match bundle["status"].as_str() {
            Some("done") => return bundle,
            Some("queued" | "running") => {}
            _ => panic!("bundle {id}: {bundle}"),
        }
        assert!(Instant::now() < deadline, "bundle {id} not done: {bundle}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn flow(store: Store) {
    let server = Server::start(store).await;
    let http = reqwest::Client::new();
    let tenant = random_tenant("escola");
    let render = server.token(&tenant, &[Scope::Render]).await;
    let scan_only = server.token(&tenant, &[Scope::Scan]).await;
    let other = server.token(&random_tenant("outra"), &[Scope::Admin]).await;

    // Operations routes need no token; the document lists every route.
    let doc: Value = http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi json");
    for path in [
        "/v1/exams",
        "/v1/exams/{id}",
        "/v1/exams/{id}/bundles",
        "/v1/bundles/{id}",
        "/v1/bundles/{id}/pdf",
        "/v1/bundles/{id}/manifest",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }

    // Auth: none → 401, the wrong scope → 403.
    let r = http
        .post(server.url("/v1/exams"))
        .header(CONTENT_TYPE, "application/json")
        .body(EXAM)
        .send()
        .await
        .expect("post");
    problem(r, StatusCode::UNAUTHORIZED).await;
    let r = http
        .post(server.url("/v1/exams"))
        .bearer_auth(&scan_only)
        .header(CONTENT_TYPE, "application/json")
        .body(EXAM)
        .send()
        .await
        .expect("post");
    problem(r, StatusCode::FORBIDDEN).await;

    // An exam registered, and read back.
    let r = http
        .post(server.url("/v1/exams"))
        .bearer_auth(&render)
        .header(CONTENT_TYPE, "application/json")
        .body(EXAM)
        .send()
        .await
        .expect("post exam");
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    let exam_id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(location, format!("/v1/exams/{exam_id}"));
    let exam: Value = http
        .get(server.url(&location))
        .bearer_auth(&render)
        .send()
        .await
        .expect("get exam")
        .json()
        .await
        .expect("exam json");
    assert_eq!(exam["id"], exam_id.as_str());
    assert_eq!(exam["title"], "Simulado 1 — Matemática");
    assert_eq!(exam["exam"]["versions"], json!(["A", "B"]));

    // An invalid exam names the field at fault.
    let mut bad: Value = serde_json::from_str(EXAM).expect("exam");
    bad["questions"][2]["choices"] = json!(1);
    let r = http
        .post(server.url("/v1/exams"))
        .bearer_auth(&render)
        .json(&bad)
        .send()
        .await
        .expect("post");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let field = p["errors"][0]["field"].as_str().expect("field");
    assert!(field.starts_with("questions[2]"), "{p}");

    // Bad rosters are refused before anything is queued, naming the rows.
    let bundles = server.url(&format!("/v1/exams/{exam_id}/bundles"));
    let r = http
        .post(&bundles)
        .bearer_auth(&render)
        .json(&json!([
            {"student_id": "1", "name": "Ana", "class": "3A"},
            {"student_id": "1", "name": "Bia", "class": "3A"},
        ]))
        .send()
        .await
        .expect("post");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["row"], 1, "{p}");
    let r = http
        .post(&bundles)
        .bearer_auth(&render)
        .header(CONTENT_TYPE, "text/csv")
        .body("student_id,name,class\n1,Ana,3A\n2,,3A\n")
        .send()
        .await
        .expect("post");
    let p = problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(p["errors"][0]["row"], 3, "{p}");
    let r = http
        .post(&bundles)
        .bearer_auth(&render)
        .json(&json!({"copies": 100_000}))
        .send()
        .await
        .expect("post");
    problem(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let r = http
        .post(server.url("/v1/exams/nope/bundles"))
        .bearer_auth(&render)
        .json(&json!({"copies": 1}))
        .send()
        .await
        .expect("post");
    problem(r, StatusCode::NOT_FOUND).await;

    // Three bundles: a JSON roster, the roster CSV, anonymous copies.
    let mut ids = Vec::new();
    for (content_type, body, sheets) in [
        (
            "application/json",
            json!([
                {"student_id": "a1", "name": "Ana Lúcia", "class": "3A"},
                {"student_id": "a2", "name": "João Brandão", "class": "3B"},
                {"student_id": "a3", "name": "Zé", "class": "3A"},
            ])
            .to_string(),
            3,
        ),
        ("text/csv; charset=utf-8", ROSTER_CSV.to_string(), 40),
        ("application/json", json!({"copies": 2}).to_string(), 2),
    ] {
        let r = http
            .post(&bundles)
            .bearer_auth(&render)
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("post bundle");
        assert_eq!(r.status(), StatusCode::ACCEPTED, "{content_type}");
        let location = r.headers()[LOCATION]
            .to_str()
            .expect("location")
            .to_string();
        let bundle: Value = r.json().await.expect("json");
        let id = bundle["id"].as_str().expect("id").to_string();
        assert_eq!(location, format!("/v1/bundles/{id}"));
        assert_eq!(bundle["exam_id"], exam_id.as_str());
        assert!(
            ["queued", "running"].contains(&bundle["status"].as_str().unwrap_or_default()),
            "{bundle}"
        );
        assert!(bundle["progress"]["pages_total"].as_u64().unwrap_or(0) >= sheets);
        ids.push((id, sheets));
    }

    for (id, sheets) in &ids {
        let bundle = wait_done(&http, &server, &render, id).await;
        let pages = bundle["pages"].as_u64().expect("pages");
        assert!(pages >= *sheets, "{bundle}");
        assert_eq!(bundle["progress"]["pages_done"], pages, "{bundle}");
        let pdf_url = server.url(bundle["pdf_url"].as_str().expect("pdf_url"));
        let bytes = bundle["bytes"].as_u64().expect("bytes");

        let r = http
            .get(&pdf_url)
            .bearer_auth(&render)
            .send()
            .await
            .expect("pdf");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "application/pdf");
        assert_eq!(r.headers()["accept-ranges"], "bytes");
        assert_eq!(r.headers()[CONTENT_LENGTH], bytes.to_string().as_str());
        let pdf = r.bytes().await.expect("pdf bytes");
        assert_eq!(pdf.len() as u64, bytes);
        assert!(pdf.starts_with(b"%PDF"));
        // A local folder signs no URL: `?redirect=signed` is answered with the bytes.
        let r = http
            .get(format!("{pdf_url}?redirect=signed"))
            .bearer_auth(&render)
            .send()
            .await
            .expect("pdf");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.expect("pdf bytes"), pdf);
        let r = http
            .get(format!("{pdf_url}?redirect=maybe"))
            .bearer_auth(&render)
            .send()
            .await
            .expect("pdf");
        problem(r, StatusCode::BAD_REQUEST).await;

        let r = http
            .get(&pdf_url)
            .bearer_auth(&render)
            .header(RANGE, "bytes=0-3")
            .send()
            .await
            .expect("range");
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.headers()[CONTENT_RANGE],
            format!("bytes 0-3/{bytes}").as_str()
        );
        assert_eq!(r.bytes().await.expect("part").as_ref(), b"%PDF");
        let r = http
            .get(&pdf_url)
            .bearer_auth(&render)
            .header(RANGE, "bytes=-10")
            .send()
            .await
            .expect("suffix");
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(
            r.bytes().await.expect("tail").as_ref(),
            &pdf[pdf.len() - 10..]
        );
        let r = http
            .get(&pdf_url)
            .bearer_auth(&render)
            .header(RANGE, format!("bytes={bytes}-"))
            .send()
            .await
            .expect("beyond");
        assert_eq!(
            r.headers()[CONTENT_RANGE],
            format!("bytes */{bytes}").as_str()
        );
        problem(r, StatusCode::RANGE_NOT_SATISFIABLE).await;

        let manifest: Value = http
            .get(server.url(bundle["manifest_url"].as_str().expect("manifest_url")))
            .bearer_auth(&render)
            .send()
            .await
            .expect("manifest")
            .json()
            .await
            .expect("manifest json");
        assert_eq!(manifest["exam_id"], exam_id.as_str());
        assert_eq!(
            manifest["pages"].as_array().expect("pages").len() as u64,
            pages
        );

        // Another tenant's bundle is not found, exactly like a missing one.
        for path in [format!("/v1/bundles/{id}"), format!("/v1/bundles/{id}/pdf")] {
            let r = http
                .get(server.url(&path))
                .bearer_auth(&other)
                .send()
                .await
                .expect("other tenant");
            problem(r, StatusCode::NOT_FOUND).await;
        }
    }
    // The sheets of the three bundles are registered under the exam, once each.
    let sheets = server
        .store
        .sheets(&tenant, &exam_id)
        .await
        .expect("sheets");
    let pages: u64 = {
        let mut total = 0;
        for (id, _) in &ids {
            let b = server
                .store
                .bundle(&tenant, id)
                .await
                .expect("bundle")
                .expect("exists");
            total += u64::from(b.pages_total);
        }
        total
    };
    assert_eq!(sheets.len() as u64, pages);

    let r = http
        .get(server.url("/v1/bundles/nope"))
        .bearer_auth(&render)
        .send()
        .await
        .expect("missing");
    problem(r, StatusCode::NOT_FOUND).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("gabarito.sqlite").display());
    let store = Store::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate");
    flow(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_on_postgres() {
    let Ok(url) = std::env::var("GABARITO_TEST_POSTGRES") else {
        eprintln!("GABARITO_TEST_POSTGRES is not set: the Postgres half is skipped");
        return;
    };
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Postgres at {url}: {e}"));
    let schema = format!(
        "render_http_test_{}_{:08x}",
        std::process::id(),
        rand::rng().random::<u32>()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let options = sqlx::postgres::PgConnectOptions::from_str(&url)
        .expect("postgres URL")
        .options([("search_path", schema.as_str())]);
    let store = Store::connect_postgres(options)
        .await
        .expect("open postgres");
    store.migrate().await.expect("migrate");
    let result = tokio::spawn(flow(store)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await
        .expect("drop schema");
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
