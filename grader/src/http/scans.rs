//! `POST /v1/scans`, `GET /v1/scans/{id}`, `GET /v1/scans/{id}/annotated`: scans in, outcomes
//! out. A page's outcome is the object `grader grade --json` prints, field for field.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::scoring::AnswerState;
use pipeline::PageReport;
use serde::{Deserialize, Serialize};
use service::{ApiResult, Caller, Problem, ProblemType};
use service::{Path, Query};
use store::{ScanStatus, Scope, TenantId};
use utoipa::{IntoParams, ToSchema};

use super::batches;
use super::grade::{self, Graded};
use super::state::AppState;
use crate::grading::{Ingested, ScanOutcome, ScanVerdict};

/// A request is graded while the client waits when it carries at most this many pages (an
/// image is one page, a PDF as many as it has)…
pub const SYNC_MAX_PAGES: usize = 8;
/// …and at most this many bytes; a larger one is answered `202` with a batch to follow.
pub const SYNC_MAX_BYTES: usize = 8 * 1024 * 1024;

/// The media types of a scan sent as the whole body.
const SCAN_TYPES: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/tiff",
    "application/pdf",
    "application/octet-stream",
];

/// One question as read (`answers[]` of `grader grade --json`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AnswerOut {
    /// Question number, from 1.
    pub question: u32,
    /// Printed labels of the bubbles read as marked, e.g. `["C"]`.
    pub marked: Vec<String>,
    /// `blank`, `answered`, `multiple` or `uncertain` (a person decides).
    pub state: String,
}

/// The outcome of one scanned page: the object `grader grade --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PageOut {
    /// The file the page came from.
    pub file: String,
    /// Page within the file, from 1.
    pub page: u32,
    /// The sheet code, once identified.
    pub sheet_code: Option<String>,
    /// The student the sheet belongs to (roster sheets).
    pub student_id: Option<String>,
    /// Exam version of the sheet.
    pub version: Option<String>,
    /// Which step identified the sheet (`qr-rxing`, `qr-rqrr`, `qr-variant`, `qr-search`,
    /// `ocr-local`, `ocr-vision`, `person`); `null` when none did.
    pub identified_by: Option<String>,
    /// Every question of the page, in order.
    pub answers: Vec<AnswerOut>,
    /// Points earned (provisional while `review` is not empty).
    pub score: Option<f64>,
    /// Points available.
    pub max_score: Option<f64>,
    /// Why a person should look at this page; empty when none.
    pub review: Vec<String>,
    /// Why the page could not be graded at all.
    pub error: Option<String>,
    /// Set when the page is a booklet page, not an answer sheet: nothing on it is scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booklet: Option<BookletOut>,
}

/// A scanned booklet page.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BookletOut {
    /// Page of the student's booklet, from 1.
    pub booklet_page: u32,
    /// Open questions (from 1) whose written answer is on the page, stored for a person to
    /// grade (a review item under the student); empty: nothing on the page is graded.
    pub open_questions: Vec<u32>,
    /// What was done with the page, in a sentence.
    pub message: String,
}

fn state_word(state: AnswerState) -> &'static str {
    match state {
        AnswerState::Blank => "blank",
        AnswerState::Answered => "answered",
        AnswerState::Multiple => "multiple",
        AnswerState::Uncertain => "uncertain",
    }
}

impl From<&PageReport> for PageOut {
    fn from(r: &PageReport) -> Self {
        Self {
            file: r.file.clone(),
            page: r.page,
            sheet_code: r.sheet_code.clone(),
            student_id: r.student_id.clone(),
            version: r.version.clone(),
            identified_by: r.identified_by.map(|b| b.as_str().to_string()),
            answers: r
                .answers
                .iter()
                .map(|a| AnswerOut {
                    question: a.question,
                    marked: a.marked.clone(),
                    state: state_word(a.state).to_string(),
                })
                .collect(),
            score: r.score,
            max_score: r.max_score,
            review: r.review.iter().map(ToString::to_string).collect(),
            error: r.error.clone(),
            booklet: r.booklet.as_ref().map(|b| BookletOut {
                booklet_page: b.booklet_page,
                open_questions: b.open_questions.clone(),
                message: b.message(),
            }),
        }
    }
}

/// Where a scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScanState {
    /// Stored; waiting for its batch to grade it.
    Received,
    /// Graded now.
    Graded,
    /// Graded again now, replacing an earlier outcome (the earlier one left a page unnamed).
    Regraded,
    /// The same bytes were graded before: the stored outcome.
    AlreadyGraded,
    /// The file is not a scan the grader can read (see `error`); recorded as such.
    Unreadable,
}

/// One file's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ScanOut {
    /// The scan's id (`GET /v1/scans/{id}`): the same bytes always have the same id.
    pub scan_id: i64,
    /// The name it was sent under.
    pub file_name: String,
    /// What was done with it.
    pub status: ScanState,
    /// Whether something of it waits for a person (a review item, a page that counts for
    /// nothing).
    pub open: bool,
    /// One outcome per page.
    pub pages: Vec<PageOut>,
    /// Why the file could not be read, when `status` is `unreadable`.
    pub error: Option<String>,
}

impl ScanOut {
    fn of(outcome: &ScanOutcome, file_name: &str, unreadable: Option<String>) -> Self {
        let status = match (&unreadable, outcome.verdict) {
            (Some(_), _) | (None, ScanVerdict::Refused) => ScanState::Unreadable,
            (None, ScanVerdict::Graded) => ScanState::Graded,
            (None, ScanVerdict::Regraded) => ScanState::Regraded,
            (None, ScanVerdict::AlreadyGraded) => ScanState::AlreadyGraded,
        };
        Self {
            scan_id: outcome.scan_id,
            file_name: file_name.to_string(),
            status,
            open: outcome.open,
            pages: outcome.reports.iter().map(PageOut::from).collect(),
            error: unreadable,
        }
    }
}

/// The outcomes of a request's files, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScansOut {
    /// One entry per file.
    pub scans: Vec<ScanOut>,
}

/// A request too large to grade while the client waits: its files are stored, and a batch
/// grades them.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    /// The batch's id (`GET /v1/scan-batches/{id}`).
    pub id: String,
    /// `queued`.
    pub status: String,
    /// The scans of the batch (files with the same bytes are one scan).
    pub scans: usize,
}

/// A scan file as the request body (`format: binary`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ScanFile(#[allow(dead_code)] Vec<u8>);

/// Several scan files as `multipart/form-data`: every part with a filename is a file (any field
/// name); parts without one are form fields, ignored.
#[derive(ToSchema)]
pub struct ScanFiles {
    /// The files (at least one).
    #[allow(dead_code)]
    #[schema(min_items = 1)]
    pub files: Vec<ScanFile>,
}

/// A file received.
struct Upload {
    name: String,
    bytes: Bytes,
}

/// Grade scans: one image (JPEG, PNG, TIFF) or PDF as the body, or several files as
/// `multipart/form-data`.
///
/// Every file is stored (by content hash) before anything else. A request of at most 8 pages
/// and 8 MiB in all is graded at once (`200`, one entry per file, one outcome per page); a
/// larger one is answered `202` with a batch to follow at `Location`. The same bytes sent again
/// are the same scan: answered with the stored outcome, never counted twice.
#[utoipa::path(post, path = "/v1/scans", tag = "scans",
    request_body(description = "The scan (or several, as multipart/form-data)", content(
        (ScanFile = "image/jpeg"), (ScanFile = "image/png"), (ScanFile = "image/tiff"),
        (ScanFile = "application/pdf"), (ScanFiles = "multipart/form-data"))),
    responses(
        (status = 200, description = "Graded: one entry per file", body = ScansOut),
        (status = 202, description = "Too large to grade at once: queued as a batch",
            body = BatchAccepted, headers(("Location" = String, description = "The batch"))),
        (status = 400, description = "No file, or a malformed multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 32 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not an image, a PDF or multipart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The one file sent is not a scan the grader can read", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn post_scans(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Scan)?.clone();
    let (uploads, single) = read_uploads(&state, request).await?;
    let grading = grade::grading(&state, &tenant);
    // Stored and recorded first: whatever happens next, nothing accepted is lost.
    let mut ingested = Vec::with_capacity(uploads.len());
    for upload in &uploads {
        ingested.push(
            grading
                .ingest_bytes(&upload.name, &upload.bytes, false)
                .await
                .map_err(grade::problem)?,
        );
    }
    if !fits_sync(&state, &uploads).await {
        return queue_batch(&state, &tenant, &ingested).await;
    }
    let grader = grade::grader_for(&state, &tenant).await?;
    let mut scans: Vec<Option<ScanOut>> = Vec::with_capacity(uploads.len());
    let mut names: Vec<String> = Vec::with_capacity(uploads.len());
    // Pages that need Cloud Vision wait here, across the request's files: one call for all.
    let mut round = crate::cloud_ocr::Round::new();
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut again: Vec<(usize, usize)> = Vec::new();
    for (upload, ingested) in uploads.into_iter().zip(&ingested) {
        // The same bytes twice in one request are one scan, graded once.
        if let Some(&first) = seen.get(&ingested.scan_id) {
            again.push((scans.len(), first));
            scans.push(None);
            names.push(upload.name);
            continue;
        }
        let graded = grade::grade_scan(
            &state,
            &tenant,
            &grader,
            ingested,
            &upload.name,
            upload.bytes,
            &mut round,
            scans.len(),
        )
        .await?;
        seen.insert(ingested.scan_id, scans.len());
        scans.push(
            graded
                .map(|g| scan_out(g, &upload.name, single))
                .transpose()?,
        );
        names.push(upload.name);
    }
    for (at, graded) in grade::flush(&state, &tenant, &grader, &mut round, true).await? {
        scans[at] = Some(scan_out(graded, &names[at], single)?);
    }
    for (at, first) in again {
        if let Some(mut copy) = scans[first].clone() {
            copy.file_name = names[at].clone();
            scans[at] = Some(copy);
        }
    }
    let scans = scans
        .into_iter()
        .map(|s| {
            s.ok_or_else(|| {
                Problem::internal(&std::io::Error::other(
                    "a scan of the request was not graded",
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ScansOut { scans }).into_response())
}

/// A graded file's entry; the one file of a request that is not a scan is a 422.
fn scan_out(graded: Graded, name: &str, single: bool) -> Result<ScanOut, Problem> {
    let Graded {
        outcome,
        unreadable,
    } = graded;
    if single && let Some(why) = &unreadable {
        return Err(Problem::new(
            ProblemType::UnreadableScan,
            format!("{name}: {why}"),
        ));
    }
    Ok(ScanOut::of(&outcome, name, unreadable))
}

/// The files of the request, and whether it was one file as the whole body.
async fn read_uploads(state: &AppState, request: Request) -> ApiResult<(Vec<Upload>, bool)> {
    let content_type = media_type(request.headers());
    if content_type == "multipart/form-data" {
        let mut multipart = Multipart::from_request(request, state).await?;
        let mut uploads = Vec::new();
        while let Some(field) = multipart.next_field().await? {
            // A part without a file name is a form field (a station's note, say), not a file:
            // grading it would record an "unreadable scan" nobody sent.
            let Some(name) = field.file_name().map(clean_name) else {
                continue;
            };
            let bytes = field.bytes().await?;
            if !bytes.is_empty() {
                uploads.push(Upload { name, bytes });
            }
        }
        if uploads.is_empty() {
            return Err(Problem::invalid_request(
                "the multipart body holds no file: send each scan as a file part (with a \
                 filename, as `curl -F files=@scan.jpg` does)",
            ));
        }
        return Ok((uploads, false));
    }
    if !content_type.is_empty() && !SCAN_TYPES.contains(&content_type.as_str()) {
        return Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            format!(
                "Content-Type {content_type:?}: send a scan as image/jpeg, image/png, \
                 image/tiff or application/pdf, or several as multipart/form-data"
            ),
        ));
    }
    let name = file_name_of(request.headers()).unwrap_or_else(|| "scan".to_string());
    let bytes = Bytes::from_request(request, state).await?;
    if bytes.is_empty() {
        return Err(Problem::invalid_request(
            "the body is empty: send the scan's bytes as the body",
        ));
    }
    Ok((vec![Upload { name, bytes }], true))
}

/// The media type of the body, lower case, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The file name of `Content-Disposition: …; filename="…"`, if given.
fn file_name_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    let (_, rest) = value.split_once("filename=")?;
    let name = rest.split(';').next()?.trim().trim_matches('"');
    (!name.is_empty()).then(|| clean_name(name))
}

/// A file name as stored and shown: its last path segment, printable, at most 200 characters.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.is_empty() {
        "scan".to_string()
    } else {
        clean
    }
}

/// Whether the request is small enough to grade while the client waits.
async fn fits_sync(state: &AppState, uploads: &[Upload]) -> bool {
    let bytes: usize = uploads.iter().map(|u| u.bytes.len()).sum();
    if bytes > SYNC_MAX_BYTES || uploads.len() > SYNC_MAX_PAGES {
        return false;
    }
    let limits = state.limits;
    let files: Vec<Bytes> = uploads.iter().map(|u| u.bytes.clone()).collect();
    // Counting a PDF's pages reads its page tree (not its images): cheap, but not for the
    // runtime's threads.
    let pages = tokio::task::spawn_blocking(move || {
        files.iter().map(|b| page_count(b, &limits)).sum::<usize>()
    })
    .await
    .unwrap_or(usize::MAX);
    pages <= SYNC_MAX_PAGES
}

/// Pages of a file: a PDF's count, 1 for anything else (an unreadable PDF is refused as one).
fn page_count(bytes: &[u8], limits: &pipeline::Limits) -> usize {
    if !bytes.starts_with(b"%PDF") {
        return 1;
    }
    pipeline::decode::pdf::open(bytes, limits).map_or(1, |p| p.len())
}

async fn queue_batch(
    state: &AppState,
    tenant: &TenantId,
    ingested: &[Ingested],
) -> ApiResult<Response> {
    let mut ids: Vec<i64> = Vec::with_capacity(ingested.len());
    for i in ingested {
        if !ids.contains(&i.scan_id) {
            ids.push(i.scan_id);
        }
    }
    let batch = batches::queue(state, tenant, &ids).await?;
    let location = format!("/v1/scan-batches/{}", batch.id);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(BatchAccepted {
            id: batch.id,
            status: batch.status.to_string(),
            scans: batch.scans.len(),
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// A scan's stored outcome.
#[utoipa::path(get, path = "/v1/scans/{id}", tag = "scans",
    params(("id" = i64, Path, description = "The scan's id")),
    responses(
        (status = 200, description = "The scan's outcome", body = ScanOut),
        (status = 400, description = "The id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such scan for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_scan(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ScanOut>> {
    let tenant = caller.require(Scope::Scan)?;
    Ok(Json(stored_scan(&state, tenant, id).await?))
}

/// What is stored of scan `id`: its outcome once graded.
pub async fn stored_scan(state: &AppState, tenant: &TenantId, id: i64) -> ApiResult<ScanOut> {
    let scan = state
        .store
        .scan(tenant, id)
        .await?
        .ok_or_else(|| Problem::not_found("scan", id))?;
    let empty = |status, error| ScanOut {
        scan_id: scan.id,
        file_name: scan.file_name.clone(),
        status,
        open: status == ScanState::Unreadable,
        pages: Vec::new(),
        error,
    };
    Ok(match scan.status {
        ScanStatus::Received => empty(ScanState::Received, None),
        ScanStatus::Failed => empty(ScanState::Unreadable, scan.error.clone()),
        ScanStatus::Graded => {
            let ingested = Ingested {
                scan_id: scan.id,
                grade: None,
            };
            let outcome = grade::grading(state, tenant)
                .stored(&ingested, &scan.file_name)
                .await
                .map_err(grade::problem)?;
            let mut out = ScanOut::of(&outcome, &scan.file_name, None);
            out.status = ScanState::Graded;
            out
        }
    })
}

/// Which page to draw.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// Page of the file, from 1 (default 1).
    pub page: Option<u32>,
}

/// The page as the grader saw it (PNG): what was read, what was expected, what needs review.
#[utoipa::path(get, path = "/v1/scans/{id}/annotated", tag = "scans",
    params(("id" = i64, Path, description = "The scan's id"), PageQuery),
    responses(
        (status = 200, description = "The annotated page", content_type = "image/png", body = ScanFile),
        (status = 400, description = "A bad id or page", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the scan scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such scan or page", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The scan could not be read: nothing to draw", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_annotated(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Scan)?.clone();
    let page = query.page.unwrap_or(1);
    let image = page_image(&state, &tenant, id, page, |scan, report| {
        pipeline::annotate(scan, report)
    })
    .await?;
    png_response(&image)
}

/// Grades scan `id` again from its stored bytes and draws page `page` with `draw` (only one
/// page image is held at a time).
pub async fn page_image(
    state: &AppState,
    tenant: &TenantId,
    id: i64,
    page: u32,
    draw: impl Fn(&pipeline::PageScan, &PageReport) -> image::RgbImage + Send + 'static,
) -> ApiResult<image::RgbImage> {
    let scan = state
        .store
        .scan(tenant, id)
        .await?
        .ok_or_else(|| Problem::not_found("scan", id))?;
    if scan.object_key.is_empty() {
        return Err(Problem::new(
            ProblemType::Conflict,
            format!(
                "scan {id} was refused before it was stored ({}): nothing to draw",
                scan.error.as_deref().unwrap_or("too large")
            ),
        ));
    }
    let bytes = state.objects.get(&scan.object_key).await?;
    let grader = grade::grader_for(state, tenant).await?;
    let permit = Arc::clone(&state.grading)
        .acquire_owned()
        .await
        .map_err(|e| Problem::internal(&e))?;
    let name = scan.file_name.clone();
    let drawn = tokio::task::spawn_blocking(move || {
        let mut drawn = None;
        let mut error = None;
        grader.grade_each_page(&name, &bytes, |graded| {
            if graded.report.page != page {
                return;
            }
            match &graded.scan {
                Some(s) => drawn = Some(draw(s, &graded.report)),
                None => error = graded.report.error.clone(),
            }
        });
        drop(permit);
        (drawn, error)
    })
    .await
    .map_err(|e| Problem::internal(&e))?;
    match drawn {
        (Some(image), _) => Ok(image),
        (None, Some(error)) => Err(Problem::new(
            ProblemType::Conflict,
            format!("page {page} of scan {id} could not be read ({error}): nothing to draw"),
        )),
        (None, None) => Err(Problem::not_found("page", format!("{id}/{page}"))),
    }
}

/// An image as a PNG response.
pub fn png_response(image: &image::RgbImage) -> ApiResult<Response> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Problem::internal(&e))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        png,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::AnswerReport;

    #[test]
    fn a_page_is_the_object_grader_grade_json_prints() {
        let report = PageReport {
            file: "a.jpg".into(),
            page: 1,
            sheet_code: Some("K7QM4-XRT9H-WDA3C".into()),
            student_id: Some("1".into()),
            version: Some("A".into()),
            identified_by: Some(model::outcome::IdentifiedBy::QrRxing),
            answers: vec![AnswerReport {
                question: 1,
                marked: vec!["C".into()],
                state: AnswerState::Answered,
            }],
            score: Some(1.0),
            max_score: Some(2.0),
            review: vec![model::outcome::ReviewReason::UncertainMarks(vec![2])],
            error: None,
            booklet: None,
        };
        assert_eq!(
            serde_json::to_value(PageOut::from(&report)).expect("json"),
            serde_json::to_value(&report).expect("json")
        );
    }

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\scans\\a.jpg"), "a.jpg");
        assert_eq!(clean_name("a\nb"), "ab");
        assert_eq!(clean_name("/"), "scan");
    }
}
