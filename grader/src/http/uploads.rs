//! Scans that reach the bucket without passing through a request body: uploaded through a
//! signed URL (`POST /v1/scan-uploads`, then `…/complete`), or dropped by a scanning station and
//! announced by a storage event ([`super::events`]). Both end in [`adopt`]: the object becomes a
//! scan (by content hash, so the same bytes are one scan) and a batch grades it, once.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use service::{ApiResult, Caller, Path, Problem, ProblemType};
use store::{NewScan, ObjectError, Scope, SignedMethod, StoreError, TenantId};
use utoipa::ToSchema;

use super::batches;
use super::state::AppState;

/// How long a signed upload URL lives: long enough for a 60 MiB PDF over a slow school link.
pub const SIGNED_UPLOAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// What became of an object handed over for grading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Adoption {
    /// A batch was queued to grade it (follow `batch_id`).
    Queued,
    /// This object (this generation of it) was handed over before: its batch stands.
    Duplicate,
    /// The same bytes are a scan graded (or refused) before: nothing more is done.
    AlreadyGraded,
    /// Too large to grade (over the grader's file limit); not recorded.
    TooLarge,
}

/// The outcome of [`adopt`].
#[derive(Debug, Clone)]
pub struct Adopted {
    /// What was done.
    pub status: Adoption,
    /// The scan, when there is one.
    pub scan_id: Option<i64>,
    /// The batch grading it, when there is one.
    pub batch_id: Option<String>,
}

/// The batch id of a hand-over: `sb_` and 20 hex digits of the SHA-256 of the tenant and
/// `marker` (the key and the generation of the object), so that the same object generation
/// handed over twice (a redelivered event, a retried completion) meets its own batch.
pub fn batch_id_for(tenant: &TenantId, marker: &str) -> String {
    let hash = store::content_hash(format!("{tenant}\n{marker}").as_bytes());
    format!("sb_{}", &hash[..20])
}

/// Makes the object under `key` a scan of `tenant` named `file_name`, and has it graded once:
/// hashed as it is read (never held whole), recorded by content hash (the object stays where it
/// is as the scan's bytes), and queued as a one-scan batch whose id is derived from `marker`.
/// `ObjectError::NotFound` when there is no such object.
pub async fn adopt(
    state: &AppState,
    tenant: &TenantId,
    key: &str,
    file_name: &str,
    marker: &str,
) -> ApiResult<Adopted> {
    let batch_id = batch_id_for(tenant, marker);
    if let Some(batch) = state.store.scan_batch(tenant, &batch_id).await? {
        return Ok(Adopted {
            status: Adoption::Duplicate,
            scan_id: batch.scans.first().map(|s| s.scan_id),
            batch_id: Some(batch_id),
        });
    }
    let len = state.objects.len(key).await?;
    if len > state.limits.max_file_bytes {
        tracing::warn!(
            key,
            len,
            "an uploaded scan is over the file limit; not graded"
        );
        return Ok(Adopted {
            status: Adoption::TooLarge,
            scan_id: None,
            batch_id: None,
        });
    }
    let reader = state.objects.read_range(key, 0..len).await?;
    let hash = store::objects::content_hash_of_reader(reader)
        .await
        .map_err(|source| ObjectError::Io {
            key: key.to_string(),
            source,
        })?;
    let received = state
        .store
        .receive_scan(
            tenant,
            &NewScan {
                content_hash: hash,
                object_key: key.to_string(),
                byte_len: len,
                file_name: file_name.to_string(),
            },
        )
        .await?;
    let scan_id = received.scan.id;
    if !received.scan.status.needs_grading() {
        return Ok(Adopted {
            status: Adoption::AlreadyGraded,
            scan_id: Some(scan_id),
            batch_id: None,
        });
    }
    match batches::queue_as(state, tenant, &batch_id, &[scan_id]).await {
        Ok(_) => Ok(Adopted {
            status: Adoption::Queued,
            scan_id: Some(scan_id),
            batch_id: Some(batch_id),
        }),
        // Another delivery of the same object queued it between our look and now.
        Err(StoreError::Invalid(_))
            if state.store.scan_batch(tenant, &batch_id).await?.is_some() =>
        {
            Ok(Adopted {
                status: Adoption::Duplicate,
                scan_id: Some(scan_id),
                batch_id: Some(batch_id),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/scan-uploads`'s body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanUploadIn {
    /// The file's name, kept as the scan's name (letters, digits, `.`, `-`, `_`; other
    /// characters become `_`; at most 80).
    pub file_name: Option<String>,
}

/// A signed upload: PUT the file to `url`, then POST `complete`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanUploadOut {
    /// The upload's id.
    pub upload_id: String,
    /// `PUT`.
    pub method: String,
    /// The signed Cloud Storage URL: PUT the file's bytes as the body, without the bearer token.
    pub url: String,
    /// Seconds the URL stays valid.
    pub expires_in_seconds: u64,
    /// Where to POST once the upload is done, to have it graded.
    pub complete: String,
    /// The largest file the grader grades, bytes.
    pub max_bytes: u64,
}

/// What `…/complete` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanUploadDone {
    /// The upload's id.
    pub upload_id: String,
    /// `queued`, `duplicate` (completed before), `already-graded` (the same bytes are a scan
    /// graded before) or `too-large`.
    pub status: Adoption,
    /// The scan (`GET /v1/scans/{id}`).
    pub scan_id: Option<i64>,
    /// The batch grading it (`GET /v1/scan-batches/{id}`).
    pub batch_id: Option<String>,
}

/// The name part of an upload id: the file name's safe characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    let clean = clean.trim_start_matches('.');
    if clean.is_empty() {
        "scan".to_string()
    } else {
        clean.to_string()
    }
}

/// `up_`, 20 random hex digits, `_`, the file name.
fn new_upload_id(file_name: &str) -> String {
    let n: u128 = rand::rng().random();
    format!("up_{:020x}_{}", n >> 48, clean_name(file_name))
}

/// The upload's file name, from its id; `None` for an id not of [`new_upload_id`]'s shape.
fn upload_name(id: &str) -> Option<&str> {
    let rest = id.strip_prefix("up_")?;
    let (hex, name) = rest.split_at_checked(20)?;
    let name = name.strip_prefix('_')?;
    let ok = hex.bytes().all(|b| b.is_ascii_hexdigit())
        && !name.is_empty()
        && store::objects::check_key(name).is_ok();
    ok.then_some(name)
}

fn upload_key(tenant: &TenantId, id: &str) -> String {
    format!("{tenant}/uploads/{id}")
}

/// A signed URL to upload one large scan (a scanner's PDF past the 32 MiB a request may carry)
/// straight to Cloud Storage; then `POST /v1/scan-uploads/{id}/complete` has it graded.
#[utoipa::path(post, path = "/v1/scan-uploads", tag = "scans",
    request_body(content = Option<ScanUploadIn>, description = "Optional: the file's name", content_type = "application/json"),
    responses(
        (status = 201, description = "PUT the file to `url`, then POST `complete`", body = ScanUploadOut,
            headers(("Location" = String, description = "The completion route"))),
        (status = 400, description = "A body that is not the JSON described", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "Objects are kept in a local folder: no URL can be signed (post the scan to /v1/scans)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Signing failed (credentials) or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn post_scan_upload(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Scan)?.clone();
    let request: ScanUploadIn = if body.iter().all(u8::is_ascii_whitespace) {
        ScanUploadIn::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            Problem::invalid_request(format!(
                "the body must be JSON like {{\"file_name\": \"lote-3.pdf\"}} (or empty): {e}"
            ))
        })?
    };
    let id = new_upload_id(request.file_name.as_deref().unwrap_or("scan.pdf"));
    let key = upload_key(&tenant, &id);
    let url = match state
        .objects
        .signed_url(&key, SignedMethod::Put, SIGNED_UPLOAD_LIFETIME)
        .await
    {
        Ok(url) => url,
        Err(ObjectError::Unsupported(why)) => {
            return Err(Problem::new(
                ProblemType::NotSupported,
                format!("{why}; post the scan to POST /v1/scans instead"),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot sign an upload URL");
            return Err(Problem::unavailable(format!(
                "cannot sign an upload URL now ({e})"
            )));
        }
    };
    let complete = format!("/v1/scan-uploads/{id}/complete");
    let mut response = (
        StatusCode::CREATED,
        Json(ScanUploadOut {
            upload_id: id,
            method: "PUT".into(),
            url,
            expires_in_seconds: SIGNED_UPLOAD_LIFETIME.as_secs(),
            complete: complete.clone(),
            max_bytes: state.limits.max_file_bytes,
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&complete) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The upload is done: grade it. Completing twice is answered with the same batch.
#[utoipa::path(post, path = "/v1/scan-uploads/{id}/complete", tag = "scans",
    params(("id" = String, Path, description = "The upload's id")),
    responses(
        (status = 202, description = "Queued (or queued before): follow the batch at Location", body = ScanUploadDone,
            headers(("Location" = String, description = "The batch"))),
        (status = 200, description = "The same bytes were graded before (`already-graded`), or the file is over the limit (`too-large`)", body = ScanUploadDone),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not an upload id", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing was uploaded under this id yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or storage is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn complete_scan_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Scan)?.clone();
    let name = upload_name(&id).ok_or_else(|| Problem::not_found("scan upload", &id))?;
    let key = upload_key(&tenant, &id);
    let meta = match state.objects.stat(&key).await {
        Ok(meta) => meta,
        Err(ObjectError::NotFound(_)) => {
            return Err(Problem::new(
                ProblemType::Conflict,
                format!(
                    "nothing has been uploaded under {id} yet: PUT the file to the signed URL \
                     first (it expires an hour after it was made)"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let marker = format!("{key}#{}", meta.generation.unwrap_or_default());
    let adopted = adopt(&state, &tenant, &key, name, &marker).await?;
    let status = match adopted.status {
        Adoption::Queued | Adoption::Duplicate => StatusCode::ACCEPTED,
        Adoption::AlreadyGraded | Adoption::TooLarge => StatusCode::OK,
    };
    let location = adopted
        .batch_id
        .as_ref()
        .map(|b| format!("/v1/scan-batches/{b}"));
    let mut response = (
        status,
        Json(ScanUploadDone {
            upload_id: id,
            status: adopted.status,
            scan_id: adopted.scan_id,
            batch_id: adopted.batch_id,
        }),
    )
        .into_response();
    if status == StatusCode::ACCEPTED
        && let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok())
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_carry_a_safe_name() {
        let id = new_upload_id("Lote 3 (manhã).pdf");
        assert_eq!(upload_name(&id), Some("Lote_3__manh__.pdf"));
        assert!(store::objects::check_key(&upload_key(&TenantId::default_tenant(), &id)).is_ok());
        assert_eq!(upload_name(&new_upload_id("../..")), Some("scan"));
        for bad in [
            "",
            "up_",
            "up_xyz_a",
            "sb_0123456789abcdef0123_a",
            "up_0123456789abcdef0123_",
        ] {
            assert_eq!(upload_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn batch_ids_follow_the_object_generation() {
        let t = TenantId::default_tenant();
        let a = batch_id_for(&t, "default/inbox/a.pdf#1");
        assert_eq!(a, batch_id_for(&t, "default/inbox/a.pdf#1"));
        assert_ne!(a, batch_id_for(&t, "default/inbox/a.pdf#2"));
        assert_eq!(a.len(), 23);
    }
}
