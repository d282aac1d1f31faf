//! The Cloud Vision client: `TEXT_DETECTION` of small crops of the printed sheet id, the
//! grader's last automatic resort when no QR decoder nor the local OCR named a sheet.
//!
//! - `POST {endpoint}/v1/images:annotate`, images inline (base64), at most
//!   [`MAX_IMAGES_PER_REQUEST`] a request and under [`MAX_REQUEST_BYTES`] of JSON, as Google
//!   documents the contract.
//! - Auth: an API key (`x-goog-api-key`), else an Application Default Credentials access token
//!   (built on first use, never in tests).
//! - A timeout per call; retries on 429, 5xx, timeouts and transport errors with exponential
//!   backoff and full jitter (Retry-After honoured), all within a bounded total time.
//! - A circuit breaker: after [`Config::breaker_threshold`] failed calls in a row it opens and
//!   every call is refused at once (the pages go to review) until [`Config::breaker_cooldown`]
//!   has passed; then one call probes (half-open) and closes it again if it succeeds.
//! - Prometheus metrics (the `metrics` facade; the services export them at `/metrics`): calls,
//!   images, failures, breaker state and the estimated cost ([`names`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngExt;
use serde::Deserialize;
use serde_json::json;

/// Google's limit of images in one `images:annotate` request.
pub const MAX_IMAGES_PER_REQUEST: usize = 16;
/// Google's limit is 10 MB of JSON a request; kept a little under it.
pub const MAX_REQUEST_BYTES: usize = 9 * 1024 * 1024;
/// The public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://vision.googleapis.com";
/// Price past the free tier, US$ per image (one feature): US$1.50 per 1,000.
pub const USD_PER_IMAGE: f64 = 1.5 / 1000.0;
/// The OAuth scope of an ADC token for Vision.
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-vision";

/// Names of the metrics this client publishes.
pub mod names {
    /// `images:annotate` calls, by outcome (`ok`, `failed`, `refused` while the breaker is open).
    pub const CALLS: &str = "gabarito_vision_calls_total";
    /// Images sent in calls that were answered (what Google bills).
    pub const IMAGES: &str = "gabarito_vision_images_total";
    /// Failures, by kind (`http-429`, `http-5xx`, `http-4xx`, `timeout`, `transport`,
    /// `response`, `image`): every failed attempt, and every per-image error.
    pub const FAILURES: &str = "gabarito_vision_failures_total";
    /// The breaker: 0 closed, 1 half-open, 2 open.
    pub const BREAKER: &str = "gabarito_vision_breaker_state";
    /// Estimated spend, US$ (images × US$1.50 per 1,000; the monthly free tier not deducted).
    pub const COST: &str = "gabarito_vision_estimated_cost_usd";
}

/// Describes the metrics (once per process, with the recorder installed).
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::CALLS,
        "Cloud Vision images:annotate calls, by outcome"
    );
    metrics::describe_counter!(names::IMAGES, "Images sent to Cloud Vision and answered");
    metrics::describe_counter!(names::FAILURES, "Cloud Vision failures, by kind");
    metrics::describe_gauge!(
        names::BREAKER,
        "Cloud Vision circuit breaker: 0 closed, 1 half-open, 2 open"
    );
    metrics::describe_gauge!(
        names::COST,
        "Estimated Cloud Vision spend in US$ (1.50 per 1,000 images)"
    );
}

/// How the client authenticates.
#[derive(Clone)]
pub enum Auth {
    /// An API key, sent as `x-goog-api-key`.
    ApiKey(String),
    /// An access token from Application Default Credentials (the metadata server on Cloud
    /// Run, `GOOGLE_APPLICATION_CREDENTIALS` elsewhere).
    Adc,
    /// Nothing (a local server speaking the contract).
    None,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself: configurations get logged.
        f.write_str(match self {
            Auth::ApiKey(_) => "ApiKey(…)",
            Auth::Adc => "Adc",
            Auth::None => "None",
        })
    }
}

/// The client's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL; requests go to `{endpoint}/v1/images:annotate`.
    pub endpoint: String,
    /// How to authenticate.
    pub auth: Auth,
    /// Time allowed for one call (connect, send, answer).
    pub timeout: Duration,
    /// Attempts of one request at most (the first included).
    pub max_attempts: u32,
    /// Time one request may take with all its retries and waits; no retry starts past it.
    pub retry_budget: Duration,
    /// First backoff; it doubles each retry (full jitter), up to [`Config::max_backoff`].
    pub base_backoff: Duration,
    /// Longest wait between attempts (also caps a server's Retry-After).
    pub max_backoff: Duration,
    /// Failed requests in a row (after their retries) that open the breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before a probe is let through.
    pub breaker_cooldown: Duration,
}

impl Config {
    /// The defaults for `endpoint` and `auth`: 10 s a call, 3 attempts within 30 s, the breaker
    /// open after 3 failed requests in a row for 60 s.
    pub fn new(endpoint: &str, auth: Auth) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            auth,
            timeout: Duration::from_secs(10),
            max_attempts: 3,
            retry_budget: Duration::from_secs(30),
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(60),
        }
    }
}

/// Why the client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
    /// The endpoint is not an http(s) URL.
    #[error("VISION_ENDPOINT {0:?} is not an http:// or https:// URL")]
    Endpoint(String),
}

/// Why an image got no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The breaker is open: Vision was not called.
    #[error("Cloud Vision is failing: not called (circuit breaker open)")]
    BreakerOpen,
    /// The whole request failed (after its retries).
    #[error("Cloud Vision request failed: {0}")]
    Request(String),
    /// Google answered an error for this image (`responses[i].error`).
    #[error("Cloud Vision could not read the image: {0}")]
    Image(String),
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// The cool-down has passed: one probing call goes through.
    HalfOpen,
    /// Calls are refused.
    Open,
}

#[derive(Debug)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// The Cloud Vision client. Cheap to share (`Arc`); calls from many tasks share one breaker.
pub struct Client {
    config: Config,
    http: reqwest::Client,
    breaker: Mutex<Breaker>,
    adc: tokio::sync::OnceCell<google_cloud_auth::credentials::Credentials>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A whole-request failure, and whether it is worth another attempt.
struct CallError {
    retry: bool,
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
}

/// `responses[i]` of an `AnnotateImageResponse`.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ImageResponse {
    #[serde(default)]
    text_annotations: Vec<TextAnnotation>,
    full_text_annotation: Option<FullText>,
    error: Option<Status>,
}

#[derive(Debug, Deserialize)]
struct TextAnnotation {
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
struct FullText {
    #[serde(default)]
    text: String,
}

/// `google.rpc.Status`, as in `responses[i].error` and a failed request's `error`.
#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize)]
struct BatchResponse {
    #[serde(default)]
    responses: Vec<ImageResponse>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: Status,
}

impl Client {
    /// A client with `config`.
    pub fn new(config: Config) -> Result<Self, SetupError> {
        if !(config.endpoint.starts_with("http://") || config.endpoint.starts_with("https://")) {
            return Err(SetupError::Endpoint(config.endpoint));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        metrics::gauge!(names::BREAKER).set(0.0);
        Ok(Self {
            config,
            http,
            breaker: Mutex::new(Breaker {
                failures: 0,
                open_until: None,
                probing: false,
            }),
            adc: tokio::sync::OnceCell::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The breaker's state now.
    pub fn breaker_state(&self) -> BreakerState {
        let b = self.lock();
        match b.open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // A panic while holding the lock leaves plain counters: still usable.
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go through now (and, half-open, marks it as the probe).
    fn admit(&self) -> bool {
        let mut b = self.lock();
        match b.open_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) if b.probing => false,
            Some(_) => {
                b.probing = true;
                metrics::gauge!(names::BREAKER).set(1.0);
                true
            }
        }
    }

    fn succeeded(&self) {
        let mut b = self.lock();
        if b.open_until.is_some() {
            tracing::info!("Cloud Vision answers again: circuit breaker closed");
        }
        *b = Breaker {
            failures: 0,
            open_until: None,
            probing: false,
        };
        metrics::gauge!(names::BREAKER).set(0.0);
    }

    fn failed(&self) {
        let mut b = self.lock();
        b.failures = b.failures.saturating_add(1);
        if b.probing || b.failures >= self.config.breaker_threshold {
            if b.open_until.is_none() || b.probing {
                tracing::warn!(
                    failures = b.failures,
                    cooldown_s = self.config.breaker_cooldown.as_secs(),
                    "Cloud Vision failing: circuit breaker open, sheets go to review"
                );
            }
            b.open_until = Some(Instant::now() + self.config.breaker_cooldown);
            b.probing = false;
            metrics::gauge!(names::BREAKER).set(2.0);
        }
    }

    /// The text Vision finds in each image (PNG or JPEG bytes), in order: `Ok("")` when it
    /// finds none. Images are sent [`MAX_IMAGES_PER_REQUEST`] a request (fewer when they would
    /// pass [`MAX_REQUEST_BYTES`]); requests go one after the other.
    pub async fn read_texts(&self, images: &[Vec<u8>]) -> Vec<Result<String, Failure>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in chunks(images) {
            out.extend(self.annotate(chunk).await);
        }
        out
    }

    /// One `images:annotate` request of `images` (already within the limits).
    async fn annotate(&self, images: &[Vec<u8>]) -> Vec<Result<String, Failure>> {
        let all = |f: Failure| images.iter().map(|_| Err(f.clone())).collect();
        if !self.admit() {
            metrics::counter!(names::CALLS, "outcome" => "refused").increment(1);
            return all(Failure::BreakerOpen);
        }
        let body = request_body(images);
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = self.call(&body, images.len()).await;
            match result {
                Ok(responses) => {
                    metrics::counter!(names::CALLS, "outcome" => "ok").increment(1);
                    metrics::counter!(names::IMAGES).increment(images.len() as u64);
                    metrics::gauge!(names::COST).increment(images.len() as f64 * USD_PER_IMAGE);
                    self.succeeded();
                    return responses;
                }
                Err(e) => {
                    metrics::counter!(names::FAILURES, "kind" => e.kind).increment(1);
                    let wait = backoff(&self.config, attempt, e.retry_after);
                    let past_budget = started.elapsed() + wait > self.config.retry_budget;
                    if !e.retry || attempt >= self.config.max_attempts || past_budget {
                        tracing::warn!(attempts = attempt, kind = e.kind, error = %e.message,
                            "Cloud Vision request failed");
                        metrics::counter!(names::CALLS, "outcome" => "failed").increment(1);
                        self.failed();
                        return all(Failure::Request(e.message));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn call(&self, body: &str, n: usize) -> Result<Vec<Result<String, Failure>>, CallError> {
        let url = format!("{}/v1/images:annotate", self.config.endpoint);
        let mut request = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        match &self.config.auth {
            Auth::ApiKey(key) => request = request.header("x-goog-api-key", key),
            Auth::Adc => request = request.headers(self.adc_headers().await?),
            Auth::None => {}
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| format!("{} {}: {}", b.error.code, b.error.status, b.error.message))
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into());
            let code = status.as_u16();
            return Err(CallError {
                retry: code == 429 || status.is_server_error(),
                kind: match code {
                    429 => "http-429",
                    500..=599 => "http-5xx",
                    _ => "http-4xx",
                },
                message: format!("HTTP {code}: {detail}"),
                retry_after,
            });
        }
        let parsed: BatchResponse = serde_json::from_slice(&bytes).map_err(|e| CallError {
            retry: false,
            kind: "response",
            message: format!("not an AnnotateImagesResponse: {e}"),
            retry_after: None,
        })?;
        if parsed.responses.len() != n {
            return Err(CallError {
                retry: false,
                kind: "response",
                message: format!("{} responses for {n} images", parsed.responses.len()),
                retry_after: None,
            });
        }
        Ok(parsed
            .responses
            .into_iter()
            .map(|r| {
                if let Some(e) = r.error {
                    metrics::counter!(names::FAILURES, "kind" => "image").increment(1);
                    return Err(Failure::Image(format!(
                        "{} {}: {}",
                        e.code, e.status, e.message
                    )));
                }
                Ok(r.text_annotations
                    .into_iter()
                    .next()
                    .map(|t| t.description)
                    .or(r.full_text_annotation.map(|f| f.text))
                    .unwrap_or_default())
            })
            .collect())
    }

    async fn adc_headers(&self) -> Result<http::HeaderMap, CallError> {
        let failed = |message: String| CallError {
            retry: false,
            kind: "auth",
            message,
            retry_after: None,
        };
        let credentials = self
            .adc
            .get_or_try_init(|| async {
                google_cloud_auth::credentials::Builder::default()
                    .with_scopes([SCOPE])
                    .build()
            })
            .await
            .map_err(|e| failed(format!("Application Default Credentials: {e}")))?;
        match credentials.headers(http::Extensions::new()).await {
            Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => Ok(data),
            Ok(google_cloud_auth::credentials::CacheableResource::NotModified) => {
                Ok(http::HeaderMap::new())
            }
            Err(e) => Err(CallError {
                retry: e.is_transient(),
                kind: "auth",
                message: format!("access token: {e}"),
                retry_after: None,
            }),
        }
    }
}

fn transport(e: reqwest::Error) -> CallError {
    CallError {
        retry: true,
        kind: if e.is_timeout() {
            "timeout"
        } else {
            "transport"
        },
        message: if e.is_timeout() {
            format!("timed out: {e}")
        } else {
            e.to_string()
        },
        retry_after: None,
    }
}

/// The wait before attempt `attempt + 1`: full jitter over an exponential bound, or the
/// server's Retry-After (capped) when it gives one.
fn backoff(config: &Config, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(after) = retry_after {
        return after.min(config.max_backoff);
    }
    let bound = config
        .base_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(config.max_backoff);
    let jitter: f64 = rand::rng().random_range(0.0..=1.0);
    bound.mul_f64(jitter)
}

/// The JSON size of one image entry (base64 grows by 4/3; the rest is the request's frame).
fn entry_bytes(image: &[u8]) -> usize {
    image.len().div_ceil(3) * 4 + 160
}

/// Splits `images` into requests of at most 16 images and [`MAX_REQUEST_BYTES`].
fn chunks(images: &[Vec<u8>]) -> Vec<&[Vec<u8>]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, image) in images.iter().enumerate() {
        let size = entry_bytes(image);
        if i > start && (i - start == MAX_IMAGES_PER_REQUEST || bytes + size > MAX_REQUEST_BYTES) {
            out.push(&images[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < images.len() {
        out.push(&images[start..]);
    }
    out
}

/// The `BatchAnnotateImagesRequest`: each image inline with `TEXT_DETECTION`; the language
/// hint says the text is Latin letters and digits, not words of a language.
fn request_body(images: &[Vec<u8>]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let requests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            json!({
                "image": {"content": engine.encode(image)},
                "features": [{"type": "TEXT_DETECTION"}],
                "imageContext": {"languageHints": ["en"]},
            })
        })
        .collect();
    json!({ "requests": requests }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hold_at_most_16_images_and_stay_under_10_mb() {
        let small = vec![vec![0u8; 3000]; 40];
        let sizes: Vec<usize> = chunks(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [16, 16, 8]);
        let large = vec![vec![0u8; 3 * 1024 * 1024]; 5];
        let sizes: Vec<usize> = chunks(&large).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        for c in chunks(&large) {
            assert!(request_body(c).len() < 10 * 1000 * 1000);
        }
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn the_body_is_the_documented_shape() {
        let body: serde_json::Value =
            serde_json::from_str(&request_body(&[b"abc".to_vec()])).expect("JSON");
        assert_eq!(body["requests"][0]["image"]["content"], "YWJj");
        assert_eq!(body["requests"][0]["features"][0]["type"], "TEXT_DETECTION");
    }

    #[test]
    fn backoff_stays_within_its_bounds() {
        let c = Config::new("http://127.0.0.1:1", Auth::None);
        for attempt in 1..10 {
            assert!(backoff(&c, attempt, None) <= c.max_backoff);
        }
        assert_eq!(
            backoff(&c, 1, Some(Duration::from_secs(3600))),
            c.max_backoff
        );
        assert_eq!(
            backoff(&c, 1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
    }

    #[tokio::test]
    async fn the_breaker_opens_after_failures_in_a_row_and_probes_after_its_cooldown() {
        // Nothing listens on port 1 of loopback: every call fails to connect.
        let mut config = Config::new("http://127.0.0.1:1", Auth::None);
        config.max_attempts = 1;
        config.breaker_threshold = 2;
        config.breaker_cooldown = Duration::from_millis(200);
        let client = Client::new(config).expect("client");
        let image = vec![vec![1u8; 10]];
        for _ in 0..2 {
            assert!(matches!(
                client.read_texts(&image).await[0],
                Err(Failure::Request(_))
            ));
        }
        assert_eq!(client.breaker_state(), BreakerState::Open);
        assert_eq!(
            client.read_texts(&image).await[0],
            Err(Failure::BreakerOpen)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(client.breaker_state(), BreakerState::HalfOpen);
        // The probe fails: open again at once.
        assert!(matches!(
            client.read_texts(&image).await[0],
            Err(Failure::Request(_))
        ));
        assert_eq!(client.breaker_state(), BreakerState::Open);
    }
}
