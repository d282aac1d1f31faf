//! The grading path inside the service: the same [`Grading`] calls as the command line, with
//! the pipeline's CPU work on blocking threads (`spawn_blocking`), at most
//! [`AppState::grading`] files at once.

use std::sync::Arc;

use axum::body::Bytes;
use pipeline::Grader;
use service::Problem;
use service::telemetry::names;
use store::TenantId;

use super::state::AppState;
use crate::StoreDirectory;
use crate::cloud_ocr::{self, Round, ScanPages};
use crate::grading::{Grading, GradingError, Ingested, RecordedPage, ScanOutcome, ScanVerdict};

/// A scan's outcome, and whether the pipeline refused the whole file.
#[derive(Debug)]
pub struct Graded {
    /// The outcome, as `grader grade` reports it.
    pub outcome: ScanOutcome,
    /// Why the file could not be read at all (corrupt, not an image, over the limits).
    pub unreadable: Option<String>,
}

/// The grading path of a tenant, over the state's database and storage.
pub fn grading<'a>(state: &'a AppState, tenant: &'a TenantId) -> Grading<'a> {
    Grading {
        store: &state.store,
        objects: state.objects.as_ref(),
        tenant,
    }
}

/// A pipeline grader that looks the tenant's sheets up in the database.
pub async fn grader_for(state: &AppState, tenant: &TenantId) -> Result<Arc<Grader>, Problem> {
    let directory = StoreDirectory::load_in(
        tokio::runtime::Handle::current(),
        state.store.clone(),
        tenant.clone(),
        None,
    )
    .await?;
    Ok(Arc::new(state.ocr.configure(
        Grader::with_directory(Box::new(directory)).with_limits(state.limits),
    )))
}

/// Grades an ingested scan (or answers its stored outcome when it needs no grading) and
/// records the outcome. A scan with pages waiting for Cloud Vision is held in `round` under
/// `tag` (`None` is answered): [`flush`] records it.
#[allow(clippy::too_many_arguments)]
pub async fn grade_scan<T>(
    state: &AppState,
    tenant: &TenantId,
    grader: &Arc<Grader>,
    ingested: &Ingested,
    name: &str,
    bytes: Bytes,
    round: &mut Round<T>,
    tag: T,
) -> Result<Option<Graded>, Problem> {
    let grading = grading(state, tenant);
    if ingested.grade.is_none() {
        let outcome = grading.stored(ingested, name).await.map_err(problem)?;
        return Ok(Some(Graded {
            outcome,
            unreadable: None,
        }));
    }
    let permit = Arc::clone(&state.grading)
        .acquire_owned()
        .await
        .map_err(|e| Problem::internal(&e))?;
    let pages = {
        let grader = Arc::clone(grader);
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            let pages = cloud_ocr::grade_pages(&grader, &name, &bytes, |_| {});
            drop(permit);
            pages
        })
        .await
        .map_err(|e| Problem::internal(&e))?
    };
    match pages {
        ScanPages::Ready(pages) => record(state, tenant, ingested, &pages).await.map(Some),
        ScanPages::Waiting(pages) => {
            round.hold(tag, ingested.clone(), pages);
            Ok(None)
        }
    }
}

/// Sends the pages waiting in `round` to Cloud Vision, 16 a call (with `all`, also a last,
/// smaller call), finishes them and records the scans that are complete: each with its tag.
pub async fn flush<T>(
    state: &AppState,
    tenant: &TenantId,
    grader: &Arc<Grader>,
    round: &mut Round<T>,
    all: bool,
) -> Result<Vec<(T, Graded)>, Problem> {
    let mut graded = Vec::new();
    while let Some(batch) = round.take(all) {
        let texts = match &state.ocr.vision {
            Some(client) => cloud_ocr::read_batch(client, &batch).await,
            None => vec![None; batch.len()],
        };
        let permit = Arc::clone(&state.grading)
            .acquire_owned()
            .await
            .map_err(|e| Problem::internal(&e))?;
        let grader = Arc::clone(grader);
        let finished = tokio::task::spawn_blocking(move || {
            let finished = cloud_ocr::finish_batch(&grader, batch, texts, |_| {});
            drop(permit);
            finished
        })
        .await
        .map_err(|e| Problem::internal(&e))?;
        for complete in round.put(finished) {
            let outcome = record(state, tenant, &complete.ingested, &complete.pages).await?;
            graded.push((complete.tag, outcome));
        }
    }
    Ok(graded)
}

/// Records a scan's graded pages.
async fn record(
    state: &AppState,
    tenant: &TenantId,
    ingested: &Ingested,
    pages: &[RecordedPage],
) -> Result<Graded, Problem> {
    let unreadable = match pages {
        [only] if only.whole_file_failed => only.report.error.clone(),
        _ => None,
    };
    let outcome = grading(state, tenant)
        .record(ingested, pages)
        .await
        .map_err(problem)?;
    count_pages(&outcome);
    Ok(Graded {
        outcome,
        unreadable,
    })
}

/// Counts the pages graded (by identification step) and those needing review.
fn count_pages(outcome: &ScanOutcome) {
    if outcome.verdict == ScanVerdict::AlreadyGraded {
        return;
    }
    for r in &outcome.reports {
        let by = r.identified_by.map_or("none", |b| b.as_str());
        metrics::counter!(names::PAGES_GRADED, "identified_by" => by).increment(1);
        if r.error.is_some() || !r.review.is_empty() {
            metrics::counter!(names::PAGES_TO_REVIEW).increment(1);
        }
    }
}

/// A failure of the grading path as a problem.
pub fn problem(error: GradingError) -> Problem {
    match error {
        GradingError::Store(e) => Problem::from(e),
        GradingError::Objects(e) => Problem::from(e),
        other => Problem::internal(&other),
    }
}
