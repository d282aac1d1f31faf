//! Running a service: configuration from flags and the environment, the router assembled around
//! a service's documented routes, and graceful shutdown on SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{Method, StatusCode};
use axum::middleware;
use clap::Args;
use tokio_util::sync::CancellationToken;
use utoipa_axum::router::OpenApiRouter;

use crate::ops::{self, Ops};
use crate::problem::{self, MAX_REQUEST_BYTES, Problem, ProblemType};
use crate::{openapi, telemetry};

/// How long in-flight work gets after SIGTERM: Cloud Run sends SIGKILL 10 s after SIGTERM, and
/// jobs still running must be released before that.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// `serve`'s options, each also an environment variable (as Cloud Run sets them).
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The port to listen on (Cloud Run sets `PORT`).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// The address to listen on.
    #[arg(long, env = "GABARITO_LISTEN", default_value = "0.0.0.0")]
    pub listen: std::net::IpAddr,
    /// Database: a postgres:// URL, or an SQLite file (`sqlite:PATH` or a path).
    #[arg(long = "db", env = "DATABASE_URL", default_value = store::DEFAULT_DATABASE_URL, value_name = "URL")]
    pub database_url: String,
    /// Object storage: a local folder (created if missing), or `gs://BUCKET[/PREFIX]` for Cloud
    /// Storage (Application Default Credentials).
    #[arg(long, env = "GABARITO_STORAGE", default_value = "gabarito-objects")]
    pub storage: String,
    /// A Cloud Storage emulator's base URL (e.g. `http://127.0.0.1:4443`): anonymous
    /// credentials, no Google servers. Unset in production.
    #[arg(long, env = "GCS_ENDPOINT", value_name = "URL")]
    pub gcs_endpoint: Option<String>,
    /// Jobs this instance runs at once (bundles, large scan batches). On SQLite, 1.
    #[arg(long, env = "GABARITO_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// Seconds a job claim lasts without renewal: a job whose instance died is taken over by
    /// another instance after this. Running jobs renew it every third of it.
    #[arg(long, env = "GABARITO_JOB_LEASE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub job_lease_secs: u64,
}

impl ServeArgs {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.listen, self.port)
    }

    /// The object storage [`Self::storage`] names.
    pub async fn objects(&self) -> Result<std::sync::Arc<dyn store::ObjectStore>, gcs::GcsError> {
        crate::storage::open_objects(&self.storage, self.gcs_endpoint.as_deref()).await
    }

    /// The job lease ([`Self::job_lease_secs`]).
    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_secs)
    }
}

/// Assembles a service: its documented routes and the operations routes, the OpenAPI document
/// at `/openapi.json`, problem documents for unknown paths and methods, the request body limit
/// and the request middleware (request id, log line, metrics). `schemas` replace generated
/// components by JSON Schemas from the model ([`openapi::document`]).
pub fn app<S>(
    api: OpenApiRouter<S>,
    state: S,
    title: &str,
    description: &str,
    schemas: &[openapi::JsonSchema],
) -> Router
where
    S: Clone + Send + Sync + 'static,
    Ops: FromRef<S>,
{
    let (router, doc) = api.merge(ops::router()).split_for_parts();
    let doc = openapi::finish(doc, title, description);
    router
        .with_state(state)
        .merge(openapi::route(openapi::document(&doc, schemas)))
        .fallback(problem::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(middleware::from_fn(telemetry::observe))
}

async fn method_not_allowed(method: Method) -> Problem {
    let mut p = Problem::new(
        ProblemType::InvalidRequest,
        format!("this path does not accept {method}; see /openapi.json for its methods"),
    );
    p.status = StatusCode::METHOD_NOT_ALLOWED.as_u16();
    p
}

/// A token cancelled on SIGTERM (Cloud Run's stop) or Ctrl-C.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal: no new requests or jobs");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves `app` on `addr` until `shutdown`, then lets in-flight requests finish for at most
/// [`SHUTDOWN_GRACE`].
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    let stopping = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(stopping.cancelled_owned());
    let server = async move { server.await };
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("requests still in flight after the shutdown grace; stopping anyway");
            Ok(())
        }
    }
}
