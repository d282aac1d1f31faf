//! Typed background jobs: a kind, a serialisable payload, and a worker that claims them from
//! the job table any instance may have written.
//!
//! A claim is a lease. The worker renews it while the job runs, so a job whose instance died
//! (its lease runs out) is claimed again by another instance, at most `max_attempts` times.
//! On shutdown the worker stops claiming, gives running jobs [`SHUTDOWN_GRACE`] to finish,
//! and hands back the rest without counting the attempt.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::{ClaimedJob, Store, TenantId};
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::server::SHUTDOWN_GRACE;
use crate::telemetry::names;

/// How a job ended, other than in success.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a database or storage hiccup).
    #[error("{0}")]
    Retry(String),
    /// Will fail the same way again (the input is wrong): given up on, the reason kept.
    #[error("{0}")]
    Fail(String),
    /// Stopped because the instance is shutting down or lost its lease: another attempt
    /// will do it, and this one does not count.
    #[error("interrupted")]
    Interrupted,
}

impl From<store::StoreError> for JobError {
    fn from(error: store::StoreError) -> Self {
        JobError::Retry(store::cli::error_line(&error))
    }
}

/// What a running job knows of its run.
#[derive(Clone)]
pub struct JobRun {
    /// The job's id.
    pub id: i64,
    /// The tenant it belongs to; everything it touches is scoped to it.
    pub tenant: TenantId,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// Cancelled when the job should stop (shutdown, or its lease was lost). A long job checks
    /// it between steps and returns [`JobError::Interrupted`].
    pub cancel: CancellationToken,
}

/// A kind of job: its name in the table, its payload, and what it does.
pub trait JobKind: Send + Sync + 'static {
    /// The `kind` column.
    const KIND: &'static str;
    /// The job's parameters, stored as JSON.
    type Payload: Serialize + DeserializeOwned + Send + 'static;
    /// Does the job.
    fn run(
        &self,
        run: JobRun,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// The payload of a job of kind `J`, as stored.
pub fn payload_json<J: JobKind>(payload: &J::Payload) -> String {
    // Payloads are plain structs of strings and numbers: serialisation cannot fail.
    serde_json::to_string(payload).unwrap_or_default()
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

trait ErasedJob: Send + Sync {
    fn run_json(&self, run: JobRun, payload: String) -> BoxFuture<'_, Result<(), JobError>>;
}

impl<J: JobKind> ErasedJob for J {
    fn run_json(&self, run: JobRun, payload: String) -> BoxFuture<'_, Result<(), JobError>> {
        Box::pin(async move {
            let payload: J::Payload = serde_json::from_str(&payload)
                .map_err(|e| JobError::Fail(format!("{} payload: {e}", J::KIND)))?;
            self.run(run, payload).await
        })
    }
}

/// Wakes this instance's worker at once when a request queues a job, instead of at its next poll.
#[derive(Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// A job was queued.
    pub fn job_queued(&self) {
        self.0.notify_one();
    }
}

/// Claims and runs jobs of the kinds registered with it.
pub struct Worker {
    store: Store,
    name: String,
    kinds: HashMap<&'static str, Arc<dyn ErasedJob>>,
    concurrency: usize,
    lease: Duration,
    max_attempts: u32,
    poll: Duration,
    wake: Wake,
    running: std::sync::Mutex<std::collections::HashSet<i64>>,
}

impl Worker {
    /// A worker named `name` (unique per instance: it is written as the lease holder).
    pub fn new(store: Store, name: impl Into<String>) -> Self {
        Self {
            store,
            name: name.into(),
            kinds: HashMap::new(),
            concurrency: 1,
            lease: Duration::from_secs(30),
            max_attempts: 3,
            poll: Duration::from_secs(1),
            wake: Wake::default(),
            running: Default::default(),
        }
    }

    /// Runs jobs of kind `J`.
    pub fn register<J: JobKind>(mut self, job: J) -> Self {
        self.kinds.insert(J::KIND, Arc::new(job));
        self
    }

    /// The worker count and lease of `serve`'s options (`GABARITO_WORKERS`,
    /// `GABARITO_JOB_LEASE_SECS`).
    pub fn configured(self, args: &crate::ServeArgs) -> Self {
        self.concurrency(args.workers).lease(args.job_lease())
    }

    /// How many jobs run at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How long a claim lasts without renewal: a dead instance's job is taken over after this.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How many claims a job gets before it is given up on.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// How often an idle worker looks for work.
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The handle requests use to wake this worker.
    pub fn wake(&self) -> Wake {
        self.wake.clone()
    }

    /// A unique worker name for this process: host, process id, random suffix.
    pub fn instance_name(service: &str) -> String {
        let host = std::env::var("K_REVISION")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "local".to_string());
        let suffix: u32 = rand::rng().random();
        format!("{service}/{host}/{}/{suffix:08x}", std::process::id())
    }

    /// Runs until `shutdown`; then waits up to [`SHUTDOWN_GRACE`] for running jobs and hands
    /// back those still running.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency));
        let kinds: Vec<&'static str> = this.kinds.keys().copied().collect();
        let mut running = tokio::task::JoinSet::new();
        let jobs_cancel = CancellationToken::new();
        loop {
            let permit = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            let claimed = this
                .store
                .claim_next_job(&this.name, &kinds, this.lease, this.max_attempts)
                .await;
            match claimed {
                Ok(Some(job)) => {
                    let this = Arc::clone(&this);
                    let cancel = jobs_cancel.child_token();
                    running.spawn(async move {
                        this.run_one(job, cancel).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    this.idle(&shutdown).await;
                }
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %store::cli::error_line(&e), "cannot claim jobs");
                    this.idle(&shutdown).await;
                }
            }
            // Reap finished tasks so the set does not grow.
            while running.try_join_next().is_some() {}
        }
        if running.is_empty() {
            return;
        }
        tracing::info!(
            jobs = running.len(),
            "waiting for running jobs before stopping"
        );
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            // Jobs that check their cancel token stop between steps and are handed back.
            jobs_cancel.cancel();
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            running.abort_all();
            let left: Vec<i64> = this.running_ids().into_iter().collect();
            tracing::warn!(jobs = ?left, "jobs still running after the grace: handing them back");
            for id in left {
                if let Err(e) = this.store.release_job(id, &this.name).await {
                    tracing::warn!(job = id, error = %store::cli::error_line(&e), "cannot hand the job back; its lease will run out");
                }
            }
        }
    }

    async fn idle(&self, shutdown: &CancellationToken) {
        // Jitter spreads the polls of many instances.
        let jitter = rand::rng().random_range(0.8..1.2);
        tokio::select! {
            () = tokio::time::sleep(self.poll.mul_f64(jitter)) => {}
            () = self.wake.0.notified() => {}
            () = shutdown.cancelled() => {}
        }
    }

    fn running_ids(&self) -> Vec<i64> {
        match self.running.lock() {
            Ok(ids) => ids.iter().copied().collect(),
            Err(poisoned) => poisoned.into_inner().iter().copied().collect(),
        }
    }

    fn mark_running(&self, id: i64, running: bool) {
        let mut ids = match self.running.lock() {
            Ok(ids) => ids,
            Err(poisoned) => poisoned.into_inner(),
        };
        if running {
            ids.insert(id);
        } else {
            ids.remove(&id);
        }
    }

    async fn run_one(&self, job: ClaimedJob, cancel: CancellationToken) {
        self.mark_running(job.id, true);
        self.run_claimed(&job, cancel).await;
        self.mark_running(job.id, false);
    }

    async fn run_claimed(&self, job: &ClaimedJob, cancel: CancellationToken) {
        let Some(kind) = self.kinds.get(job.kind.as_str()).cloned() else {
            return;
        };
        let run = JobRun {
            id: job.id,
            tenant: job.tenant.clone(),
            attempt: job.attempts,
            cancel: cancel.clone(),
        };
        tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job started");
        let work = kind.run_json(run, job.payload.clone());
        tokio::pin!(work);
        let mut renew = tokio::time::interval(self.lease / 3);
        renew.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = renew.tick() => {
                    match self.store.renew_job(job.id, &self.name, self.lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Another instance holds it now; this run's result must not count.
                            tracing::warn!(job = job.id, "lease lost; abandoning the job");
                            cancel.cancel();
                            return;
                        }
                        Err(e) => tracing::warn!(job = job.id, error = %store::cli::error_line(&e), "cannot renew the lease"),
                    }
                }
            }
        };
        self.finish(job, outcome).await;
    }

    async fn finish(&self, job: &ClaimedJob, outcome: Result<(), JobError>) {
        let (word, result) = match &outcome {
            Ok(()) => ("done", self.store.complete_job(&job.tenant, job.id).await),
            Err(JobError::Interrupted) => {
                ("released", self.store.release_job(job.id, &self.name).await)
            }
            Err(JobError::Retry(why)) if job.attempts < self.max_attempts => {
                let backoff = Duration::from_secs(2u64.saturating_pow(job.attempts.min(8)));
                (
                    "retry",
                    self.store
                        .fail_job(&job.tenant, job.id, why, Some(backoff))
                        .await,
                )
            }
            Err(JobError::Retry(why) | JobError::Fail(why)) => (
                "failed",
                self.store.fail_job(&job.tenant, job.id, why, None).await,
            ),
        };
        metrics::counter!(names::JOBS_FINISHED, "kind" => job.kind.clone(), "outcome" => word)
            .increment(1);
        match (&outcome, result) {
            (_, Err(e)) => {
                tracing::warn!(job = job.id, error = %store::cli::error_line(&e), "cannot record the job's end")
            }
            (Err(e), Ok(())) => {
                tracing::warn!(job = job.id, kind = %job.kind, outcome = word, error = %e, "job ended")
            }
            (Ok(()), Ok(())) => tracing::info!(job = job.id, kind = %job.kind, "job done"),
        }
    }
}
