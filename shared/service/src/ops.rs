//! The routes an operator and Cloud Run call, without a token: `/healthz` (the process is up),
//! `/readyz` (the database answers), `/metrics` (Prometheus) and the OpenAPI document.

use axum::Json;
use axum::extract::{FromRef, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use store::{JobStatus, Store};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::problem::{ApiResult, Problem};
use crate::telemetry::names;

/// What the operations routes need: the database to probe and the metrics to render.
#[derive(Clone)]
pub struct Ops {
    /// The database.
    pub store: Store,
    /// The process's Prometheus recorder.
    pub metrics: PrometheusHandle,
}

/// The body of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// The operations routes, documented, for any service state that holds an [`Ops`].
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Ops: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers: the instance can serve.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database is unreachable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(ops): State<Ops>) -> ApiResult<Json<Health>> {
    ops.store
        .ping()
        .await
        .map_err(|_| Problem::unavailable("the database does not answer"))?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    // Job gauges are read at scrape time from the table all instances share, so any instance
    // tells the whole queue. A database that does not answer leaves them as they were.
    if let Ok(counts) = ops.store.job_counts().await {
        for kind in counts
            .iter()
            .map(|c| c.kind.clone())
            .collect::<std::collections::BTreeSet<_>>()
        {
            for status in [JobStatus::Queued, JobStatus::Running, JobStatus::Failed] {
                let n = counts
                    .iter()
                    .filter(|c| c.kind == kind && c.status == status)
                    .map(|c| c.count)
                    .sum::<u64>();
                metrics::gauge!(names::JOBS, "kind" => kind.clone(), "status" => status_word(status))
                    .set(n as f64);
            }
        }
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
}

fn status_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Queued => "queued",
        JobStatus::Running => "running",
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
    }
}
