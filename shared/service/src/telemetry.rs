//! Structured JSON logs, one line a request with its request id, and Prometheus metrics.
//!
//! The request id is Cloud Run's trace id when the request carries one (`X-Cloud-Trace-Context`
//! or W3C `traceparent`), so a log line joins its trace; otherwise a fresh one. Logs never
//! carry student names, tokens, query strings or bodies: only the route template, the status
//! and the time taken.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rand::RngExt;
use tracing::Instrument;

/// The response header that gives the request id back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Names of the metrics both services publish.
pub mod names {
    /// Requests answered, by method, route template and status.
    pub const HTTP_REQUESTS: &str = "http_requests_total";
    /// Time to answer, by method and route template.
    pub const HTTP_DURATION: &str = "http_request_duration_seconds";
    /// Jobs in the table, by kind and status (queued, running, failed), at scrape time.
    pub const JOBS: &str = "gabarito_jobs";
    /// Jobs finished by this instance, by kind and outcome.
    pub const JOBS_FINISHED: &str = "gabarito_jobs_finished_total";
    /// Scan pages graded, by identification step (`qr`, `ocr-local`, `person`, `none`…).
    pub const PAGES_GRADED: &str = "gabarito_pages_graded_total";
    /// Scan pages that needed a person's review (divide by pages graded: the review rate).
    pub const PAGES_TO_REVIEW: &str = "gabarito_pages_to_review_total";
    /// Bundle pages rendered.
    pub const BUNDLE_PAGES: &str = "gabarito_bundle_pages_rendered_total";
}

/// JSON logs on stdout (Cloud Logging reads one object a line); `RUST_LOG` filters, `info` by
/// default. Calling it twice is harmless.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}

/// Installs the process's Prometheus recorder and returns the handle `/metrics` renders. Once a
/// process; a second call returns a handle to a recorder that is not installed (its metrics
/// stay empty), which only tests do.
pub fn install_metrics() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(names::HTTP_DURATION.to_string()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ],
        )
        .unwrap_or_else(|_| PrometheusBuilder::new());
    match builder.install_recorder() {
        Ok(handle) => {
            describe();
            handle
        }
        Err(_) => PrometheusBuilder::new().build_recorder().handle(),
    }
}

fn describe() {
    metrics::describe_counter!(
        names::HTTP_REQUESTS,
        "Requests answered, by method, route and status"
    );
    metrics::describe_histogram!(
        names::HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a request, by method and route"
    );
    metrics::describe_gauge!(names::JOBS, "Jobs in the table by kind and status");
    metrics::describe_counter!(
        names::JOBS_FINISHED,
        "Jobs finished by this instance, by kind and outcome"
    );
    metrics::describe_counter!(
        names::PAGES_GRADED,
        "Scan pages graded, by identification step"
    );
    metrics::describe_counter!(
        names::PAGES_TO_REVIEW,
        "Scan pages graded that need a person's review"
    );
    metrics::describe_counter!(names::BUNDLE_PAGES, "Bundle pages rendered");
}

/// The middleware of every route: request id, one log line, request metrics.
pub async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers());
    let method = request.method().as_str().to_string();
    // The route template, never the concrete path: ids in paths would make unbounded label
    // sets, and the template says what was called.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        tenant = tracing::field::Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = (seconds * 1000.0 * 10.0).round() / 10.0,
            "request"
        );
    });
    metrics::counter!(names::HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!(names::HTTP_DURATION, "method" => method, "route" => route).record(seconds);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// The request's id: the trace id of `X-Cloud-Trace-Context` (`TRACE/SPAN;o=1`) or of
/// `traceparent` (`00-TRACE-SPAN-FLAGS`), else a client's `X-Request-Id`, else a new one. Only
/// well-formed hex or short token ids are taken, so a header cannot inject into the logs.
pub fn request_id(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let cloud = header("x-cloud-trace-context")
        .and_then(|v| v.split('/').next())
        .filter(|t| is_hex_id(t));
    let w3c = || {
        header("traceparent")
            .and_then(|v| v.split('-').nth(1))
            .filter(|t| is_hex_id(t))
    };
    let client = || {
        header(REQUEST_ID_HEADER).filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    match cloud.or_else(w3c).or_else(client) {
        Some(id) => id.to_string(),
        None => {
            let bytes: [u8; 16] = rand::rng().random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

fn is_hex_id(s: &str) -> bool {
    (16..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn takes_the_cloud_trace_id_first() {
        let h = headers(&[
            (
                "x-cloud-trace-context",
                "105445aa7843bc8bf206b12000100000/1;o=1",
            ),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        assert_eq!(request_id(&h), "105445aa7843bc8bf206b12000100000");
    }

    #[test]
    fn takes_the_w3c_trace_id() {
        let h = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        assert_eq!(request_id(&h), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn refuses_ids_that_could_forge_log_lines() {
        let h = headers(&[("x-request-id", "a\" injected")]);
        let id = request_id(&h);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
