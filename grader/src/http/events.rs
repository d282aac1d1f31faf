//! `POST /v1/storage-events`: Cloud Storage "object finalized" events, as Eventarc delivers them
//! to Cloud Run (CloudEvents in binary mode: `ce-*` headers, the object's JSON as the body), so
//! that a scanning station that drops files into the bucket has them graded.
//!
//! - **Which objects**: those under `PREFIX/inbox/TENANT/…` (a scanning station's drop folder;
//!   the tenant is the segment after `inbox`) and `PREFIX/uploads/TENANT/…` (signed uploads,
//!   graded by the event as by `…/complete`, whichever comes first). Every other object of the
//!   bucket (the services' own scans and bundles, other prefixes) is acknowledged and ignored:
//!   an Eventarc trigger filters by bucket only.
//! - **Once**: delivery is at least once, in any order. The batch that grades an object is named
//!   after its key and generation ([`super::uploads::batch_id_for`]), so a redelivered event
//!   (same `ce-id`, same generation) finds it; an event for a generation since overwritten is
//!   acknowledged as `superseded` (the newer generation's own event grades it); and the scan is
//!   recorded by content hash, so the same bytes under two names are one scan, graded once.
//! - **Who may call**: nobody unless `GABARITO_STORAGE_EVENTS=cloud-run-iam`, which says that
//!   Cloud Run authenticates the caller: the service that takes events is deployed with
//!   `--no-allow-unauthenticated` and only the trigger's service account has `run.invoker` on
//!   it (Cloud Run checks the Google-signed ID token Eventarc sends before the request gets
//!   here). The bearer tokens of the API do not apply (Eventarc cannot send them).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use service::{ApiResult, Problem, ProblemType};
use store::{ObjectError, TenantId};
use utoipa::ToSchema;

use super::state::AppState;
use super::uploads::{self, Adoption};

/// The only event type taken.
pub const FINALIZED: &str = "google.cloud.storage.object.v1.finalized";

/// The object's JSON as Cloud Storage describes it (the fields used; 64-bit numbers are strings).
#[derive(Debug, Deserialize, ToSchema)]
pub struct StorageObjectData {
    /// The bucket.
    pub bucket: String,
    /// The object's name.
    pub name: String,
    /// Its generation, a decimal string.
    pub generation: String,
    /// Its size in bytes, a decimal string.
    #[serde(default)]
    pub size: Option<String>,
}

/// What was done with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventStatus {
    /// A batch was queued to grade the object.
    Queued,
    /// This object generation was handed over before (a redelivery): nothing more is done.
    Duplicate,
    /// The same bytes are a scan graded before: nothing more is done.
    AlreadyGraded,
    /// A newer generation has replaced the object, or it is gone: its own event grades it.
    Superseded,
    /// Not an object to grade (another prefix, the services' own objects, a name that is not a
    /// key): acknowledged so that it is not delivered again.
    Ignored,
    /// Over the grader's file limit: not graded.
    TooLarge,
}

/// The answer to an event (always 200 once the event is understood, so Eventarc stops
/// delivering it).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// The event's `ce-id`.
    pub id: String,
    /// What was done.
    pub status: EventStatus,
    /// Why it was ignored or superseded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The tenant, for an object of a drop folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan_id: Option<i64>,
    /// The batch grading it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

fn ce<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            Problem::invalid_request(format!(
                "a CloudEvent in binary mode needs the {name} header (ce-id, ce-type, ce-source, \
                 ce-subject, ce-specversion)"
            ))
        })
}

/// A Cloud Storage "object finalized" event from Eventarc (CloudEvents binary mode): a file
/// dropped under `inbox/TENANT/` (or uploaded under `uploads/TENANT/`) is graded, once.
#[utoipa::path(post, path = "/v1/storage-events", tag = "scans",
    params(
        ("ce-id" = String, Header, description = "The event's id"),
        ("ce-type" = String, Header, description = "`google.cloud.storage.object.v1.finalized`"),
        ("ce-source" = String, Header, description = "`//storage.googleapis.com/projects/_/buckets/BUCKET`"),
        ("ce-subject" = String, Header, description = "`objects/NAME`"),
        ("ce-specversion" = String, Header, description = "`1.0`"),
    ),
    request_body(content = StorageObjectData, description = "The object's metadata, as Cloud Storage gives it", content_type = "application/json"),
    responses(
        (status = 200, description = "Understood: queued, or acknowledged without grading (see status)", body = EventOut),
        (status = 400, description = "Not a CloudEvent of this shape: a ce- header or the JSON body missing or malformed, ce-subject not the body's name", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Storage events are off on this service (GABARITO_STORAGE_EVENTS)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An event of another bucket, or another event type", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "Objects are kept in a local folder: there is no bucket to take events from", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or storage is unavailable: deliver again", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn post_storage_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<EventOut>> {
    if !state.storage_events {
        return Err(Problem::new(
            ProblemType::Forbidden,
            "storage events are off on this service: set GABARITO_STORAGE_EVENTS=cloud-run-iam on \
             a service that Cloud Run authenticates (deployed with --no-allow-unauthenticated, \
             run.invoker for the Eventarc trigger's service account only)",
        ));
    }
    let id = ce(&headers, "ce-id")?.to_string();
    let kind = ce(&headers, "ce-type")?;
    let source = ce(&headers, "ce-source")?;
    let subject = ce(&headers, "ce-subject")?;
    ce(&headers, "ce-specversion")?;
    if kind != FINALIZED {
        return Err(Problem::new(
            ProblemType::Unprocessable,
            format!(
                "ce-type {kind:?}: this route takes {FINALIZED} only (filter the trigger on it)"
            ),
        ));
    }
    let data: StorageObjectData = serde_json::from_slice(&body).map_err(|e| {
        Problem::invalid_request(format!(
            "the body must be the object's JSON (bucket, name, generation as a string): {e}"
        ))
    })?;
    let generation: i64 = data.generation.parse().map_err(|_| {
        Problem::invalid_request(format!(
            "generation {:?} is not a decimal integer",
            data.generation
        ))
    })?;
    if subject.strip_prefix("objects/") != Some(data.name.as_str()) {
        return Err(Problem::invalid_request(format!(
            "ce-subject {subject:?} is not objects/ and the body's name {:?}",
            data.name
        )));
    }
    let bucket = source
        .strip_prefix("//storage.googleapis.com/projects/_/buckets/")
        .filter(|b| *b == data.bucket)
        .ok_or_else(|| {
            Problem::invalid_request(format!(
                "ce-source {source:?} is not //storage.googleapis.com/projects/_/buckets/{}",
                data.bucket
            ))
        })?;
    let out = |status, reason: Option<String>| EventOut {
        id: id.clone(),
        status,
        reason,
        tenant: None,
        scan_id: None,
        batch_id: None,
    };
    let Some(key) = state.objects.key_of(bucket, &data.name) else {
        let here = state.objects.describe();
        if !here.starts_with("gs://") {
            return Err(Problem::new(
                ProblemType::NotSupported,
                format!(
                    "objects are kept in {here}, not a bucket: storage events need GABARITO_STORAGE=gs://BUCKET"
                ),
            ));
        }
        if !here.starts_with(&format!("gs://{bucket}")) {
            return Err(Problem::new(
                ProblemType::Unprocessable,
                format!("an event of bucket {bucket:?}: this service keeps its objects in {here}"),
            ));
        }
        return Ok(Json(out(
            EventStatus::Ignored,
            Some(format!(
                "{:?} is not under {here} or not a valid object key",
                data.name
            )),
        )));
    };
    let mut segments = key.splitn(3, '/');
    let (Some(tenant), Some(kind), Some(rest)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Ok(Json(out(
            EventStatus::Ignored,
            Some("not in a drop folder".into()),
        )));
    };
    if kind != "inbox" && kind != "uploads" {
        return Ok(Json(out(
            EventStatus::Ignored,
            Some(format!(
                "a {kind} object, not one dropped to be graded (inbox/ or uploads/)"
            )),
        )));
    }
    let Ok(tenant) = TenantId::new(tenant) else {
        return Ok(Json(out(
            EventStatus::Ignored,
            Some(format!("{tenant:?} is not a tenant id")),
        )));
    };
    let current = match state.objects.stat(&key).await {
        Ok(meta) => meta,
        Err(ObjectError::NotFound(_)) => {
            return Ok(Json(out(
                EventStatus::Superseded,
                Some("the object is gone".into()),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    match current.generation {
        Some(now) if now > generation => {
            return Ok(Json(out(
                EventStatus::Superseded,
                Some(format!("generation {generation} was replaced by {now}")),
            )));
        }
        // Cloud Storage is strongly consistent: an older generation than the event's means a
        // read from somewhere stale. Have the event delivered again.
        Some(now) if now < generation => {
            return Err(Problem::unavailable(format!(
                "the object reads as generation {now}, older than the event's {generation}"
            )));
        }
        _ => {}
    }
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let marker = format!("{key}#{generation}");
    let adopted = uploads::adopt(&state, &tenant, &key, name, &marker).await?;
    tracing::info!(ce_id = %id, key, generation, status = ?adopted.status, "storage event");
    let status = match adopted.status {
        Adoption::Queued => EventStatus::Queued,
        Adoption::Duplicate => EventStatus::Duplicate,
        Adoption::AlreadyGraded => EventStatus::AlreadyGraded,
        Adoption::TooLarge => EventStatus::TooLarge,
    };
    Ok(Json(EventOut {
        id,
        status,
        reason: None,
        tenant: Some(tenant.to_string()),
        scan_id: adopted.scan_id,
        batch_id: adopted.batch_id,
    }))
}
