//! Scan batches: a request too large to grade while the client waits is stored, then graded by
//! the `grade-scans` job on whichever instance claims it; `GET /v1/scan-batches/{id}` follows it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use service::Path;
use service::worker::payload_json;
use service::{ApiResult, Caller, JobError, JobKind, JobRun, Problem};
use store::{ScanBatchRecord, ScanStatus, Scope, TenantId};
use utoipa::ToSchema;

use super::grade;
use super::scans::{ScanOut, stored_scan};
use super::state::AppState;
use crate::grading::Ingested;

/// The job that grades a batch's scans.
pub struct GradeScans {
    /// The service's state (database, storage, grading bound).
    pub state: AppState,
}

/// What a `grade-scans` job is given: its batch (whose scans are in the database).
#[derive(Debug, Serialize, Deserialize)]
pub struct GradeScansPayload {
    /// The batch's id.
    pub batch_id: String,
}

impl JobKind for GradeScans {
    const KIND: &'static str = "grade-scans";
    type Payload = GradeScansPayload;

    /// Grades every scan of the batch still waiting. A scan is recorded in one transaction
    /// that only a `received` scan accepts, so a retry (or another instance taking over a
    /// batch whose instance died) skips what was graded and grades the rest: each scan once.
    async fn run(&self, run: JobRun, payload: GradeScansPayload) -> Result<(), JobError> {
        let state = &self.state;
        let batch = state
            .store
            .scan_batch(&run.tenant, &payload.batch_id)
            .await?
            .ok_or_else(|| JobError::Fail(format!("scan batch {:?} is gone", payload.batch_id)))?;
        let grader = grade::grader_for(state, &run.tenant).await.map_err(retry)?;
        // Pages no local step identifies wait here, across the batch's scans, and go to Cloud
        // Vision 16 a call; their scans are recorded when their pages are done.
        let mut round = crate::cloud_ocr::Round::new();
        for entry in &batch.scans {
            if run.cancel.is_cancelled() {
                // Scans held in the round are still `received`: the next attempt grades them.
                return Err(JobError::Interrupted);
            }
            let Some(scan) = state.store.scan(&run.tenant, entry.scan_id).await? else {
                continue;
            };
            if scan.status != ScanStatus::Received {
                continue;
            }
            let bytes = state
                .objects
                .get(&scan.object_key)
                .await
                .map_err(|e| JobError::Retry(e.to_string()))?;
            let ingested = Ingested {
                scan_id: scan.id,
                grade: Some(false),
            };
            grade::grade_scan(
                state,
                &run.tenant,
                &grader,
                &ingested,
                &scan.file_name,
                Bytes::from(bytes),
                &mut round,
                (),
            )
            .await
            .map_err(retry)?;
            grade::flush(state, &run.tenant, &grader, &mut round, false)
                .await
                .map_err(retry)?;
        }
        grade::flush(state, &run.tenant, &grader, &mut round, true)
            .await
            .map_err(retry)?;
        Ok(())
    }
}

fn retry(problem: Problem) -> JobError {
    JobError::Retry(problem.detail)
}

/// Records a batch of stored scans and queues its job; wakes this instance's worker.
pub async fn queue(
    state: &AppState,
    tenant: &TenantId,
    scan_ids: &[i64],
) -> ApiResult<ScanBatchRecord> {
    Ok(queue_as(state, tenant, &new_batch_id(), scan_ids).await?)
}

/// [`queue`] under a batch id the caller chose (a storage event's, derived from the object's
/// generation, so that a second delivery finds the batch taken). `StoreError::Invalid` when it
/// is.
pub async fn queue_as(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    scan_ids: &[i64],
) -> Result<ScanBatchRecord, store::StoreError> {
    let payload = payload_json::<GradeScans>(&GradeScansPayload {
        batch_id: id.to_string(),
    });
    let batch = state
        .store
        .queue_scan_batch(tenant, id, scan_ids, GradeScans::KIND, &payload)
        .await?;
    state.wake.job_queued();
    Ok(batch)
}

/// `sb_` and 20 random hex digits: unguessable, safe in a URL.
fn new_batch_id() -> String {
    let n: u128 = rand::rng().random();
    format!("sb_{:020x}", n >> 48)
}

/// How far a batch is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Scans graded (or found unreadable).
    pub done: usize,
    /// Scans in the batch.
    pub total: usize,
}

/// One scan of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchScanOut {
    /// Its place in the request, from 0.
    pub position: u32,
    /// The scan's id.
    pub scan_id: i64,
    /// The name it was sent under.
    pub file_name: String,
    /// `received` until graded; then `graded` or `failed`.
    pub status: String,
    /// Its outcome, once the batch is done.
    pub outcome: Option<ScanOut>,
}

/// A scan batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchOut {
    /// The batch's id.
    pub id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    /// Scans graded of the total.
    pub progress: Progress,
    /// Why the batch failed (or why its last attempt did, while it waits for another).
    pub error: Option<String>,
    /// The scans, in the order sent.
    pub scans: Vec<BatchScanOut>,
}

/// A scan batch: its status, progress and, once done, every scan's outcome.
#[utoipa::path(get, path = "/v1/scan-batches/{id}", tag = "scans",
    params(("id" = String, Path, description = "The batch's id")),
    responses(
        (status = 200, description = "The batch", body = BatchOut),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_batch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<BatchOut>> {
    let tenant = caller.require(Scope::Scan)?;
    let batch = state
        .store
        .scan_batch(tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("scan batch", &id))?;
    let done = batch.status == store::JobStatus::Done;
    let mut scans = Vec::with_capacity(batch.scans.len());
    for s in &batch.scans {
        let outcome = if done {
            Some(stored_scan(&state, tenant, s.scan_id).await?)
        } else {
            None
        };
        scans.push(BatchScanOut {
            position: s.position,
            scan_id: s.scan_id,
            file_name: s.file_name.clone(),
            status: status_word(s.status).to_string(),
            outcome,
        });
    }
    Ok(Json(BatchOut {
        progress: Progress {
            done: batch.scans_done(),
            total: batch.scans.len(),
        },
        id: batch.id,
        status: batch.status.to_string(),
        error: batch.error,
        scans,
    }))
}

fn status_word(status: ScanStatus) -> &'static str {
    match status {
        ScanStatus::Received => "received",
        ScanStatus::Graded => "graded",
        ScanStatus::Failed => "failed",
    }
}
