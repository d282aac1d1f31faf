//! `grader serve`: the HTTP API and the scan-batch worker, until SIGTERM.

use anyhow::{Context, Result};
use clap::Args;
use grader::http::{self, AppState, GradeScans};
use service::server::{ServeArgs, serve, shutdown_on_signal};
use service::{Ops, Worker, telemetry};
use store::Store;

use super::EXIT_OK;

/// Arguments of `grader serve`.
#[derive(Args, Debug)]
pub struct ServeCommand {
    #[command(flatten)]
    serve: ServeArgs,
    /// Take Cloud Storage events at POST /v1/storage-events: `off` (the default), or
    /// `cloud-run-iam` on a service Cloud Run authenticates (deployed with
    /// --no-allow-unauthenticated; run.invoker for the Eventarc trigger's service account only).
    #[arg(long, env = "GABARITO_STORAGE_EVENTS", default_value = "off",
          value_parser = ["off", "cloud-run-iam"])]
    storage_events: String,
    #[command(flatten)]
    ocr: grader::cloud_ocr::OcrArgs,
    #[command(flatten)]
    read_db: store::cli::ReadDbArgs,
}

/// Runs the service until SIGTERM (or Ctrl-C), then lets running batches finish or hands them
/// back.
pub fn run(args: ServeCommand) -> Result<u8> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let storage_events = args.storage_events == "cloud-run-iam";
    let ocr = grader::cloud_ocr::OcrChain::from_args(&args.ocr)?;
    runtime.block_on(run_async(args.serve, args.read_db, storage_events, ocr))?;
    Ok(EXIT_OK)
}

async fn run_async(
    args: ServeArgs,
    read_db: store::cli::ReadDbArgs,
    storage_events: bool,
    ocr: grader::cloud_ocr::OcrChain,
) -> Result<()> {
    telemetry::init_logging();
    let metrics = telemetry::install_metrics();
    vision::describe_metrics();
    tracing::info!(ocr = %ocr.describe(), vision = ?ocr.vision.as_ref().map(|v| &v.config().endpoint),
        "identification chain");
    let store = Store::connect(&args.database_url).await?;
    store.migrate().await?;
    let reads = read_db
        .open()
        .await
        .context("cannot open the read replica (DATABASE_READ_URL)")?;
    if reads.is_some() {
        tracing::info!("results and statistics read from the read replica");
    }
    let objects = args
        .objects()
        .await
        .with_context(|| format!("cannot open object storage {}", args.storage))?;
    tracing::info!(storage = %objects.describe(), "object storage");
    // SQLite takes one writer at a time: more than one batch at once would only queue.
    let workers = if store.backend_name() == "sqlite" {
        1
    } else {
        args.workers.max(1)
    };
    let worker = Worker::new(store.clone(), Worker::instance_name("grader"));
    let ops = Ops {
        store: store.clone(),
        metrics,
    };
    let mut state = AppState::new(store.clone(), objects, ops, worker.wake());
    if let Some(reads) = reads {
        state.reads = reads;
    }
    state.storage_events = storage_events;
    state.ocr = ocr;
    let worker = worker
        .register(GradeScans {
            state: state.clone(),
        })
        .concurrency(workers)
        .lease(args.job_lease());
    let shutdown = shutdown_on_signal();
    let jobs = tokio::spawn(worker.run(shutdown.clone()));
    let served = serve(args.addr(), http::app(state), shutdown.clone()).await;
    // The server has stopped taking requests; the worker drains within the grace.
    shutdown.cancel();
    let _ = jobs.await;
    store.close().await;
    served.with_context(|| format!("cannot serve on {}", args.addr()))
}
