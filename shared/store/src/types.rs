//! The plain data the repository takes and returns.

use std::fmt;

use serde::{Deserialize, Serialize};

use model::bundle::{AnswerBox, PageKind};
use model::exam::{Exam, ExamError};
use model::layout::PageLayout;
use model::outcome::{IdentifiedBy, ReviewReason};
use model::scoring::{AnswerState, ReadAnswer, Score};
use model::sheet_code::SheetCode;

/// The school a call acts for. Every row belongs to one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TenantId(String);

/// The tenant the command-line tools act for unless `--tenant` names another.
pub const DEFAULT_TENANT: &str = "default";

impl TenantId {
    /// A tenant id: 1 to 64 characters among ASCII letters, digits, `-`, `_` and `.`, so it is
    /// safe in object keys and logs.
    pub fn new(id: &str) -> Result<Self, StoreError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !id.starts_with('.');
        if ok {
            Ok(Self(id.to_string()))
        } else {
            Err(StoreError::Invalid(format!(
                "tenant id {id:?} must be 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'"
            )))
        }
    }

    /// The tenant of the command-line tools, [`DEFAULT_TENANT`].
    pub fn default_tenant() -> Self {
        Self(DEFAULT_TENANT.to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a repository call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached. Told with the server's own message only:
    /// Postgres errors carry the line of the server's C source that raised them, which means
    /// nothing to a user (so the driver's error is kept, but not as the displayed source).
    #[error("database: {}", database_message(.0))]
    Database(sqlx::Error),
    /// A migration could not be applied.
    #[error("database migration: {}", migration_message(.0))]
    Migrate(sqlx::migrate::MigrateError),
    /// The database file (or the connection) does not accept writes.
    #[error("database {database} is read-only")]
    ReadOnly {
        /// The database, as `sqlite:PATH` or a Postgres URL without its password.
        database: String,
    },
    /// The folder an SQLite file would live in does not exist.
    #[error("cannot open database {database}: folder {folder} does not exist")]
    MissingFolder {
        /// The database file as given.
        database: String,
        /// Its folder.
        folder: String,
    },
    /// The database URL is not one this program understands.
    #[error("database URL {0:?}: expected postgres://…, sqlite:… or a file path")]
    Url(String),
    /// What the call names does not exist for this tenant.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of thing, e.g. "exam".
        what: &'static str,
        /// Its id as given.
        id: String,
    },
    /// The call's input cannot be accepted.
    #[error("{0}")]
    Invalid(String),
    /// An exam that does not validate.
    #[error("exam: {0}")]
    Exam(#[from] ExamError),
    /// A stored value that this program cannot read (written by something else).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// Object storage failed.
    #[error(transparent)]
    Object(#[from] super::objects::ObjectError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migrate(error)
    }
}

/// A driver error as a user should read it: the server's message (and its detail), without
/// the driver's prefix or the server's source position.
fn database_message(error: &sqlx::Error) -> String {
    let Some(db) = error.as_database_error() else {
        return error.to_string();
    };
    let detail = db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .and_then(|pg| pg.detail());
    match detail {
        Some(detail) => format!("{} ({detail})", db.message()),
        None => db.message().to_string(),
    }
}

/// A migration error, with any database error in it told as [`database_message`] tells it.
fn migration_message(error: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError;
    match error {
        MigrateError::Execute(e) => format!("while executing migrations: {}", database_message(e)),
        MigrateError::ExecuteMigration(e, version) => {
            format!(
                "while executing migration {version}: {}",
                database_message(e)
            )
        }
        other => other.to_string(),
    }
}

/// An exam as registered.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExam {
    /// The exam's id within its tenant.
    pub id: String,
    /// The exam, with its current keys, weights and annulments.
    pub exam: Exam,
    /// Incremented on every change of the exam (keys, weights, annulments).
    pub revision: i64,
}

/// What [`Store::ensure_bundle`](crate::Store::ensure_bundle) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredBundle {
    /// The id of the exam the bundle's pages belong to.
    pub exam_id: String,
    /// Whether this call registered the exam (`false`: it was registered before).
    pub new: bool,
}

/// One line of an exam listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExamSummary {
    /// The exam's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its revision.
    pub revision: i64,
    /// Registration time, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A printed page that carries a code, as registered by the renderer.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetRecord {
    /// The page's code.
    pub code: SheetCode,
    /// The exam it belongs to.
    pub exam_id: String,
    /// Exam version label.
    pub version: String,
    /// The roster's student, `None` on anonymous sheets.
    pub student_id: Option<String>,
    /// The code of the first page of the answer sheet this page belongs to.
    pub sheet_group: SheetCode,
    /// Page of the answer sheet, from 1.
    pub sheet_page: u32,
    /// Pages of the answer sheet.
    pub sheet_pages: u32,
    /// Page number in the bundle PDF, from 1.
    pub pdf_page: u32,
    /// The geometry the page was printed with.
    pub layout: PageLayout,
    /// The geometry revision it was laid out with.
    pub layout_version: u32,
    /// Answer-sheet page or booklet page.
    pub kind: PageKind,
    /// Page of the student's booklet, from 1 (booklet pages).
    pub booklet_page: Option<u32>,
    /// The open questions' answer boxes on a booklet page.
    pub answer_boxes: Vec<AnswerBox>,
}

/// Where a scan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    /// Stored, not yet graded (or grading was interrupted: grade it).
    Received,
    /// Graded: its pages, marks, scores and review items are recorded.
    Graded,
    /// The file could not be graded at all (corrupt, not an image…); final.
    Failed,
}

impl ScanStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ScanStatus::Received => "received",
            ScanStatus::Graded => "graded",
            ScanStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "received" => Ok(ScanStatus::Received),
            "graded" => Ok(ScanStatus::Graded),
            "failed" => Ok(ScanStatus::Failed),
            other => Err(StoreError::Corrupt(format!("scan status {other:?}"))),
        }
    }

    /// Whether the scan still needs grading.
    pub fn needs_grading(self) -> bool {
        self == ScanStatus::Received
    }
}

/// An uploaded file, about to be recorded (its bytes already stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScan {
    /// Hex SHA-256 of the bytes ([`super::content_hash`]).
    pub content_hash: String,
    /// Where the bytes are in object storage.
    pub object_key: String,
    /// Size of the file.
    pub byte_len: u64,
    /// The name the file was uploaded under (for people; not an identity).
    pub file_name: String,
}

/// A recorded scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanRecord {
    /// The scan's id.
    pub id: i64,
    /// Hex SHA-256 of its bytes.
    pub content_hash: String,
    /// Where its bytes are.
    pub object_key: String,
    /// Its size.
    pub byte_len: u64,
    /// The name it was first uploaded under.
    pub file_name: String,
    /// Where it is in its life.
    pub status: ScanStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it was first received (ms since the epoch).
    pub received_at: i64,
    /// When it was graded.
    pub graded_at: Option<i64>,
}

/// What [`super::Store::receive_scan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedScan {
    /// The scan, new or already known.
    pub scan: ScanRecord,
    /// `true` when these bytes were never received before.
    pub new: bool,
}

/// One page of a scan as the grader read it.
#[derive(Debug, Clone, PartialEq)]
pub struct GradedPage {
    /// Page within the file, from 1.
    pub page: u32,
    /// The page's code, when it was identified.
    pub sheet_code: Option<SheetCode>,
    /// Which step identified it.
    pub identified_by: Option<IdentifiedBy>,
    /// Every question read on the page (uncertain ones become review items).
    pub answers: Vec<ReadAnswer>,
    /// Page-level reasons for a person to look (each becomes a review item). Uncertain
    /// questions need not be repeated here.
    pub review: Vec<ReviewReason>,
    /// Why the page could not be graded at all; it then counts for nothing and goes to review.
    pub error: Option<String>,
    /// The student number read from the grid of an anonymous sheet, when it was clear: the
    /// sheet's student if it was printed for none.
    pub student_number: Option<String>,
    /// The grader's report of the page as printed (JSON), answered again when the same bytes
    /// come back ([`crate::Store::scan_outcome`]).
    pub outcome: Option<String>,
}

/// What is stored of a scan's grading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOutcome {
    /// (page, the grader's report as recorded) of every page, in page order.
    pub pages: Vec<(u32, Option<String>)>,
    /// Pages that count for nothing (unidentified, unregistered, failed).
    pub loose_pages: usize,
    /// Review items of the scan still waiting for a person.
    pub open_reviews: usize,
}

/// What recording one page produced.
#[derive(Debug, Clone, PartialEq)]
pub struct PageOutcome {
    /// The page within the file.
    pub page: u32,
    /// The stored page's id.
    pub page_id: i64,
    /// The page's code, when identified and registered.
    pub sheet_code: Option<SheetCode>,
    /// The student of the sheet, when known.
    pub student_id: Option<String>,
    /// The sheet's version, when known.
    pub version: Option<String>,
    /// The score of the whole answer sheet after this page, when the page counts.
    pub score: Option<Score>,
    /// Review items opened for this page.
    pub review_items: Vec<i64>,
    /// Why the page counts for nothing (unidentified, unknown code, grader error).
    pub error: Option<String>,
}

/// What recording a scan's grading produced.
#[derive(Debug, Clone, PartialEq)]
pub struct GradingOutcome {
    /// `true` when the scan had already been graded: nothing was recorded this time.
    pub already_graded: bool,
    /// One entry per recorded page.
    pub pages: Vec<PageOutcome>,
}

/// A page of a scan as stored (the audit trail of a sheet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanPageRecord {
    /// The page's id.
    pub id: i64,
    /// The scan it came from.
    pub scan_id: i64,
    /// Page within the scan's file.
    pub page: u32,
    /// Its code, when identified.
    pub sheet_code: Option<String>,
    /// Which step identified it.
    pub identified_by: Option<String>,
    /// Why it counts for nothing, if so.
    pub error: Option<String>,
    /// `true` when a later scan of the same sheet counts instead.
    pub superseded: bool,
    /// When it was recorded.
    pub graded_at: i64,
}

/// Where a review item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Waiting for a person.
    Open,
    /// A person gave the answer.
    Resolved,
    /// A person looked and decided nothing needs changing.
    Dismissed,
}

impl ReviewStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Open => "open",
            ReviewStatus::Resolved => "resolved",
            ReviewStatus::Dismissed => "dismissed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "open" => Ok(ReviewStatus::Open),
            "resolved" => Ok(ReviewStatus::Resolved),
            "dismissed" => Ok(ReviewStatus::Dismissed),
            other => Err(StoreError::Corrupt(format!("review status {other:?}"))),
        }
    }
}

/// Something that needs a person's look.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewItem {
    /// The item's id (what the resolve command takes).
    pub id: i64,
    /// The exam, when the page was identified.
    pub exam_id: Option<String>,
    /// The scan it came from.
    pub scan_id: i64,
    /// The file name of that scan.
    pub file_name: String,
    /// The page of the scan, when page-specific.
    pub page: Option<u32>,
    /// The page's code, when identified.
    pub sheet_code: Option<String>,
    /// The sheet's student, when known.
    pub student_id: Option<String>,
    /// The question, for an uncertain mark.
    pub question: Option<u32>,
    /// Why a person should look.
    pub reason: String,
    /// Where it is.
    pub status: ReviewStatus,
    /// What the person decided, as text.
    pub resolution: Option<String>,
    /// `true` when a later scan of the sheet counts instead of this one.
    pub superseded: bool,
    /// When it was opened.
    pub created_at: i64,
}

/// A person's decision on a review item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The student marked these choices (printed labels, e.g. `["C"]`).
    Choices(Vec<String>),
    /// The student left the question blank.
    Blank,
    /// Nothing to change (page-level items, or keep what was read).
    Dismiss,
}

/// What resolving an item changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveOutcome {
    /// The item as it now stands.
    pub item: ReviewItem,
    /// The sheet's new score, when the resolution changed a mark of a page that counts.
    pub score: Option<Score>,
}

/// What re-scoring an exam did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RescoreReport {
    /// The exam revision now in force.
    pub revision: i64,
    /// Answer sheets re-scored.
    pub sheets: usize,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting to be claimed.
    Queued,
    /// Claimed by a worker until its lease ends.
    Running,
    /// Finished.
    Done,
    /// Given up on.
    Failed,
}

impl JobStatus {
    /// The status as stored and as the services show it: `queued`, `running`, `done`, `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "queued" => Ok(JobStatus::Queued),
            "running" => Ok(JobStatus::Running),
            "done" => Ok(JobStatus::Done),
            "failed" => Ok(JobStatus::Failed),
            other => Err(StoreError::Corrupt(format!("job status {other:?}"))),
        }
    }
}

/// A unit of work that outlives the instance that queued it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// The job's id.
    pub id: i64,
    /// What to do, e.g. `grade-scan`.
    pub kind: String,
    /// Its parameters, JSON.
    pub payload: String,
    /// Where it is.
    pub status: JobStatus,
    /// How many times it was claimed.
    pub attempts: u32,
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as a service reports it ([`crate::Store::job`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRecord {
    /// The job's id.
    pub id: i64,
    /// What it does.
    pub kind: String,
    /// Where it is.
    pub status: JobStatus,
    /// How many times it was claimed (a released claim does not count).
    pub attempts: u32,
    /// The last failure's message: why it failed for good when `status` is failed, or why the
    /// previous attempt failed while it waits to be tried again.
    pub last_error: Option<String>,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// When its row last changed.
    pub updated_at: i64,
}

/// A job claimed from any tenant ([`crate::Store::claim_next_job`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: i64,
    /// The tenant it was queued for: everything the job does acts for this tenant.
    pub tenant: TenantId,
    /// What to do.
    pub kind: String,
    /// Its parameters (JSON, as queued).
    pub payload: String,
    /// How many times it has been claimed, this claim included.
    pub attempts: u32,
}

/// How many jobs of one kind are in one status, over every tenant (for metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobCount {
    /// The jobs' kind.
    pub kind: String,
    /// Their status.
    pub status: JobStatus,
    /// How many.
    pub count: u64,
}

/// What an API token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Register exams and render bundles.
    Render,
    /// Post scans.
    Scan,
    /// Read results, statistics and review; resolve review items; change keys.
    Results,
    /// Everything.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 4] = [Scope::Render, Scope::Scan, Scope::Results, Scope::Admin];

    /// The scope's name: `render`, `scan`, `results` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Render => "render",
            Scope::Scan => "scan",
            Scope::Results => "results",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "scope {s:?}: expected one of render, scan, results, admin"
                ))
            })
    }
}

/// Scopes as stored: sorted, once each, comma-separated.
pub(crate) fn scopes_str(scopes: &[Scope]) -> String {
    let mut v = scopes.to_vec();
    v.sort_unstable();
    v.dedup();
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

pub(crate) fn parse_scopes(s: &str) -> Result<Vec<Scope>, StoreError> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse()
                .map_err(|_| StoreError::Corrupt(format!("token scopes {s:?}")))
        })
        .collect()
}

/// A token just created ([`crate::Store::create_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The token's id: its public part, which lists show and revoke takes.
    pub id: String,
    /// The whole bearer token. Only its hash is stored: this is the one time it is seen.
    pub token: String,
}

/// A token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's id.
    pub id: String,
    /// The tenant it acts for.
    pub tenant: TenantId,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// What it is for, as its creator said.
    pub label: Option<String>,
    /// When it was created (ms since the epoch).
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// What a valid token grants ([`crate::Store::verify_token`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The tenant every call made with the token acts for.
    pub tenant: TenantId,
    /// The token's id (for logs: never the token itself).
    pub token_id: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Grant {
    /// Whether the token may do what `scope` covers (`admin` covers everything).
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|&s| s == scope || s == Scope::Admin)
    }
}

/// A bundle about to be queued ([`crate::Store::queue_bundle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBundle<'a> {
    /// The bundle's id (chosen by the caller, unique within the tenant).
    pub id: &'a str,
    /// The exam it is a bundle of.
    pub exam_id: &'a str,
    /// The request as received (roster or copies), JSON.
    pub request_json: &'a str,
    /// Pages the PDF will have.
    pub pages_total: u32,
}

/// A bundle: its row, with status, attempts and error from its job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleRecord {
    /// The bundle's id.
    pub id: String,
    /// Its exam.
    pub exam_id: String,
    /// The job that renders it.
    pub job_id: i64,
    /// The job's status.
    pub status: JobStatus,
    /// The job's attempts.
    pub attempts: u32,
    /// The job's last error (see [`JobRecord::last_error`]).
    pub error: Option<String>,
    /// Pages rendered so far (by the current attempt).
    pub pages_done: u32,
    /// Pages of the whole PDF.
    pub pages_total: u32,
    /// Where the PDF is, once written.
    pub pdf_key: Option<String>,
    /// Where the manifest (`bundle.json`) is, once written.
    pub manifest_key: Option<String>,
    /// The PDF's size, once written.
    pub pdf_bytes: Option<u64>,
    /// The request as received.
    pub request_json: String,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
    /// When the bundle or its job last changed.
    pub updated_at: i64,
}

/// One scan of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchScan {
    /// Its place in the batch, from 0, in the order the scans were given.
    pub position: u32,
    /// The scan.
    pub scan_id: i64,
    /// The name it was uploaded under.
    pub file_name: String,
    /// Where it is: `received` until the batch's job has graded it.
    pub status: ScanStatus,
}

/// Scans graded together by one job ([`crate::Store::queue_scan_batch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanBatchRecord {
    /// The batch's id.
    pub id: String,
    /// The job that grades it.
    pub job_id: i64,
    /// The job's status.
    pub status: JobStatus,
    /// The job's attempts.
    pub attempts: u32,
    /// The job's last error (see [`JobRecord::last_error`]).
    pub error: Option<String>,
    /// The scans, by position.
    pub scans: Vec<BatchScan>,
    /// When it was queued (ms since the epoch).
    pub created_at: i64,
}

impl ScanBatchRecord {
    /// Scans no longer waiting to be graded (graded or failed): the batch's progress.
    pub fn scans_done(&self) -> usize {
        self.scans
            .iter()
            .filter(|s| !s.status.needs_grading())
            .count()
    }
}

pub(crate) fn state_str(state: AnswerState) -> &'static str {
    match state {
        AnswerState::Blank => "blank",
        AnswerState::Answered => "answered",
        AnswerState::Multiple => "multiple",
        AnswerState::Uncertain => "uncertain",
    }
}

pub(crate) fn parse_state(s: &str) -> Result<AnswerState, StoreError> {
    match s {
        "blank" => Ok(AnswerState::Blank),
        "answered" => Ok(AnswerState::Answered),
        "multiple" => Ok(AnswerState::Multiple),
        "uncertain" => Ok(AnswerState::Uncertain),
        other => Err(StoreError::Corrupt(format!("answer state {other:?}"))),
    }
}

/// Choice indices as stored: ascending, comma-separated (`"0,2"`, `""` for none).
pub(crate) fn marked_str(marked: &[u8]) -> String {
    let mut v = marked.to_vec();
    v.sort_unstable();
    v.dedup();
    v.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
}

pub(crate) fn parse_marked(s: &str) -> Result<Vec<u8>, StoreError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            p.parse::<u8>()
                .map_err(|_| StoreError::Corrupt(format!("marked choices {s:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::new("escola-sao-joao_1").is_ok());
        for bad in ["", "a/b", "..", ".x", "é", &"x".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn marked_round_trips() {
        assert_eq!(marked_str(&[2, 0, 2]), "0,2");
        assert_eq!(parse_marked("0,2").ok(), Some(vec![0, 2]));
        assert_eq!(parse_marked("").ok(), Some(vec![]));
        assert!(parse_marked("x").is_err());
        for s in [
            AnswerState::Blank,
            AnswerState::Answered,
            AnswerState::Multiple,
            AnswerState::Uncertain,
        ] {
            assert_eq!(parse_state(state_str(s)).ok(), Some(s));
        }
    }
}
