//! The render service's HTTP API: exams and bundles, documented in `/openapi.json`.
//!
//! Every route but the operations ones needs a bearer token with the `render` scope (or
//! `admin`); resources are looked up under the token's tenant only.

pub mod bundles;
pub mod exams;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use service::server::{self, ServeArgs};
use service::telemetry::{init_logging, install_metrics};
use service::{ApiResult, Ops, Problem, ProblemType, Worker};
use store::{ObjectStore, Store};
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::jobs::RenderBundle;
pub use state::AppState;

const TITLE: &str = "Gabarito render service";
const DESCRIPTION: &str = "Registers exams and renders their answer-sheet bundles (PDF + \
    bundle.json) for a roster, in the background. Errors are RFC 9457 problem documents.";

/// The documented routes of the render service.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(exams::create_exam))
        .routes(routes!(exams::get_exam))
        .routes(routes!(bundles::create_bundle))
        .routes(routes!(bundles::get_bundle))
        .routes(routes!(bundles::get_pdf))
        .routes(routes!(bundles::get_manifest))
}

/// The whole service: its routes, the operations routes, `/openapi.json` and the middleware.
pub fn app(state: AppState) -> Router {
    let exam_file = service::openapi::JsonSchema {
        name: exams::EXAM_FILE,
        schema: model::Exam::json_schema(),
    };
    server::app(api(), state, TITLE, DESCRIPTION, &[exam_file])
}

/// A worker that renders bundles, `concurrency` at once (1 on SQLite, whose writes are one at
/// a time anyway), its claims lasting `lease` (`GABARITO_JOB_LEASE_SECS`).
pub fn worker(
    store: &Store,
    objects: Arc<dyn ObjectStore>,
    concurrency: usize,
    lease: std::time::Duration,
) -> Worker {
    let concurrency = if store.backend_name() == "sqlite" {
        1
    } else {
        concurrency
    };
    Worker::new(store.clone(), Worker::instance_name("render"))
        .register(RenderBundle {
            store: store.clone(),
            objects,
        })
        .concurrency(concurrency)
        .lease(lease)
}

/// Serves on `listener` and runs the bundle worker until `shutdown`; then stops taking
/// requests and jobs, and lets running ones finish or hands them back (within the grace).
pub async fn run(
    listener: tokio::net::TcpListener,
    ops: Ops,
    objects: Arc<dyn ObjectStore>,
    workers: usize,
    lease: std::time::Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let worker = worker(&ops.store, Arc::clone(&objects), workers, lease);
    let state = AppState {
        ops,
        objects,
        wake: worker.wake(),
    };
    let jobs = tokio::spawn(worker.run(shutdown.clone()));
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let server = axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = async move { server.await };
    tokio::pin!(server);
    // Requests in flight get the grace too (a long PDF download is cut after it).
    let served = tokio::select! {
        served = &mut server => served,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(server::SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("requests still in flight after the shutdown grace; stopping anyway");
            Ok(())
        }
    };
    // The worker has its own grace for running jobs (it hands back what does not finish).
    if let Err(e) = jobs.await {
        tracing::warn!(error = %e, "the bundle worker stopped abnormally");
    }
    served
}

/// `render-service serve`: the HTTP API and the bundle worker, until SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        init_logging();
        let metrics = install_metrics();
        let store = Store::connect(&args.database_url).await?;
        store.migrate().await?;
        let objects: Arc<dyn ObjectStore> = args.objects().await?;
        tracing::info!(storage = %objects.describe(), "object storage");
        let listener = tokio::net::TcpListener::bind(args.addr()).await?;
        let shutdown = server::shutdown_on_signal();
        let ops = Ops {
            store: store.clone(),
            metrics,
        };
        let served = run(
            listener,
            ops,
            objects,
            args.workers,
            args.job_lease(),
            shutdown,
        )
        .await;
        store.close().await;
        tracing::info!("stopped");
        Ok(served?)
    })
}

/// Refuses a body declared as anything but JSON (no `Content-Type` is taken as JSON).
fn json_body(headers: &HeaderMap) -> ApiResult<()> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            format!("send the body as application/json, not {essence:?}"),
        ))
    }
}

/// The body as text: it must be UTF-8.
fn utf8(body: &[u8]) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|e| {
        Problem::invalid_request(format!("the body is not UTF-8 (byte {})", e.valid_up_to()))
    })
}
