//! RFC 9457 problem documents: the one error type of both services, which is also a response.
//!
//! Every refusal names its kind by a `type` URI from a fixed catalogue ([`ProblemType`]), says
//! in `detail` what the client can do about it, and for invalid exam files and rosters lists
//! the fields or rows at fault in `errors`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::exam::ExamError;
use model::roster::RosterError;
use serde::Serialize;
use store::StoreError;
use store::objects::ObjectError;
use utoipa::ToSchema;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Cloud Run refuses request bodies over 32 MiB before they reach the service; the services
/// refuse them likewise, with a problem document that says where to go instead.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// The kinds of problem the services answer with: each is a `type` URI, a status and a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemType {
    /// The request is malformed: a body that is not the JSON or CSV it claims to be, a bad
    /// query parameter or path segment.
    InvalidRequest,
    /// No bearer token, or one that is unknown or revoked.
    Unauthorized,
    /// The token is valid but lacks the scope this route needs.
    Forbidden,
    /// Nothing by that id for this tenant (another tenant's resources are not found either).
    NotFound,
    /// The representation asked for in `Accept` is not one this route produces.
    NotAcceptable,
    /// The resource is not in a state that allows this yet (e.g. a bundle still rendering).
    Conflict,
    /// The body is larger than a request may be.
    PayloadTooLarge,
    /// The body's media type is not one this route accepts.
    UnsupportedMediaType,
    /// The requested byte range is outside the resource.
    RangeNotSatisfiable,
    /// The exam file does not validate; `errors` lists the fields at fault.
    InvalidExam,
    /// The roster does not validate; `errors` lists the rows at fault.
    InvalidRoster,
    /// The request is well-formed but cannot be carried out as asked (e.g. an answer key
    /// naming a choice the question does not have).
    Unprocessable,
    /// An uploaded file is not a scan the grader can read: corrupt, not an image or PDF, or
    /// over the pipeline's limits (pixels, pages).
    UnreadableScan,
    /// A dependency (the database, object storage) is unavailable, or the instance is shutting
    /// down: retry later.
    Unavailable,
    /// A fault of the service itself; the request id in the logs tells what happened.
    Internal,
    /// This deployment cannot do it (e.g. signed upload URLs while objects are kept in a local
    /// folder rather than Cloud Storage, or storage events while they are off).
    NotSupported,
}

impl ProblemType {
    /// Every kind, for documentation.
    pub const ALL: [ProblemType; 16] = [
        ProblemType::InvalidRequest,
        ProblemType::Unauthorized,
        ProblemType::Forbidden,
        ProblemType::NotFound,
        ProblemType::NotAcceptable,
        ProblemType::Conflict,
        ProblemType::PayloadTooLarge,
        ProblemType::UnsupportedMediaType,
        ProblemType::RangeNotSatisfiable,
        ProblemType::InvalidExam,
        ProblemType::InvalidRoster,
        ProblemType::Unprocessable,
        ProblemType::UnreadableScan,
        ProblemType::Unavailable,
        ProblemType::Internal,
        ProblemType::NotSupported,
    ];

    /// The `type` URI. A URN: it names the kind without pretending to be a page to fetch.
    pub fn uri(self) -> &'static str {
        macro_rules! urn {
            ($($kind:ident => $slug:literal),* $(,)?) => {
                match self { $(ProblemType::$kind => concat!("urn:gabarito:problem:", $slug),)* }
            };
        }
        urn!(
            InvalidRequest => "invalid-request",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not-found",
            NotAcceptable => "not-acceptable",
            Conflict => "conflict",
            PayloadTooLarge => "payload-too-large",
            UnsupportedMediaType => "unsupported-media-type",
            RangeNotSatisfiable => "range-not-satisfiable",
            InvalidExam => "invalid-exam",
            InvalidRoster => "invalid-roster",
            Unprocessable => "unprocessable",
            UnreadableScan => "unreadable-scan",
            Unavailable => "unavailable",
            Internal => "internal",
            NotSupported => "not-supported",
        )
    }

    /// The HTTP status that goes with the kind.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::InvalidRequest => StatusCode::BAD_REQUEST,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ProblemType::Conflict => StatusCode::CONFLICT,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemType::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ProblemType::InvalidExam
            | ProblemType::InvalidRoster
            | ProblemType::Unprocessable
            | ProblemType::UnreadableScan => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::NotSupported => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// A short, fixed summary of the kind.
    pub fn title(self) -> &'static str {
        match self {
            ProblemType::InvalidRequest => "The request is malformed",
            ProblemType::Unauthorized => "A valid bearer token is required",
            ProblemType::Forbidden => "The token lacks the scope this route needs",
            ProblemType::NotFound => "Not found",
            ProblemType::NotAcceptable => "No acceptable representation",
            ProblemType::Conflict => "Not possible in the resource's current state",
            ProblemType::PayloadTooLarge => "The request body is too large",
            ProblemType::UnsupportedMediaType => "Unsupported media type",
            ProblemType::RangeNotSatisfiable => "Range not satisfiable",
            ProblemType::InvalidExam => "The exam file is invalid",
            ProblemType::InvalidRoster => "The roster is invalid",
            ProblemType::Unprocessable => "The request cannot be carried out",
            ProblemType::UnreadableScan => "The scan cannot be read",
            ProblemType::Unavailable => "Temporarily unavailable",
            ProblemType::Internal => "Internal error",
            ProblemType::NotSupported => "Not supported by this deployment",
        }
    }
}

/// One field or row at fault in an invalid exam file, roster or request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a path into the document (`questions[3].key`), when one is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The roster row (the CSV line, the header being 1; for a JSON array, the element's
    /// index from 0), when a row is at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// The kind of problem: `urn:gabarito:problem:<kind>`, one of [`ProblemType`].
    #[serde(rename = "type")]
    pub type_uri: &'static str,
    /// A fixed summary of the kind.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, and what to do about it.
    pub detail: String,
    /// The fields or rows at fault, for invalid exam files, rosters and requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    kind: Option<ProblemType>,
    #[serde(skip)]
    retry_after_seconds: Option<u32>,
}

/// What a handler returns: its response, or a problem.
pub type ApiResult<T> = Result<T, Problem>;

impl Problem {
    /// A problem of `kind`, with what went wrong in `detail`.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            type_uri: kind.uri(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            kind: Some(kind),
            retry_after_seconds: None,
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ProblemType {
        self.kind.unwrap_or(ProblemType::Internal)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// With the fields or rows at fault.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// With a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_seconds = Some(seconds);
        self
    }

    /// A malformed request.
    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::InvalidRequest, detail)
    }

    /// `what` `id` does not exist for the caller's tenant.
    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            ProblemType::NotFound,
            format!("no {what} with id \"{id}\" for this token's tenant"),
        )
    }

    /// A well-formed request that cannot be carried out.
    pub fn unprocessable(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unprocessable, detail)
    }

    /// A fault of the service: logged in full, told to the client without internals.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %store::cli::error_line(error), "internal error");
        Self::new(
            ProblemType::Internal,
            "the service failed on this request; the request id in the logs tells why",
        )
    }

    /// A dependency is down: retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::Unavailable, detail).retry_after(5)
    }

    /// A request body over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ProblemType::PayloadTooLarge,
            format!(
                "the body is over {} MiB, the most one request may carry (Cloud Run refuses \
                 larger requests before they reach the service); send files one by one or in \
                 several smaller multipart requests, or upload a large scanner PDF to storage \
                 and have it graded from there",
                limit / (1024 * 1024)
            ),
        )
    }

    /// An invalid exam file.
    pub fn invalid_exam(error: &ExamError) -> Self {
        let field = (!error.path.is_empty()).then(|| error.path.clone());
        let detail = match &field {
            Some(path) => format!("exam file: {path}: {}", error.message),
            None => format!("exam file: {}", error.message),
        };
        Self::new(ProblemType::InvalidExam, detail).with_errors(vec![FieldError {
            field,
            row: None,
            message: error.message.clone(),
        }])
    }

    /// An invalid roster CSV (rows counted as CSV lines, the header being 1).
    pub fn invalid_roster(error: &RosterError) -> Self {
        Self::new(
            ProblemType::InvalidRoster,
            format!("roster row {}: {}", error.row, error.message),
        )
        .with_errors(vec![FieldError {
            field: None,
            row: Some(error.row),
            message: error.message.clone(),
        }])
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.title, self.status, self.detail)
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gabarito\""),
            );
        }
        if let Some(seconds) = self.retry_after_seconds {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound { what, id } => Problem::not_found(what, id),
            StoreError::Invalid(message) => Problem::unprocessable(message.clone()),
            StoreError::Exam(exam) => Problem::invalid_exam(exam),
            StoreError::Database(_) | StoreError::ReadOnly { .. } => {
                tracing::warn!(error = %store::cli::error_line(&error), "database unavailable");
                Problem::unavailable("the database is unavailable; retry in a few seconds")
            }
            StoreError::Object(ObjectError::Unsupported(why)) => {
                Problem::new(ProblemType::NotSupported, why.clone())
            }
            StoreError::Object(ObjectError::NotFound(key)) => {
                tracing::error!(key, "object missing from storage");
                Problem::internal(&error)
            }
            _ => Problem::internal(&error),
        }
    }
}

impl From<ObjectError> for Problem {
    fn from(error: ObjectError) -> Self {
        Problem::from(StoreError::Object(error))
    }
}

/// The JSON extractor's rejections as problems: a body that is not JSON, or JSON of the wrong
/// shape, is the client's to fix and is told where.
impl From<axum::extract::rejection::JsonRejection> for Problem {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as J;
        match rejection {
            J::MissingJsonContentType(_) => Problem::new(
                ProblemType::UnsupportedMediaType,
                "send the body as JSON with Content-Type: application/json",
            ),
            J::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Problem::payload_too_large(MAX_REQUEST_BYTES)
            }
            other => Problem::invalid_request(other.body_text()),
        }
    }
}

impl From<axum::extract::rejection::BytesRejection> for Problem {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large(MAX_REQUEST_BYTES)
        } else {
            Problem::invalid_request(rejection.body_text())
        }
    }
}

impl From<axum::extract::rejection::PathRejection> for Problem {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Problem::invalid_request(rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for Problem {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Problem::invalid_request(rejection.body_text())
    }
}

impl From<axum::extract::multipart::MultipartError> for Problem {
    fn from(error: axum::extract::multipart::MultipartError) -> Self {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large(MAX_REQUEST_BYTES)
        } else {
            Problem::invalid_request(format!("multipart body: {}", error.body_text()))
        }
    }
}

impl From<axum::extract::multipart::MultipartRejection> for Problem {
    fn from(rejection: axum::extract::multipart::MultipartRejection) -> Self {
        Problem::new(
            ProblemType::UnsupportedMediaType,
            format!(
                "expected multipart/form-data with a boundary: {}",
                rejection.body_text()
            ),
        )
    }
}

/// Answers unknown paths with a problem document rather than an empty 404.
pub async fn fallback(uri: axum::http::Uri) -> Problem {
    Problem::new(
        ProblemType::NotFound,
        format!("no route {}; see /openapi.json for the routes", uri.path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_uri() {
        let mut uris: Vec<&str> = ProblemType::ALL.iter().map(|k| k.uri()).collect();
        uris.sort();
        uris.dedup();
        assert_eq!(uris.len(), ProblemType::ALL.len());
    }

    #[test]
    fn an_exam_error_names_its_field() {
        let p = Problem::invalid_exam(&ExamError {
            path: "questions[2].key".into(),
            message: "choice 7 out of range".into(),
        });
        assert_eq!(p.status, 422);
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["type"], "urn:gabarito:problem:invalid-exam");
        assert_eq!(json["errors"][0]["field"], "questions[2].key");
    }
}
