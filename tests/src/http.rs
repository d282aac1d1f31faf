//! What the end-to-end tests of the HTTP services share: a service binary started as a child
//! process on a loopback port of its own (`render-service serve`, `grader serve`), stopped on
//! drop; a token made by `grader token create`; and a small blocking HTTP client with bearer
//! auth, multipart bodies and problem documents shown on failure.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::workspace_binary;
use crate::e2e::{Db, text};

/// How long a service gets to answer `/readyz` after it is started (migrations included).
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Where and how to start a service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The working folder (where the default SQLite file lives).
    pub work: PathBuf,
    /// `DATABASE_URL`, or none for the default SQLite file of `work`.
    pub database_url: Option<String>,
    /// `GABARITO_STORAGE`: the object folder both services share.
    pub storage: PathBuf,
    /// More environment variables (worker count, lease, …).
    pub env: Vec<(String, String)>,
}

impl ServiceConfig {
    /// Both services on `db`, with the objects in `work/objects`.
    pub fn new(work: &Path, db: &Db) -> Self {
        Self {
            work: work.to_path_buf(),
            database_url: match db {
                Db::DefaultSqlite { .. } => None,
                Db::Postgres { url, .. } => Some(url.clone()),
            },
            storage: work.join("objects"),
            env: Vec::new(),
        }
    }

    /// The same, with one more environment variable.
    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A service binary running `serve` on `127.0.0.1:<port>`; killed (SIGKILL) on drop if still
/// running. Its stdout and stderr go to a log file, whose end is printed when a test fails
/// while it is alive.
pub struct Service {
    child: Child,
    name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
}

impl Service {
    /// Starts `bin serve` (`render-service` or `grader`) and waits until `/readyz` answers 200.
    ///
    /// # Panics
    ///
    /// When the binary cannot start or is not ready in time, with the end of its log.
    pub fn start(bin: &str, config: &ServiceConfig) -> Self {
        let port = free_port();
        let log = config.work.join(format!("{bin}-{port}.log"));
        let out = std::fs::File::create(&log).expect("service log");
        let err = out.try_clone().expect("service log");
        let mut cmd = Command::new(workspace_binary(bin));
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .current_dir(&config.work)
        .env_remove("DATABASE_URL")
        .env_remove("PORT")
        .env("GABARITO_STORAGE", &config.storage)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
        if let Some(url) = &config.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in &config.env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} serve: {e}"));
        let mut service = Service {
            child,
            name: format!("{bin}:{port}"),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        service.wait_ready();
        service
    }

    fn wait_ready(&mut self) {
        let client = Client::new(&self.base, None);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll service") {
                panic!(
                    "{} ended ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(r) = client.try_get("/readyz")
                && r.status == 200
            {
                return;
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "{} not ready after {READY_WITHIN:?}:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A client of this service, with `token` as its bearer token.
    pub fn client(&self, token: Option<&str>) -> Client {
        Client::new(&self.base, token)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (Cloud Run's stop): the service should stop taking work and hand back
    /// what it cannot finish.
    pub fn sigterm(&self) {
        signal(self.pid(), "TERM");
    }

    /// Sends SIGKILL: the instance dies on the spot, its job leases left to run out.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `within` for the process to end.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll service") {
                return Some(status);
            }
            if started.elapsed() >= within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() && matches!(self.child.try_wait(), Ok(None)) {
            eprintln!("--- {} log (end) ---\n{}", self.name, self.log_tail());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `SIG<name>` to `pid` with kill(1) (the workspace forbids unsafe code, libc::kill
/// included).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill(1)");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A loopback port nobody listens on now: the OS picks it, we let it go and the service binds
/// it a moment later.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// `grader token create --tenant TENANT --scope …` on `db` (run in `work`): the token, which
/// the command prints alone on its last line.
pub fn create_token(work: &Path, db: &Db, tenant: &str, scopes: &[&str]) -> String {
    let mut args: Vec<String> = vec!["token".into(), "create".into()];
    args.extend(["--tenant".into(), tenant.into()]);
    for s in scopes {
        args.extend(["--scope".into(), (*s).into()]);
    }
    args.extend(db.args());
    let out = crate::e2e::run(work, "grader", &args);
    assert!(
        out.status.success(),
        "grader token create failed: {}",
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| panic!("no token on stdout: {stdout:?}"))
}

/// An answer: its status, headers and whole body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Method and path, for messages.
    pub request: String,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        text(&self.body)
    }

    /// The body as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON, with the body.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: {} is not JSON ({e}): {}",
                self.request,
                self.status,
                self.text()
            )
        })
    }

    /// Asserts the status, showing the body (a problem document, usually) otherwise.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status,
            status,
            "{} answered {} (wanted {status}): {}",
            self.request,
            self.status,
            self.text()
        );
        self
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// The file name.
    pub file_name: String,
    /// Its media type.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl Part {
    /// A file part named `file`, typed from its name's extension.
    pub fn file(file_name: &str, bytes: Vec<u8>) -> Self {
        Self {
            name: "file".into(),
            file_name: file_name.into(),
            content_type: media_type(file_name).into(),
            bytes,
        }
    }
}

/// The media type of a scan file by its extension.
pub fn media_type(file_name: &str) -> &'static str {
    let lower = file_name.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".pdf") {
        "application/pdf"
    } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
        "image/tiff"
    } else {
        "image/jpeg"
    }
}

/// A `multipart/form-data` body and its content type.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let boundary = format!(
        "gabarito-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let mut body = Vec::new();
    for p in parts {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
             Content-Type: {}\r\n\r\n",
            p.name, p.file_name, p.content_type
        )
        .expect("write to a Vec");
        body.extend_from_slice(&p.bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").expect("write to a Vec");
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A blocking HTTP client of one service, with an optional bearer token. Every status is an
/// answer (no status is an error); only transport failures panic.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str, token: Option<&str>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .into();
        Self {
            agent,
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
        }
    }

    /// The same client with another token (or none).
    pub fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_string),
            ..self.clone()
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], None)
    }

    /// `GET path` with more headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, None)
    }

    /// `GET path`, transport errors returned rather than panicking (for polling a service
    /// that is starting).
    pub fn try_get(&self, path: &str) -> Result<Reply, String> {
        self.try_request("GET", path, &[], None)
    }

    /// `POST path` with a body of `content_type`.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.request("POST", path, &[], Some((content_type, body)))
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("JSON");
        self.post(path, "application/json", &bytes)
    }

    /// `PUT path` with a JSON body.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("JSON");
        self.request("PUT", path, &[], Some(("application/json", &bytes)))
    }

    /// `POST path` with a `multipart/form-data` body of `parts`.
    pub fn post_multipart(&self, path: &str, parts: &[Part]) -> Reply {
        let (content_type, body) = multipart(parts);
        self.post(path, &content_type, &body)
    }

    /// Any request.
    ///
    /// # Panics
    ///
    /// On a transport failure (connection refused or reset, timeout).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Reply {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Any request; a transport failure is an `Err` with the method and path.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Result<Reply, String> {
        let url = self.url(path);
        let request = format!("{method} {path}");
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let result = match body {
            Some((content_type, bytes)) => {
                let req = builder
                    .header("Content-Type", content_type)
                    .body(bytes.to_vec())
                    .map_err(|e| format!("{request}: {e}"))?;
                self.agent.run(req)
            }
            None => {
                let req = builder.body(()).map_err(|e| format!("{request}: {e}"))?;
                self.agent.run(req)
            }
        };
        let mut response = result.map_err(|e| format!("{request}: {e}"))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .reader()
            .read_to_end(&mut body)
            .map_err(|e| format!("{request}: reading the body: {e}"))?;
        Ok(Reply {
            status,
            headers,
            body,
            request,
        })
    }

    /// `GET path` with the body streamed into `sink` (for large PDFs): the status and the
    /// bytes read.
    pub fn download(&self, path: &str, sink: &mut impl Write) -> (u16, u64) {
        let mut builder = ureq::http::Request::builder()
            .method("GET")
            .uri(self.url(path));
        if let Some(t) = &self.token {
            builder = builder.header("Authorization", format!("Bearer {t}"));
        }
        let req = builder.body(()).expect("request");
        let mut response = self
            .agent
            .run(req)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let n = std::io::copy(
            &mut response.body_mut().with_config().limit(u64::MAX).reader(),
            sink,
        )
        .unwrap_or_else(|e| panic!("GET {path}: reading the body: {e}"));
        (status, n)
    }

    /// Polls `GET path` until its JSON `status` is `done` or `failed` (or `within` passes):
    /// the last answer.
    ///
    /// # Panics
    ///
    /// When it is neither after `within`, or a poll does not answer 200.
    pub fn poll_job(&self, path: &str, within: Duration) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let reply = self.get(path).expect(200);
            let json = reply.json();
            match json["status"].as_str() {
                Some("done" | "failed") => return json,
                Some("queued" | "running") => {}
                other => panic!("{path}: unknown status {other:?} in {json}"),
            }
            assert!(
                started.elapsed() < within,
                "{path} still {} after {within:?}: {json}",
                json["status"]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A scanner-style PDF: one page per image (each a grayscale JPEG drawn over the whole page,
/// its size in points from `dpi`), as a sheet feeder writes them.
pub fn scanner_pdf(jpegs: &[Vec<u8>], dpi: u32) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::with_capacity(jpegs.len());
    for bytes in jpegs {
        let img = image::load_from_memory(bytes).expect("scan decodes");
        let (w, h) = (img.width(), img.height());
        let (wp, hp) = (w as f32 * 72.0 / dpi as f32, h as f32 * 72.0 / dpi as f32);
        let jpeg = if image::guess_format(bytes).ok() == Some(image::ImageFormat::Jpeg) {
            bytes.clone()
        } else {
            crate::degrade::encode_jpeg(&img.to_luma8(), 85).expect("encode JPEG")
        };
        let color = if img.color().has_color() {
            "DeviceRGB"
        } else {
            "DeviceGray"
        };
        let image_id = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => w as i64, "Height" => h as i64,
                "ColorSpace" => color, "BitsPerComponent" => 8, "Filter" => "DCTDecode",
            },
            jpeg,
        ));
        let content = doc.add_object(Stream::new(
            dictionary! {},
            format!("q {wp:.2} 0 0 {hp:.2} 0 0 cm /Im0 Do Q").into_bytes(),
        ));
        kids.push(Object::Reference(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(wp), Object::Real(hp)],
            "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        })));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Count" => kids.len() as i64, "Kids" => kids },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("PDF");
    bytes
}

/// The example exam file (`examples/simulado-1.json`), as posted to `POST /v1/exams`.
pub fn exam_file() -> Vec<u8> {
    include_bytes!("../../examples/simulado-1.json").to_vec()
}

/// A roster of `n` students as the JSON body of `POST /v1/exams/{id}/bundles`.
pub fn roster_json(n: usize) -> serde_json::Value {
    serde_json::Value::Array(
        crate::fixture::roster(n)
            .iter()
            .map(|s| {
                serde_json::json!({"student_id": s.student_id, "name": s.name, "class": s.class})
            })
            .collect(),
    )
}

/// `POST /v1/exams` of the example exam: its id.
pub fn register_exam(render: &Client) -> String {
    let created = render
        .post("/v1/exams", "application/json", &exam_file())
        .expect(201)
        .json();
    created["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no exam id in {created}"))
        .to_string()
}

/// `POST /v1/exams/{id}/bundles` with a roster of `students`: the bundle's id (202 asserted).
pub fn queue_bundle(render: &Client, exam_id: &str, students: usize) -> String {
    let queued = render
        .post_json(
            &format!("/v1/exams/{exam_id}/bundles"),
            &roster_json(students),
        )
        .expect(202)
        .json();
    assert!(
        matches!(
            queued["status"].as_str(),
            Some("queued" | "running" | "done")
        ),
        "{queued}"
    );
    queued["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no bundle id in {queued}"))
        .to_string()
}

/// The manifest and PDF of a finished bundle, downloaded into `dir` (as `bundle.json` and
/// `bundle.pdf`); checks the PDF's `Content-Length` and a `Range` request.
pub fn download_bundle(
    render: &Client,
    bundle_id: &str,
    dir: &Path,
) -> crate::fixture::RenderedFixture {
    std::fs::create_dir_all(dir).expect("bundle dir");
    let manifest = render
        .get(&format!("/v1/bundles/{bundle_id}/manifest"))
        .expect(200);
    std::fs::write(dir.join("bundle.json"), &manifest.body).expect("bundle.json");
    let pdf = render
        .get(&format!("/v1/bundles/{bundle_id}/pdf"))
        .expect(200);
    assert!(pdf.body.starts_with(b"%PDF-"), "a PDF");
    assert_eq!(
        pdf.header("content-length")
            .and_then(|v| v.parse::<usize>().ok()),
        Some(pdf.body.len()),
        "Content-Length is the PDF's length"
    );
    assert!(
        pdf.header("content-type")
            .is_some_and(|t| t.starts_with("application/pdf")),
        "{:?}",
        pdf.header("content-type")
    );
    let part = render
        .get_with(
            &format!("/v1/bundles/{bundle_id}/pdf"),
            &[("Range", "bytes=100-199")],
        )
        .expect(206);
    assert!(part.body == pdf.body[100..200], "the range's bytes");
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", pdf.body.len()).as_str())
    );
    std::fs::write(dir.join("bundle.pdf"), &pdf.body).expect("bundle.pdf");
    crate::fixture::RenderedFixture::load(dir).expect("the manifest is a bundle")
}

/// An exam registered and a bundle of it rendered by a render-service, downloaded, and one scan
/// of each sheet simulated: the setup of every test that grades through the grader service.
pub struct ScannedBundle {
    /// The exam's id.
    pub exam_id: String,
    /// The bundle's manifest and PDF, as downloaded.
    pub fixture: crate::fixture::RenderedFixture,
    /// The scans' files, one per sheet.
    pub scans: PathBuf,
    /// What each scan holds.
    pub truths: Vec<crate::scenario::SheetTruth>,
}

impl ScannedBundle {
    /// Starts a render-service on `config`, renders `sheets` roster sheets within `within`,
    /// stops it, and simulates the scans with `seed` (under `work`).
    pub fn make(
        work: &Path,
        config: &ServiceConfig,
        token: &str,
        sheets: usize,
        seed: u64,
        within: Duration,
    ) -> Self {
        let render = Service::start("render-service", config);
        let api = render.client(Some(token));
        let exam_id = register_exam(&api);
        let bundle_id = queue_bundle(&api, &exam_id, sheets);
        let done = api.poll_job(&format!("/v1/bundles/{bundle_id}"), within);
        assert_eq!(done["status"], "done", "{done}");
        let fixture = download_bundle(&api, &bundle_id, &work.join("bundle"));
        drop(render);
        let scans = work.join("scans");
        let truths = crate::e2e::write_scans(&fixture, &scans, sheets, seed);
        ScannedBundle {
            exam_id,
            fixture,
            scans,
            truths,
        }
    }
}

/// `POST /v1/scans` of one file as the body; its graded pages (after its batch, if the
/// service made one).
pub fn post_scan(grader: &Client, name: &str, bytes: &[u8]) -> Vec<serde_json::Value> {
    let reply = grader.post("/v1/scans", media_type(name), bytes);
    scan_pages(grader, reply)
}

/// The id of a scan batch in a 202 answer.
pub fn batch_id(answer: &serde_json::Value) -> String {
    answer["id"]
        .as_str()
        .map_or_else(|| answer["id"].to_string(), str::to_string)
}

/// The graded pages of a `POST /v1/scans` answer: at once (200, 201), or when its batch is
/// done (202).
///
/// # Panics
///
/// On any other status, or a batch that fails or does not end within five minutes.
pub fn scan_pages(grader: &Client, reply: Reply) -> Vec<serde_json::Value> {
    match reply.status {
        200 | 201 => pages_of(&reply.json()),
        202 => {
            let id = batch_id(&reply.json());
            let done = grader.poll_job(&format!("/v1/scan-batches/{id}"), Duration::from_secs(300));
            assert_eq!(done["status"], "done", "{done}");
            pages_of(&done)
        }
        _ => panic!(
            "{} answered {}: {}",
            reply.request,
            reply.status,
            reply.text()
        ),
    }
}

/// Every page of a scans answer (one scan, many under `scans`, or a batch's under each
/// entry's `outcome`).
pub fn pages_of(answer: &serde_json::Value) -> Vec<serde_json::Value> {
    if let Some(scans) = answer["scans"].as_array() {
        return scans.iter().flat_map(pages_of).collect();
    }
    // A batch's entry: its scan's outcome.
    if answer["outcome"].is_object() {
        return pages_of(&answer["outcome"]);
    }
    answer["pages"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no pages in {answer}"))
}
