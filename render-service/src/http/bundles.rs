//! Bundles: asked for with a roster (`POST /v1/exams/{id}/bundles`), rendered by the
//! `render-bundle` job, followed (`GET /v1/bundles/{id}`) and downloaded (`…/pdf`,
//! `…/manifest`) straight from object storage.

use std::collections::HashSet;
use std::ops::Range;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::{
    ACCEPT_RANGES, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION,
    RANGE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use model::{Exam, Student, read_roster};
use rand::RngExt;
use render::{RenderError, bundle_page_count};
use serde::{Deserialize, Serialize};
use service::worker::payload_json;
use service::{ApiResult, Caller, FieldError, JobKind, Problem, ProblemType};
use store::{BundleRecord, JobStatus, NewBundle, Scope};
use tokio_util::io::ReaderStream;
use utoipa::ToSchema;

use super::state::AppState;
use super::utf8;
use crate::jobs::{BundleRequest, RenderBundle, RenderBundlePayload};

/// Most students a roster may list: one bundle is one PDF, rendered by one instance.
pub const MAX_ROSTER_STUDENTS: usize = 20_000;
/// Most anonymous sheets one bundle may have.
pub const MAX_COPIES: u32 = 10_000;
/// Most rows at fault listed in one problem document.
const MAX_ROW_ERRORS: usize = 50;

/// A student of a JSON roster (the columns of the roster CSV).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RosterStudent {
    /// The school's identifier for the student; unique within the roster (≤ 64 characters).
    pub student_id: String,
    /// Full name, printed on the sheet (≤ 120 characters).
    pub name: String,
    /// Class or group, printed on the sheet (≤ 40 characters).
    #[serde(default)]
    pub class: String,
}

/// Anonymous sheets (with a student-number grid) instead of a roster.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Copies {
    /// How many sheets, 1 to 10,000.
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "service::number::whole")]
    pub copies: u32,
}

/// What to render: a roster (one sheet per student, at most 20,000) or anonymous copies.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BundleBody {
    /// One sheet per student, in this order (1 to 20,000 students).
    Roster(Vec<RosterStudent>),
    /// Anonymous sheets.
    Copies(Copies),
}

/// Pages rendered so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Pages rendered (by the current attempt).
    pub pages_done: u32,
    /// Pages of the whole PDF.
    pub pages_total: u32,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a worker.
    Queued,
    /// Being rendered.
    Running,
    /// The PDF and manifest can be downloaded.
    Done,
    /// Given up on; `error` says why.
    Failed,
}

impl From<JobStatus> for Status {
    fn from(status: JobStatus) -> Self {
        match status {
            JobStatus::Queued => Status::Queued,
            JobStatus::Running => Status::Running,
            JobStatus::Done => Status::Done,
            JobStatus::Failed => Status::Failed,
        }
    }
}

/// A bundle and where its rendering is.
#[derive(Debug, Serialize, ToSchema)]
pub struct BundleView {
    /// The bundle's id.
    pub id: String,
    /// The exam it is a bundle of.
    pub exam_id: String,
    /// `queued`, `running`, `done` or `failed`.
    pub status: Status,
    /// Pages rendered of the total.
    pub progress: Progress,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The PDF, when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf_url: Option<String>,
    /// The manifest (`bundle.json`), when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_url: Option<String>,
    /// Pages of the PDF.
    pub pages: u32,
    /// Size of the PDF in bytes, when done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

impl BundleView {
    fn of(record: BundleRecord) -> Self {
        let done = record.status == JobStatus::Done && record.pdf_key.is_some();
        let url = |what: &str| done.then(|| format!("/v1/bundles/{}/{what}", record.id));
        Self {
            pdf_url: url("pdf"),
            manifest_url: url("manifest"),
            status: record.status.into(),
            progress: Progress {
                pages_done: record.pages_done,
                pages_total: record.pages_total,
            },
            error: (record.status == JobStatus::Failed).then(|| {
                record
                    .error
                    .unwrap_or_else(|| "no reason was recorded".to_string())
            }),
            pages: record.pages_total,
            bytes: record.pdf_bytes.filter(|_| done),
            exam_id: record.exam_id,
            id: record.id,
        }
    }
}

/// Asks for a bundle of the exam: a roster (JSON array of students, or the roster CSV with
/// `Content-Type: text/csv`), or `{"copies": N}` for anonymous sheets.
///
/// The roster is validated in full first (a bad roster is a 422 naming the rows, never a
/// failed job); the bundle is then rendered in the background: follow it with
/// `GET /v1/bundles/{id}`.
#[utoipa::path(post, path = "/v1/exams/{id}/bundles", tag = "bundles",
    params(("id" = String, Path, description = "The exam's id"), CreateQuery),
    request_body(description = "The roster or the number of anonymous copies", content(
        (BundleBody = "application/json"),
        (String = "text/csv"),
    )),
    responses(
        (status = 202, description = "Queued", body = BundleView,
            headers(("Location" = String, description = "/v1/bundles/{id}"))),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 32 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The roster is invalid (`errors` lists the rows: CSV lines, the header being 1; JSON array indexes from 0), or too many copies", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_bundle(
    State(state): State<AppState>,
    caller: Caller,
    exam_id: Result<Path<String>, PathRejection>,
    service::Query(query): service::Query<CreateQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let tenant = caller.require(Scope::Render)?;
    let Path(exam_id) = exam_id?;
    // The exam first: a roster sent to a missing exam is a 404, whatever the roster.
    let exam = state
        .store()
        .exam(tenant, &exam_id)
        .await?
        .ok_or_else(|| Problem::not_found("exam", &exam_id))?;
    let body = body?;
    let (roster, copies) = match media_type(&headers).as_deref() {
        Some("text/csv") => (Some(csv_roster(&body)?), None),
        None | Some("application/json") => json_request(&body)?,
        Some(other) => {
            return Err(Problem::new(
                ProblemType::UnsupportedMediaType,
                format!(
                    "a bundle is asked for with application/json (a roster array or \
                     {{\"copies\": N}}) or text/csv (the roster CSV), not {other}"
                ),
            ));
        }
    };
    let pages_total = page_count(&exam.exam, roster.as_deref(), copies)?;
    let request = BundleRequest {
        roster,
        copies,
        seed: BundleRequest::new_seed(),
        order: query.order,
    };
    let request_json = serde_json::to_string(&request).map_err(|e| Problem::internal(&e))?;
    drop(request);
    let id = new_bundle_id();
    let payload = payload_json::<RenderBundle>(&RenderBundlePayload {
        bundle_id: id.clone(),
    });
    let record = state
        .store()
        .queue_bundle(
            tenant,
            &NewBundle {
                id: &id,
                exam_id: &exam_id,
                request_json: &request_json,
                pages_total,
            },
            RenderBundle::KIND,
            &payload,
        )
        .await?;
    state.wake.job_queued();
    tracing::info!(bundle = %id, exam = %exam_id, pages = pages_total, "bundle queued");
    Ok((
        StatusCode::ACCEPTED,
        [(LOCATION, format!("/v1/bundles/{id}"))],
        Json(BundleView::of(record)),
    ))
}

/// A bundle: its status, progress and, when done, where to download it.
#[utoipa::path(get, path = "/v1/bundles/{id}", tag = "bundles",
    params(("id" = String, Path, description = "The bundle's id")),
    responses(
        (status = 200, description = "The bundle", body = BundleView),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such bundle for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_bundle(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<BundleView>> {
    let tenant = caller.require(Scope::Render)?;
    let Path(id) = id?;
    let record = find_bundle(&state, tenant, &id).await?;
    Ok(Json(BundleView::of(record)))
}

/// A PDF file.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PdfFile(pub Vec<u8>);

/// How long a signed download URL of a bundle lives (`?redirect=signed`).
pub const SIGNED_DOWNLOAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How to hand the PDF over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PdfRedirect {
    /// `303 See Other` to a V4 signed URL of the PDF at Cloud Storage.
    Signed,
}

/// `POST /v1/exams/{id}/bundles`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CreateQuery {
    /// `class-name`: students by class, then by name; `roster`: as the roster lists them.
    /// Default: class then name when the exam has a booklet, roster order otherwise.
    pub order: Option<OrderParam>,
}

/// The order of a bundle's students.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OrderParam {
    /// By class, then by name.
    ClassName,
    /// As the roster lists them.
    Roster,
}

/// `GET /v1/bundles/{id}/pdf`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PdfQuery {
    /// `signed`: answer `303 See Other` to a signed Cloud Storage URL (valid 15 minutes) instead
    /// of the bytes, so that a bundle of any size downloads straight from the bucket, past
    /// Cloud Run's limits. When the service stores objects in a local folder (no URL can be
    /// signed), the PDF is streamed as without the parameter.
    pub redirect: Option<PdfRedirect>,
}

/// The bundle's PDF, streamed from storage. A single `Range: bytes=…` is answered with 206.
/// With `?redirect=signed`, a `303` to a signed Cloud Storage URL instead.
#[utoipa::path(get, path = "/v1/bundles/{id}/pdf", tag = "bundles",
    params(
        ("id" = String, Path, description = "The bundle's id"),
        PdfQuery,
        ("Range" = Option<String>, Header, description = "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n` (several ranges are answered with the whole file)"),
    ),
    responses(
        (status = 200, description = "The PDF", body = PdfFile, content_type = "application/pdf",
            headers(("Content-Length" = u64), ("Accept-Ranges" = String))),
        (status = 206, description = "Part of the PDF", body = PdfFile, content_type = "application/pdf",
            headers(("Content-Range" = String, description = "bytes a-b/len"), ("Content-Length" = u64))),
        (status = 303, description = "`?redirect=signed` on Cloud Storage: the signed URL (GET it without the bearer token; it expires in 15 minutes)",
            headers(("Location" = String, description = "The signed URL"))),
        (status = 400, description = "A `redirect` value other than `signed`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such bundle for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not rendered yet (or failed): the detail says its status", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range is outside the file", body = Problem, content_type = "application/problem+json",
            headers(("Content-Range" = String, description = "bytes */len"))),
        (status = 503, description = "The database or storage is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_pdf(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
    service::Query(query): service::Query<PdfQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Render)?;
    let Path(id) = id?;
    let record = find_bundle(&state, tenant, &id).await?;
    let key = written(&record, record.pdf_key.as_deref())?;
    if query.redirect == Some(PdfRedirect::Signed) {
        match state
            .objects
            .signed_url(key, store::SignedMethod::Get, SIGNED_DOWNLOAD_LIFETIME)
            .await
        {
            Ok(url) => {
                let mut response = StatusCode::SEE_OTHER.into_response();
                let h = response.headers_mut();
                h.insert(LOCATION, header_value(&url));
                h.insert(
                    axum::http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                );
                return Ok(response);
            }
            // A local folder signs nothing: the bytes come from here instead.
            Err(store::ObjectError::Unsupported(_)) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot sign a bundle's download URL");
                return Err(Problem::unavailable(format!(
                    "cannot sign a download URL now ({e}); retry, or download without \
                     ?redirect=signed"
                )));
            }
        }
    }
    let len = state.objects.len(key).await?;
    let range = headers
        .get(RANGE)
        .and_then(|v| v.to_str().ok())
        .map_or(ByteRange::Whole, |v| parse_range(v, len));
    let (status, range) = match range {
        ByteRange::Whole => (StatusCode::OK, 0..len),
        ByteRange::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        ByteRange::Unsatisfiable => {
            let mut response = Problem::new(
                ProblemType::RangeNotSatisfiable,
                format!(
                    "the PDF has {len} bytes: ask for a range within bytes 0-{}",
                    len.saturating_sub(1)
                ),
            )
            .into_response();
            response
                .headers_mut()
                .insert(CONTENT_RANGE, header_value(&format!("bytes */{len}")));
            return Ok(response);
        }
    };
    let mut response = stream(&state, key, range.clone(), "application/pdf").await?;
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        CONTENT_DISPOSITION,
        header_value(&format!(
            "attachment; filename=\"bundle-{}.pdf\"",
            record.id
        )),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            CONTENT_RANGE,
            header_value(&format!(
                "bytes {}-{}/{len}",
                range.start,
                range.end.saturating_sub(1)
            )),
        );
    }
    Ok(response)
}

/// The bundle's manifest (`bundle.json`): every page's sheet code, student, version and
/// geometry, as `render-service render` writes it.
#[utoipa::path(get, path = "/v1/bundles/{id}/manifest", tag = "bundles",
    params(("id" = String, Path, description = "The bundle's id")),
    responses(
        (status = 200, description = "The manifest", body = Object, content_type = "application/json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such bundle for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not rendered yet (or failed): the detail says its status", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database or storage is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_manifest(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Render)?;
    let Path(id) = id?;
    let record = find_bundle(&state, tenant, &id).await?;
    let key = written(&record, record.manifest_key.as_deref())?;
    let len = state.objects.len(key).await?;
    stream(&state, key, 0..len, "application/json").await
}

async fn find_bundle(
    state: &AppState,
    tenant: &store::TenantId,
    id: &str,
) -> ApiResult<BundleRecord> {
    state
        .store()
        .bundle(tenant, id)
        .await?
        .ok_or_else(|| Problem::not_found("bundle", id))
}

/// The key of a finished bundle's file, or a 409 that says where the bundle is.
fn written<'a>(record: &BundleRecord, key: Option<&'a str>) -> ApiResult<&'a str> {
    match (record.status, key) {
        (JobStatus::Done, Some(key)) => Ok(key),
        (JobStatus::Failed, _) => Err(Problem::new(
            ProblemType::Conflict,
            format!(
                "bundle {} failed: {}",
                record.id,
                record.error.as_deref().unwrap_or("no reason was recorded")
            ),
        )),
        (status, _) => Err(Problem::new(
            ProblemType::Conflict,
            format!(
                "bundle {} is {} ({} of {} pages rendered): poll GET /v1/bundles/{} until its \
                 status is done",
                record.id,
                status.as_str(),
                record.pages_done,
                record.pages_total,
                record.id
            ),
        )),
    }
}

/// `range` of the object under `key` as a streamed response body.
async fn stream(
    state: &AppState,
    key: &str,
    range: Range<u64>,
    content_type: &'static str,
) -> ApiResult<Response> {
    let length = range.end - range.start;
    let reader = state.objects.read_range(key, range).await?;
    let mut response =
        Body::from_stream(ReaderStream::with_capacity(reader, 64 * 1024)).into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}

fn header_value(text: &str) -> HeaderValue {
    // Only ASCII built here (numbers, ids of url-safe characters).
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The media type of the request, lowercase and without parameters; `None` without one.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(CONTENT_TYPE)?
        .to_str()
        .ok()
        .unwrap_or("invalid");
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// The roster CSV of the command line; rows are CSV lines, the header being 1.
fn csv_roster(body: &[u8]) -> ApiResult<Vec<Student>> {
    let roster = read_roster(body).map_err(|e| Problem::invalid_roster(&e))?;
    check_roster_size(roster.len())?;
    Ok(roster)
}

/// A JSON body: a roster array, or `{"copies": N}`.
fn json_request(body: &[u8]) -> ApiResult<(Option<Vec<Student>>, Option<u32>)> {
    let value: serde_json::Value = serde_json::from_str(utf8(body)?)
        .map_err(|e| Problem::invalid_request(format!("the body is not JSON: {e}")))?;
    match value {
        serde_json::Value::Array(items) => Ok((Some(json_roster(items)?), None)),
        serde_json::Value::Object(_) => {
            let Copies { copies } = serde_json::from_value(value).map_err(|e| {
                Problem::invalid_request(format!(
                    "expected a roster array or {{\"copies\": N}}: {e}"
                ))
            })?;
            if copies == 0 || copies > MAX_COPIES {
                return Err(Problem::unprocessable(format!(
                    "copies must be 1 to {MAX_COPIES}, not {copies}; ask for several bundles \
                     for more"
                ))
                .with_errors(vec![FieldError {
                    field: Some("copies".into()),
                    row: None,
                    message: format!("must be 1 to {MAX_COPIES}"),
                }]));
            }
            Ok((None, Some(copies)))
        }
        _ => Err(Problem::invalid_request(
            "expected a roster array of {student_id, name, class} or {\"copies\": N}",
        )),
    }
}

/// A JSON roster, every element checked; rows are the array's indexes from 0.
fn json_roster(items: Vec<serde_json::Value>) -> ApiResult<Vec<Student>> {
    check_roster_size(items.len())?;
    let mut errors = Vec::new();
    let mut students = Vec::with_capacity(items.len());
    let mut ids = HashSet::new();
    for (row, item) in items.into_iter().enumerate() {
        let fault = match serde_json::from_value::<RosterStudent>(item) {
            Err(e) => Some(format!("expected {{student_id, name, class}}: {e}")),
            Ok(s) => {
                let student = Student {
                    student_id: s.student_id.trim().to_string(),
                    name: s.name.trim().to_string(),
                    class: s.class.trim().to_string(),
                };
                let fault = student_fault(&student, &mut ids);
                students.push(student);
                fault
            }
        };
        if let Some(message) = fault {
            errors.push(FieldError {
                field: None,
                row: Some(row as u64),
                message,
            });
        }
    }
    if !errors.is_empty() {
        let first = &errors[0];
        let detail = format!(
            "roster element {}: {}{}",
            first.row.unwrap_or_default(),
            first.message,
            match errors.len() {
                1 => String::new(),
                n => format!(" (and {} more rows at fault)", n - 1),
            }
        );
        errors.truncate(MAX_ROW_ERRORS);
        return Err(Problem::new(ProblemType::InvalidRoster, detail).with_errors(errors));
    }
    if students.is_empty() {
        return Err(Problem::new(
            ProblemType::InvalidRoster,
            "the roster lists no student; send {\"copies\": N} for anonymous sheets",
        ));
    }
    Ok(students)
}

/// What is wrong with one student, if anything (the checks of the roster CSV).
fn student_fault(student: &Student, ids: &mut HashSet<String>) -> Option<String> {
    if student.student_id.is_empty() {
        Some("student_id is empty".into())
    } else if student.name.is_empty() {
        Some("name is empty".into())
    } else if let Err(message) = student.check_lengths() {
        Some(message)
    } else if !ids.insert(student.student_id.clone()) {
        Some(format!("student_id {:?} appears twice", student.student_id))
    } else {
        None
    }
}

fn check_roster_size(n: usize) -> ApiResult<()> {
    if n > MAX_ROSTER_STUDENTS {
        return Err(Problem::new(
            ProblemType::InvalidRoster,
            format!(
                "the roster lists {n} students, at most {MAX_ROSTER_STUDENTS} fit one bundle: \
                 split it (by class, for instance) into several bundles"
            ),
        ));
    }
    Ok(())
}

/// The renderer's own checks of the exam and roster, and the bundle's page count.
fn page_count(exam: &Exam, roster: Option<&[Student]>, copies: Option<u32>) -> ApiResult<u32> {
    let copies = usize::try_from(copies.unwrap_or(1)).unwrap_or(usize::MAX);
    bundle_page_count(exam, roster, copies).map_err(|e| match e {
        RenderError::Roster { index, message } => Problem::new(
            ProblemType::InvalidRoster,
            format!("roster entry {index}: {message}"),
        )
        .with_errors(vec![FieldError {
            field: None,
            row: Some(index as u64),
            message,
        }]),
        RenderError::EmptyRoster => {
            Problem::new(ProblemType::InvalidRoster, "the roster lists no student")
        }
        RenderError::Exam(e) => Problem::invalid_exam(&e),
        other => Problem::unprocessable(store::cli::error_line(&other)),
    })
}

/// A new bundle id: 22 random url-safe characters (131 bits).
fn new_bundle_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file: no range, one that is not `bytes=`, malformed, or several ranges.
    Whole,
    /// One range within the file (end exclusive).
    Part(Range<u64>),
    /// A single, well-formed range that lies outside the file.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110 §14.2) for a file of `len` bytes. A header the server
/// does not understand is ignored (the whole file), as the RFC allows; several ranges are
/// answered with the whole file too.
pub fn parse_range(header: &str, len: u64) -> ByteRange {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return ByteRange::Whole;
    };
    if spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.trim().is_empty(), number(first), number(last)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part(len.saturating_sub(n)..len)
            }
        }
        // bytes=a- or bytes=a-b.
        (false, Some(a), b) if last.trim().is_empty() || b.is_some() => {
            if let Some(b) = b
                && b < a
            {
                return ByteRange::Whole;
            }
            if a >= len {
                return ByteRange::Unsatisfiable;
            }
            let end = b.map_or(len, |b| b.saturating_add(1).min(len));
            ByteRange::Part(a..end)
        }
        _ => ByteRange::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_the_rfc_reads_them() {
        use ByteRange::*;
        let len = 1000;
        assert_eq!(parse_range("bytes=0-99", len), Part(0..100));
        assert_eq!(parse_range("bytes=500-", len), Part(500..1000));
        assert_eq!(parse_range("bytes=-100", len), Part(900..1000));
        assert_eq!(parse_range("bytes=-5000", len), Part(0..1000));
        assert_eq!(parse_range("bytes=990-5000", len), Part(990..1000));
        assert_eq!(parse_range("bytes=999-999", len), Part(999..1000));
        assert_eq!(parse_range("bytes=1000-", len), Unsatisfiable);
        assert_eq!(parse_range("bytes=1000-1001", len), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", len), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-0", 0), Unsatisfiable);
        // Ignored: whole file.
        for h in [
            "bytes=0-1,5-6",
            "items=0-5",
            "bytes=abc",
            "bytes=5-2",
            "bytes=-",
            "bytes=+1-2",
            "bytes=1-x",
        ] {
            assert_eq!(parse_range(h, len), Whole, "{h}");
        }
    }

    #[test]
    fn a_json_roster_names_every_row_at_fault() {
        let items: Vec<serde_json::Value> = serde_json::from_str(
            r#"[{"student_id":"1","name":"Ana","class":"3A"},
                {"student_id":"","name":"Bia"},
                {"student_id":"1","name":"Caio"},
                {"name":"Davi"}]"#,
        )
        .unwrap();
        let p = json_roster(items).unwrap_err();
        assert_eq!(p.status, 422);
        let rows: Vec<u64> = p.errors.iter().filter_map(|e| e.row).collect();
        assert_eq!(rows, [1, 2, 3]);
        assert!(p.errors[1].message.contains("twice"), "{:?}", p.errors);
    }

    #[test]
    fn copies_are_bounded() {
        assert!(json_request(br#"{"copies": 3}"#).is_ok());
        assert_eq!(json_request(br#"{"copies": 0}"#).unwrap_err().status, 422);
        assert_eq!(
            json_request(br#"{"copies": 10001}"#).unwrap_err().status,
            422
        );
        assert_eq!(json_request(br#"{"copies": -1}"#).unwrap_err().status, 400);
        assert_eq!(json_request(br#"{"copis": 3}"#).unwrap_err().status, 400);
        assert_eq!(json_request(b"[]").unwrap_err().status, 422);
        assert_eq!(json_request(b"3").unwrap_err().status, 400);
    }

    #[test]
    fn bundle_ids_are_url_safe_and_distinct() {
        let a = new_bundle_id();
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, new_bundle_id());
    }
}
