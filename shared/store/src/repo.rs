//! Every SQL statement of the repository, written once.
//!
//! [`Tx`] is the set of row-level operations a repository call is built from; `impl_tx!` compiles
//! the same statement text for each driver (Postgres and SQLite), so the two backends cannot
//! drift apart. The only statements that differ are passed in as macro arguments: row locks
//! (`FOR UPDATE [SKIP LOCKED]`), which Postgres needs and SQLite (one writer at a time) has not.
//! Every statement filters on `tenant_id`, but for the two the services need across tenants:
//! looking a token up (its tenant is what the look-up finds) and claiming the next job (workers
//! serve every tenant).

use std::future::Future;

use model::roster::Student;
use model::scoring::ReadAnswer;

use super::types::{
    BatchScan, BundleRecord, ExamSummary, JobRecord, JobStatus, NewBundle, NewScan,
    ScanBatchRecord, ScanPageRecord, ScanStatus, StoreError, marked_str, state_str,
};

/// Rows are inserted this many at a time: far below both backends' limits on bound parameters
/// (SQLite 32,766, Postgres 65,535) for the widest row written.
pub(crate) const BATCH_ROWS: usize = 1000;

/// A sheet row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SheetRow {
    pub code: String,
    pub exam_id: String,
    pub version: String,
    pub student_id: Option<String>,
    pub sheet_group: String,
    pub sheet_page: i32,
    pub sheet_pages: i32,
    pub pdf_page: i32,
    /// The layout, read through `layouts` (or inline in rows registered before it existed);
    /// `None` when writing: new rows name their layout by `layout_id`.
    pub layout_json: Option<String>,
    pub layout_id: Option<String>,
    pub layout_version: i32,
    /// `sheet` or `booklet`.
    pub kind: String,
    pub booklet_page: Option<i32>,
    /// The open questions' answer boxes of a booklet page, as JSON; `None` when it has none.
    pub answer_boxes_json: Option<String>,
}

/// A scan row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScanRow {
    pub id: i64,
    pub content_hash: String,
    pub object_key: String,
    pub byte_len: i64,
    pub file_name: String,
    pub status: String,
    pub error: Option<String>,
    pub received_at: i64,
    pub graded_at: Option<i64>,
}

/// A page about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageRow<'a> {
    pub scan_id: i64,
    pub page: i32,
    pub sheet_code: Option<&'a str>,
    pub exam_id: Option<&'a str>,
    pub identified_by: Option<&'a str>,
    pub error: Option<&'a str>,
    pub student_number: Option<&'a str>,
    /// The grader's report of the page (JSON), answered again when the same bytes come back.
    pub outcome: Option<&'a str>,
}

/// What a page needs to be given to a sheet by a person.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LoosePage {
    pub id: i64,
    pub scan_id: i64,
    pub sheet_code: Option<String>,
    pub error: Option<String>,
}

/// A review item about to be stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewReview<'a> {
    pub exam_id: Option<&'a str>,
    pub scan_id: i64,
    pub page_id: Option<i64>,
    pub sheet_code: Option<&'a str>,
    pub question: Option<i32>,
    pub reason: &'a str,
}

/// A review item, as stored, with what people need to find the paper.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReviewRow {
    pub id: i64,
    pub exam_id: Option<String>,
    pub scan_id: i64,
    pub file_name: String,
    pub page_id: Option<i64>,
    pub page: Option<i32>,
    pub sheet_code: Option<String>,
    pub student_id: Option<String>,
    pub question: Option<i32>,
    pub reason: String,
    pub status: String,
    pub resolution: Option<String>,
    pub superseded: Option<bool>,
    pub created_at: i64,
}

/// An answer sheet with at least one page that counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupRow {
    pub sheet_group: String,
    pub version: String,
    pub student_id: Option<String>,
}

/// One effective mark (a person's resolution over what was read) of a page that counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MarkRow {
    pub sheet_group: String,
    pub question: i32,
    pub marked: String,
    pub state: String,
}

/// A score row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoreRow {
    pub sheet_group: String,
    pub version: String,
    pub student_id: Option<String>,
    pub score: f64,
    pub max_score: f64,
    pub per_question: String,
    pub pending: String,
    pub exam_revision: i64,
}

/// A key row: the correct choices of one question for one version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyRow {
    pub version: String,
    pub question: i32,
    pub answer: String,
    pub weight: f64,
    pub annulled: bool,
}

/// A job row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JobRow {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
}

/// An API token row (its hash, never the token).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TokenRow {
    pub id: String,
    pub tenant_id: String,
    pub token_hash: String,
    pub scopes: String,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A job found claimable, before it is claimed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimRow {
    pub id: i64,
    pub tenant_id: String,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
}

type R<T> = Result<T, StoreError>;

/// The row-level operations of the repository, inside one transaction.
pub(crate) trait Tx: Send + Sized {
    fn commit(self) -> impl Future<Output = R<()>> + Send;

    fn ensure_tenant(
        &mut self,
        tenant: &str,
        name: &str,
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    /// Inserts the exam unless one of that id exists; returns whether it did.
    fn insert_exam(
        &mut self,
        tenant: &str,
        id: &str,
        title: &str,
        json: &str,
        now: i64,
    ) -> impl Future<Output = R<bool>> + Send;
    /// Returns the new revision, `None` when the exam does not exist.
    fn update_exam(
        &mut self,
        tenant: &str,
        id: &str,
        title: &str,
        json: &str,
        now: i64,
    ) -> impl Future<Output = R<Option<i64>>> + Send;
    /// The exam JSON and revision.
    fn exam(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = R<Option<(String, i64)>>> + Send;
    fn exams(&mut self, tenant: &str) -> impl Future<Output = R<Vec<ExamSummary>>> + Send;
    fn replace_keys(
        &mut self,
        tenant: &str,
        exam_id: &str,
        versions: &[String],
        keys: &[KeyRow],
    ) -> impl Future<Output = R<()>> + Send;
    fn upsert_students(
        &mut self,
        tenant: &str,
        students: &[Student],
    ) -> impl Future<Output = R<()>> + Send;
    /// Stores layouts (id, JSON) not stored yet.
    fn insert_layouts(
        &mut self,
        tenant: &str,
        layouts: &[(String, String)],
    ) -> impl Future<Output = R<()>> + Send;
    fn insert_sheets(
        &mut self,
        tenant: &str,
        sheets: &[SheetRow],
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    fn sheet(
        &mut self,
        tenant: &str,
        code: &str,
    ) -> impl Future<Output = R<Option<SheetRow>>> + Send;
    fn sheets(
        &mut self,
        tenant: &str,
        exam_id: &str,
    ) -> impl Future<Output = R<Vec<SheetRow>>> + Send;
    /// Every distinct page layout (JSON) of the tenant's sheets, or of one exam's.
    fn layouts(
        &mut self,
        tenant: &str,
        exam_id: Option<&str>,
    ) -> impl Future<Output = R<Vec<String>>> + Send;
    fn students_of_exam(
        &mut self,
        tenant: &str,
        exam_id: &str,
    ) -> impl Future<Output = R<Vec<Student>>> + Send;

    /// Returns `true` when the scan is new, `false` when these bytes were already received.
    fn insert_scan(
        &mut self,
        tenant: &str,
        scan: &NewScan,
        now: i64,
    ) -> impl Future<Output = R<bool>> + Send;
    fn scan_by_hash(
        &mut self,
        tenant: &str,
        hash: &str,
    ) -> impl Future<Output = R<Option<ScanRow>>> + Send;
    fn scan(&mut self, tenant: &str, id: i64) -> impl Future<Output = R<Option<ScanRow>>> + Send;
    fn scans(&mut self, tenant: &str) -> impl Future<Output = R<Vec<ScanRow>>> + Send;
    /// The scan's status, holding a row lock (Postgres) until the transaction ends.
    fn lock_scan(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> impl Future<Output = R<Option<String>>> + Send;
    fn set_scan_status(
        &mut self,
        tenant: &str,
        id: i64,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    fn insert_page(
        &mut self,
        tenant: &str,
        page: &PageRow<'_>,
        now: i64,
    ) -> impl Future<Output = R<i64>> + Send;
    fn insert_marks(
        &mut self,
        tenant: &str,
        page_id: i64,
        answers: &[ReadAnswer],
    ) -> impl Future<Output = R<()>> + Send;
    /// Forgets how a scan was graded, to grade it again: its review items are closed (kept, no
    /// longer pointing at a page) and its pages and marks deleted. Returns the sheet codes the
    /// deleted pages counted for.
    fn clear_scan(
        &mut self,
        tenant: &str,
        scan_id: i64,
        now: i64,
    ) -> impl Future<Output = R<Vec<String>>> + Send;
    /// (page, outcome JSON) of every page of a scan, in page order.
    fn page_outcomes(
        &mut self,
        tenant: &str,
        scan_id: i64,
    ) -> impl Future<Output = R<Vec<(i32, Option<String>)>>> + Send;
    /// What of the scan waits for a person: (pages that count for nothing — unidentified,
    /// unregistered, failed —, open review items).
    fn open_in_scan(
        &mut self,
        tenant: &str,
        scan_id: i64,
    ) -> impl Future<Output = R<(i64, i64)>> + Send;
    fn loose_page(
        &mut self,
        tenant: &str,
        page_id: i64,
    ) -> impl Future<Output = R<Option<LoosePage>>> + Send;
    /// Gives a page to a sheet (a person said whose it is).
    fn assign_page(
        &mut self,
        tenant: &str,
        page_id: i64,
        code: &str,
        exam_id: &str,
        identified_by: &str,
    ) -> impl Future<Output = R<()>> + Send;
    /// The marks read on one page: (question, marked, state).
    fn page_marks(
        &mut self,
        tenant: &str,
        page_id: i64,
    ) -> impl Future<Output = R<Vec<(i32, String, String)>>> + Send;
    fn delete_score(&mut self, tenant: &str, group: &str) -> impl Future<Output = R<()>> + Send;
    /// Makes the latest identified page of `code` the one that counts.
    fn resupersede(&mut self, tenant: &str, code: &str) -> impl Future<Output = R<()>> + Send;
    fn pages_of_sheet(
        &mut self,
        tenant: &str,
        code: &str,
    ) -> impl Future<Output = R<Vec<ScanPageRecord>>> + Send;

    /// Answer sheets of the exam with a page that counts (one sheet when `group` is given).
    fn groups(
        &mut self,
        tenant: &str,
        exam_id: &str,
        group: Option<&str>,
    ) -> impl Future<Output = R<Vec<GroupRow>>> + Send;
    /// Effective marks of the pages that count, ordered by sheet (one sheet when `group` is given).
    fn marks(
        &mut self,
        tenant: &str,
        exam_id: &str,
        group: Option<&str>,
    ) -> impl Future<Output = R<Vec<MarkRow>>> + Send;
    fn upsert_scores(
        &mut self,
        tenant: &str,
        exam_id: &str,
        scores: &[ScoreRow],
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    fn scores(
        &mut self,
        tenant: &str,
        exam_id: &str,
    ) -> impl Future<Output = R<Vec<ScoreRow>>> + Send;

    fn insert_review(
        &mut self,
        tenant: &str,
        item: &NewReview<'_>,
        now: i64,
    ) -> impl Future<Output = R<i64>> + Send;
    fn review_items(
        &mut self,
        tenant: &str,
        exam_id: Option<&str>,
        status: Option<&str>,
    ) -> impl Future<Output = R<Vec<ReviewRow>>> + Send;
    fn review_item(
        &mut self,
        tenant: &str,
        id: i64,
    ) -> impl Future<Output = R<Option<ReviewRow>>> + Send;
    fn set_review(
        &mut self,
        tenant: &str,
        id: i64,
        status: &str,
        resolution: Option<&str>,
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    fn resolve_mark(
        &mut self,
        tenant: &str,
        page_id: i64,
        question: i32,
        marked: &str,
        state: &str,
    ) -> impl Future<Output = R<u64>> + Send;

    fn enqueue_job(
        &mut self,
        tenant: &str,
        kind: &str,
        payload: &str,
        now: i64,
    ) -> impl Future<Output = R<i64>> + Send;
    fn claim_job(
        &mut self,
        tenant: &str,
        worker: &str,
        lease_until: i64,
        now: i64,
    ) -> impl Future<Output = R<Option<JobRow>>> + Send;
    fn finish_job(
        &mut self,
        tenant: &str,
        id: i64,
        status: &str,
        error: Option<&str>,
        run_after: i64,
        now: i64,
    ) -> impl Future<Output = R<u64>> + Send;

    // The services' tables (migration 6). Tokens and claims cross tenants by nature: a token is
    // looked up before its tenant is known, and a service's workers serve every tenant.
    /// Inserts a token unless its id or hash is taken; returns whether it did.
    fn insert_token(&mut self, token: &TokenRow) -> impl Future<Output = R<bool>> + Send;
    fn token_by_hash(&mut self, hash: &str) -> impl Future<Output = R<Option<TokenRow>>> + Send;
    fn tokens(&mut self, tenant: Option<&str>) -> impl Future<Output = R<Vec<TokenRow>>> + Send;
    /// Revokes a token not revoked yet; returns the rows changed.
    fn revoke_token(&mut self, id: &str, now: i64) -> impl Future<Output = R<u64>> + Send;

    /// The next job of one of `kinds` to claim, of any tenant, holding a row lock (Postgres,
    /// skipping rows other transactions hold): one whose lease ran out first, else the queued
    /// one ready longest.
    fn next_claimable(
        &mut self,
        kinds: &[&str],
        now: i64,
    ) -> impl Future<Output = R<Option<ClaimRow>>> + Send;
    fn start_job(
        &mut self,
        id: i64,
        worker: &str,
        lease_until: i64,
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    fn give_up_job(&mut self, id: i64, error: &str, now: i64)
    -> impl Future<Output = R<()>> + Send;
    fn renew_job(
        &mut self,
        id: i64,
        worker: &str,
        lease_until: i64,
        now: i64,
    ) -> impl Future<Output = R<u64>> + Send;
    fn release_job(
        &mut self,
        id: i64,
        worker: &str,
        now: i64,
    ) -> impl Future<Output = R<u64>> + Send;
    fn job(&mut self, tenant: &str, id: i64) -> impl Future<Output = R<Option<JobRecord>>> + Send;
    /// (kind, status, count) over every tenant.
    fn job_counts(&mut self) -> impl Future<Output = R<Vec<(String, String, i64)>>> + Send;

    /// Inserts a bundle unless its id is taken; returns whether it did.
    fn insert_bundle(
        &mut self,
        tenant: &str,
        bundle: &NewBundle<'_>,
        job_id: i64,
        now: i64,
    ) -> impl Future<Output = R<bool>> + Send;
    fn bundle(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = R<Option<BundleRecord>>> + Send;
    fn bundle_progress(
        &mut self,
        tenant: &str,
        id: &str,
        pages_done: i64,
        now: i64,
    ) -> impl Future<Output = R<u64>> + Send;
    fn bundle_written(
        &mut self,
        tenant: &str,
        id: &str,
        pdf_key: &str,
        manifest_key: &str,
        pdf_bytes: i64,
        now: i64,
    ) -> impl Future<Output = R<u64>> + Send;

    /// Inserts a batch and its scans unless its id is taken; returns whether it did.
    fn insert_scan_batch(
        &mut self,
        tenant: &str,
        id: &str,
        job_id: i64,
        scan_ids: &[i64],
        now: i64,
    ) -> impl Future<Output = R<bool>> + Send;
    fn scan_batch(
        &mut self,
        tenant: &str,
        id: &str,
    ) -> impl Future<Output = R<Option<ScanBatchRecord>>> + Send;
}

macro_rules! scan_select {
    ($where:literal) => {
        concat!(
            "SELECT id, content_hash, object_key, byte_len, file_name, status, error, received_at, graded_at FROM scans WHERE ",
            $where
        )
    };
}

macro_rules! sheet_select {
    ($where:literal) => {
        concat!(
            "SELECT s.code, s.exam_id, s.version, s.student_id, s.sheet_group, s.sheet_page, s.sheet_pages, \
             s.pdf_page, COALESCE(l.layout_json, s.layout_json) AS layout_json, s.layout_id, s.layout_version, \
             s.kind, s.booklet_page, s.answer_boxes_json \
             FROM sheets s LEFT JOIN layouts l ON l.tenant_id = s.tenant_id AND l.id = s.layout_id WHERE ",
            $where
        )
    };
}

/// [`sheet_select!`] without the layout and the answer boxes (`NULL`): what recording a page
/// needs of its sheet. A layout is kilobytes of JSON a row; a chunk of 100 pages read them all
/// only to drop them.
macro_rules! sheet_identity_select {
    ($where:literal) => {
        concat!(
            "SELECT s.code, s.exam_id, s.version, s.student_id, s.sheet_group, s.sheet_page, s.sheet_pages, \
             s.pdf_page, CAST(NULL AS TEXT) AS layout_json, s.layout_id, s.layout_version, \
             s.kind, s.booklet_page, CAST(NULL AS TEXT) AS answer_boxes_json FROM sheets s WHERE ",
            $where
        )
    };
}

macro_rules! review_select {
    ($where:literal) => {
        concat!(
            "SELECT r.id, r.exam_id, r.scan_id, sc.file_name, r.page_id, p.page, r.sheet_code, sh.student_id, \
             r.question, r.reason, r.status, r.resolution, p.superseded, r.created_at \
             FROM review_items r \
             JOIN scans sc ON sc.tenant_id = r.tenant_id AND sc.id = r.scan_id \
             LEFT JOIN scan_pages p ON p.tenant_id = r.tenant_id AND p.id = r.page_id \
             LEFT JOIN sheets sh ON sh.tenant_id = r.tenant_id AND sh.code = r.sheet_code \
             WHERE ",
            $where
        )
    };
}

/// Answer-sheet pages that count (identified, without error, not superseded by a later scan;
/// booklet pages are never scored) of a whole
/// exam (`$1` tenant, `$2` exam), or of one answer sheet (`$2` its group), with the sheet as `s`
/// and the page as `p`. The one-sheet form starts from the sheet so that it costs the same in a
/// 10-sheet exam and in a 100,000-sheet one.
macro_rules! current_pages {
    (exam, $join:literal) => {
        concat!(
            "FROM scan_pages p JOIN sheets s ON s.tenant_id = p.tenant_id AND s.code = p.sheet_code ",
            $join,
            " WHERE p.tenant_id = $1 AND p.exam_id = $2 AND p.superseded = FALSE AND p.error IS NULL \
             AND s.kind = 'sheet'"
        )
    };
    // CROSS JOIN makes SQLite's planner (which has no statistics) start from the sheet rather
    // than from every page of the tenant; Postgres plans it like any join.
    (group, $join:literal) => {
        concat!(
            "FROM sheets s CROSS JOIN scan_pages p ",
            $join,
            " WHERE s.tenant_id = $1 AND s.sheet_group = $2 \
             AND p.tenant_id = s.tenant_id AND p.sheet_code = s.code \
             AND p.superseded = FALSE AND p.error IS NULL AND s.kind = 'sheet'"
        )
    };
    // Several answer sheets (a recorded chunk's): the query builder appends the tenant's bind
    // and `AND s.sheet_group IN (…)` after this text.
    (groups_in, $join:literal) => {
        concat!(
            "FROM sheets s CROSS JOIN scan_pages p ",
            $join,
            " WHERE p.tenant_id = s.tenant_id AND p.sheet_code = s.code \
             AND p.superseded = FALSE AND p.error IS NULL AND s.kind = 'sheet' AND s.tenant_id = "
        )
    };
}

/// The columns of [`GroupRow`], over [`current_pages!`].
macro_rules! groups_head {
    () => {
        // A sheet printed for a student keeps that student; an anonymous one takes the
        // number its grid was read as (on the page that counts).
        "SELECT s.sheet_group, s.version, \
         COALESCE(MAX(s.student_id), MAX(p.student_number)) AS student_id "
    };
}

/// The columns of [`MarkRow`], over [`current_pages!`] joined with `marks m`.
macro_rules! marks_head {
    () => {
        "SELECT s.sheet_group, m.question, \
         COALESCE(m.resolved_marked, m.marked) AS marked, \
         COALESCE(m.resolved_state, m.state) AS state "
    };
}

macro_rules! groups_sql {
    ($which:tt) => {
        concat!(
            groups_head!(),
            current_pages!($which, ""),
            " GROUP BY s.sheet_group, s.version ORDER BY s.sheet_group"
        )
    };
}

macro_rules! marks_sql {
    ($which:tt) => {
        concat!(
            marks_head!(),
            current_pages!(
                $which,
                "JOIN marks m ON m.tenant_id = p.tenant_id AND m.page_id = p.id"
            ),
            " ORDER BY s.sheet_group, m.question"
        )
    };
}

fn scan_row<Row>(row: &Row) -> Result<ScanRow, sqlx::Error>
where
    Row: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<Row>,
    i64: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    String: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, Row::Database>,
{
    Ok(ScanRow {
        id: row.try_get("id")?,
        content_hash: row.try_get("content_hash")?,
        object_key: row.try_get("object_key")?,
        byte_len: row.try_get("byte_len")?,
        file_name: row.try_get("file_name")?,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        received_at: row.try_get("received_at")?,
        graded_at: row.try_get("graded_at")?,
    })
}

fn sheet_row<Row>(row: &Row) -> Result<SheetRow, sqlx::Error>
where
    Row: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<Row>,
    i32: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    String: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<i32>: for<'r> sqlx::Decode<'r, Row::Database>,
{
    Ok(SheetRow {
        code: row.try_get("code")?,
        exam_id: row.try_get("exam_id")?,
        version: row.try_get("version")?,
        student_id: row.try_get("student_id")?,
        sheet_group: row.try_get("sheet_group")?,
        sheet_page: row.try_get("sheet_page")?,
        sheet_pages: row.try_get("sheet_pages")?,
        pdf_page: row.try_get("pdf_page")?,
        layout_json: row.try_get("layout_json")?,
        layout_id: row.try_get("layout_id")?,
        layout_version: row.try_get("layout_version")?,
        kind: row.try_get("kind")?,
        booklet_page: row.try_get("booklet_page")?,
        answer_boxes_json: row.try_get("answer_boxes_json")?,
    })
}

fn review_row<Row>(row: &Row) -> Result<ReviewRow, sqlx::Error>
where
    Row: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<Row>,
    i64: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    String: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<i32>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<bool>: for<'r> sqlx::Decode<'r, Row::Database>,
    i32: sqlx::Type<Row::Database>,
    bool: sqlx::Type<Row::Database>,
{
    Ok(ReviewRow {
        id: row.try_get("id")?,
        exam_id: row.try_get("exam_id")?,
        scan_id: row.try_get("scan_id")?,
        file_name: row.try_get("file_name")?,
        page_id: row.try_get("page_id")?,
        page: row.try_get("page")?,
        sheet_code: row.try_get("sheet_code")?,
        student_id: row.try_get("student_id")?,
        question: row.try_get("question")?,
        reason: row.try_get("reason")?,
        status: row.try_get("status")?,
        resolution: row.try_get("resolution")?,
        superseded: row.try_get("superseded")?,
        created_at: row.try_get("created_at")?,
    })
}

macro_rules! token_select {
    () => {
        "SELECT id, tenant_id, token_hash, scopes, label, created_at, revoked_at FROM api_tokens "
    };
}

fn token_row<Row>(row: &Row) -> Result<TokenRow, sqlx::Error>
where
    Row: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<Row>,
    i64: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    String: for<'r> sqlx::Decode<'r, Row::Database> + sqlx::Type<Row::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, Row::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, Row::Database>,
{
    Ok(TokenRow {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        token_hash: row.try_get("token_hash")?,
        scopes: row.try_get("scopes")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

macro_rules! impl_tx {
    ($db:ty, lock_scan = $lock_scan:expr, claim_job = $claim_job:expr, skip_locked = $skip_locked:expr) => {
        impl<'c> Tx for sqlx::Transaction<'c, $db> {
            async fn commit(self) -> R<()> {
                sqlx::Transaction::commit(self).await?;
                Ok(())
            }

            async fn ensure_tenant(&mut self, tenant: &str, name: &str, now: i64) -> R<()> {
                sqlx::query(
                    "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(tenant)
                .bind(name)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn insert_exam(
                &mut self,
                tenant: &str,
                id: &str,
                title: &str,
                json: &str,
                now: i64,
            ) -> R<bool> {
                let done = sqlx::query(
                    "INSERT INTO exams (tenant_id, id, title, exam_json, revision, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $5) ON CONFLICT (tenant_id, id) DO NOTHING",
                )
                .bind(tenant)
                .bind(id)
                .bind(title)
                .bind(json)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_exam(
                &mut self,
                tenant: &str,
                id: &str,
                title: &str,
                json: &str,
                now: i64,
            ) -> R<Option<i64>> {
                let row = sqlx::query(
                    "UPDATE exams SET title = $3, exam_json = $4, revision = revision + 1, updated_at = $5 \
                     WHERE tenant_id = $1 AND id = $2 RETURNING revision",
                )
                .bind(tenant)
                .bind(id)
                .bind(title)
                .bind(json)
                .bind(now)
                .fetch_optional(&mut **self)
                .await?;
                Ok(match row {
                    Some(row) => Some(sqlx::Row::try_get(&row, "revision")?),
                    None => None,
                })
            }

            async fn exam(&mut self, tenant: &str, id: &str) -> R<Option<(String, i64)>> {
                let row = sqlx::query(
                    "SELECT exam_json, revision FROM exams WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **self)
                .await?;
                Ok(match row {
                    Some(row) => Some((
                        sqlx::Row::try_get(&row, "exam_json")?,
                        sqlx::Row::try_get(&row, "revision")?,
                    )),
                    None => None,
                })
            }

            async fn exams(&mut self, tenant: &str) -> R<Vec<ExamSummary>> {
                let rows = sqlx::query(
                    "SELECT id, title, revision, created_at FROM exams WHERE tenant_id = $1 \
                     ORDER BY created_at, id",
                )
                .bind(tenant)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(ExamSummary {
                        id: sqlx::Row::try_get(row, "id")?,
                        title: sqlx::Row::try_get(row, "title")?,
                        revision: sqlx::Row::try_get(row, "revision")?,
                        created_at: sqlx::Row::try_get(row, "created_at")?,
                    });
                }
                Ok(out)
            }

            async fn replace_keys(
                &mut self,
                tenant: &str,
                exam_id: &str,
                versions: &[String],
                keys: &[KeyRow],
            ) -> R<()> {
                sqlx::query("DELETE FROM exam_keys WHERE tenant_id = $1 AND exam_id = $2")
                    .bind(tenant)
                    .bind(exam_id)
                    .execute(&mut **self)
                    .await?;
                sqlx::query("DELETE FROM exam_versions WHERE tenant_id = $1 AND exam_id = $2")
                    .bind(tenant)
                    .bind(exam_id)
                    .execute(&mut **self)
                    .await?;
                for chunk in versions
                    .iter()
                    .enumerate()
                    .collect::<Vec<_>>()
                    .chunks(BATCH_ROWS)
                {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO exam_versions (tenant_id, exam_id, label, position) ",
                    );
                    b.push_values(chunk, |mut row, (i, label)| {
                        row.push_bind(tenant.to_string())
                            .push_bind(exam_id.to_string())
                            .push_bind((*label).clone())
                            .push_bind(*i as i32);
                    });
                    b.build().execute(&mut **self).await?;
                }
                for chunk in keys.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO exam_keys (tenant_id, exam_id, version, question, answer, weight, annulled) ",
                    );
                    b.push_values(chunk, |mut row, k| {
                        row.push_bind(tenant.to_string())
                            .push_bind(exam_id.to_string())
                            .push_bind(k.version.clone())
                            .push_bind(k.question)
                            .push_bind(k.answer.clone())
                            .push_bind(k.weight)
                            .push_bind(k.annulled);
                    });
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn upsert_students(&mut self, tenant: &str, students: &[Student]) -> R<()> {
                for chunk in students.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO students (tenant_id, student_id, name, class) ",
                    );
                    b.push_values(chunk, |mut row, s| {
                        row.push_bind(tenant.to_string())
                            .push_bind(s.student_id.clone())
                            .push_bind(s.name.clone())
                            .push_bind(s.class.clone());
                    });
                    b.push(
                        " ON CONFLICT (tenant_id, student_id) DO UPDATE \
                         SET name = excluded.name, class = excluded.class",
                    );
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn insert_layouts(&mut self, tenant: &str, layouts: &[(String, String)]) -> R<()> {
                for (id, json) in layouts {
                    sqlx::query(
                        "INSERT INTO layouts (tenant_id, id, layout_json) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant_id, id) DO NOTHING",
                    )
                    .bind(tenant)
                    .bind(id)
                    .bind(json)
                    .execute(&mut **self)
                    .await?;
                }
                Ok(())
            }

            async fn insert_sheets(&mut self, tenant: &str, sheets: &[SheetRow], now: i64) -> R<()> {
                for chunk in sheets.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO sheets (tenant_id, code, exam_id, version, student_id, sheet_group, \
                         sheet_page, sheet_pages, pdf_page, layout_json, layout_id, layout_version, created_at, \
                         kind, booklet_page, answer_boxes_json) ",
                    );
                    b.push_values(chunk, |mut row, s| {
                        row.push_bind(tenant.to_string())
                            .push_bind(s.code.clone())
                            .push_bind(s.exam_id.clone())
                            .push_bind(s.version.clone())
                            .push_bind(s.student_id.clone())
                            .push_bind(s.sheet_group.clone())
                            .push_bind(s.sheet_page)
                            .push_bind(s.sheet_pages)
                            .push_bind(s.pdf_page)
                            .push_bind(s.layout_json.clone())
                            .push_bind(s.layout_id.clone())
                            .push_bind(s.layout_version)
                            .push_bind(now)
                            .push_bind(s.kind.clone())
                            .push_bind(s.booklet_page)
                            .push_bind(s.answer_boxes_json.clone());
                    });
                    b.push(" ON CONFLICT (tenant_id, code) DO NOTHING");
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn sheet(&mut self, tenant: &str, code: &str) -> R<Option<SheetRow>> {
                let row = sqlx::query(sheet_select!("s.tenant_id = $1 AND s.code = $2"))
                    .bind(tenant)
                    .bind(code)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(sheet_row(&row)?),
                    None => None,
                })
            }

            async fn sheets(&mut self, tenant: &str, exam_id: &str) -> R<Vec<SheetRow>> {
                let rows = sqlx::query(sheet_select!(
                    "s.tenant_id = $1 AND s.exam_id = $2 ORDER BY s.pdf_page, s.code"
                ))
                .bind(tenant)
                .bind(exam_id)
                .fetch_all(&mut **self)
                .await?;
                Ok(rows.iter().map(sheet_row).collect::<Result<_, _>>()?)
            }

            async fn students_of_exam(&mut self, tenant: &str, exam_id: &str) -> R<Vec<Student>> {
                let rows = sqlx::query(
                    "SELECT st.student_id, st.name, st.class FROM students st \
                     WHERE st.tenant_id = $1 AND st.student_id IN \
                     (SELECT s.student_id FROM sheets s WHERE s.tenant_id = $1 AND s.exam_id = $2) \
                     ORDER BY st.student_id",
                )
                .bind(tenant)
                .bind(exam_id)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(Student {
                        student_id: sqlx::Row::try_get(row, "student_id")?,
                        name: sqlx::Row::try_get(row, "name")?,
                        class: sqlx::Row::try_get(row, "class")?,
                    });
                }
                Ok(out)
            }

            async fn insert_scan(&mut self, tenant: &str, scan: &NewScan, now: i64) -> R<bool> {
                let byte_len = i64::try_from(scan.byte_len)
                    .map_err(|_| StoreError::Invalid("scan larger than 2^63 bytes".into()))?;
                let done = sqlx::query(
                    "INSERT INTO scans (tenant_id, content_hash, object_key, byte_len, file_name, status, \
                     received_at) VALUES ($1, $2, $3, $4, $5, 'received', $6) \
                     ON CONFLICT (tenant_id, content_hash) DO NOTHING",
                )
                .bind(tenant)
                .bind(scan.content_hash.as_str())
                .bind(scan.object_key.as_str())
                .bind(byte_len)
                .bind(scan.file_name.as_str())
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn scan_by_hash(&mut self, tenant: &str, hash: &str) -> R<Option<ScanRow>> {
                let row = sqlx::query(scan_select!("tenant_id = $1 AND content_hash = $2"))
                    .bind(tenant)
                    .bind(hash)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(scan_row(&row)?),
                    None => None,
                })
            }

            async fn scan(&mut self, tenant: &str, id: i64) -> R<Option<ScanRow>> {
                let row = sqlx::query(scan_select!("tenant_id = $1 AND id = $2"))
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(scan_row(&row)?),
                    None => None,
                })
            }

            async fn scans(&mut self, tenant: &str) -> R<Vec<ScanRow>> {
                let rows = sqlx::query(scan_select!("tenant_id = $1 ORDER BY id"))
                    .bind(tenant)
                    .fetch_all(&mut **self)
                    .await?;
                Ok(rows.iter().map(scan_row).collect::<Result<_, _>>()?)
            }

            async fn lock_scan(&mut self, tenant: &str, id: i64) -> R<Option<String>> {
                let row = sqlx::query($lock_scan)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(sqlx::Row::try_get(&row, "status")?),
                    None => None,
                })
            }

            async fn set_scan_status(
                &mut self,
                tenant: &str,
                id: i64,
                status: &str,
                error: Option<&str>,
                now: i64,
            ) -> R<()> {
                sqlx::query(
                    "UPDATE scans SET status = $3, error = $4, graded_at = $5 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(status)
                .bind(error)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn insert_page(&mut self, tenant: &str, page: &PageRow<'_>, now: i64) -> R<i64> {
                let row = sqlx::query(
                    "INSERT INTO scan_pages (tenant_id, scan_id, page, sheet_code, exam_id, identified_by, \
                     error, superseded, graded_at, student_number, outcome) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, $9, $10) RETURNING id",
                )
                .bind(tenant)
                .bind(page.scan_id)
                .bind(page.page)
                .bind(page.sheet_code)
                .bind(page.exam_id)
                .bind(page.identified_by)
                .bind(page.error)
                .bind(now)
                .bind(page.student_number)
                .bind(page.outcome)
                .fetch_one(&mut **self)
                .await?;
                Ok(sqlx::Row::try_get(&row, "id")?)
            }

            async fn insert_marks(
                &mut self,
                tenant: &str,
                page_id: i64,
                answers: &[ReadAnswer],
            ) -> R<()> {
                for chunk in answers.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO marks (tenant_id, page_id, question, marked, state) ",
                    );
                    let mut bad = None;
                    b.push_values(chunk, |mut row, a| {
                        let question = i32::try_from(a.question).unwrap_or_else(|_| {
                            bad = Some(a.question);
                            0
                        });
                        row.push_bind(tenant.to_string())
                            .push_bind(page_id)
                            .push_bind(question)
                            .push_bind(marked_str(&a.marked))
                            .push_bind(state_str(a.state));
                    });
                    if let Some(q) = bad {
                        return Err(StoreError::Invalid(format!("question number {q} out of range")));
                    }
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn layouts(&mut self, tenant: &str, exam_id: Option<&str>) -> R<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT DISTINCT COALESCE(l.layout_json, s.layout_json) AS layout_json \
                     FROM sheets s LEFT JOIN layouts l ON l.tenant_id = s.tenant_id AND l.id = s.layout_id \
                     WHERE s.tenant_id = $1 AND ($2 IS NULL OR s.exam_id = $2)",
                )
                .bind(tenant)
                .bind(exam_id)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(sqlx::Row::try_get(row, "layout_json")?);
                }
                Ok(out)
            }

            async fn clear_scan(&mut self, tenant: &str, scan_id: i64, now: i64) -> R<Vec<String>> {
                let rows = sqlx::query(
                    "SELECT DISTINCT sheet_code FROM scan_pages \
                     WHERE tenant_id = $1 AND scan_id = $2 AND sheet_code IS NOT NULL",
                )
                .bind(tenant)
                .bind(scan_id)
                .fetch_all(&mut **self)
                .await?;
                let mut codes = Vec::with_capacity(rows.len());
                for row in &rows {
                    codes.push(sqlx::Row::try_get(row, "sheet_code")?);
                }
                // SET expressions see the row as it was, so `status` is the old one throughout.
                sqlx::query(
                    "UPDATE review_items SET page_id = NULL, \
                     resolution = CASE WHEN status = 'open' THEN 'replaced: the scan was graded again' \
                     ELSE resolution END, \
                     resolved_at = CASE WHEN status = 'open' THEN $3 ELSE resolved_at END, \
                     status = CASE WHEN status = 'open' THEN 'dismissed' ELSE status END \
                     WHERE tenant_id = $1 AND scan_id = $2",
                )
                .bind(tenant)
                .bind(scan_id)
                .bind(now)
                .execute(&mut **self)
                .await?;
                sqlx::query(
                    "DELETE FROM marks WHERE tenant_id = $1 AND page_id IN \
                     (SELECT id FROM scan_pages WHERE tenant_id = $1 AND scan_id = $2)",
                )
                .bind(tenant)
                .bind(scan_id)
                .execute(&mut **self)
                .await?;
                sqlx::query("DELETE FROM scan_pages WHERE tenant_id = $1 AND scan_id = $2")
                    .bind(tenant)
                    .bind(scan_id)
                    .execute(&mut **self)
                    .await?;
                Ok(codes)
            }

            async fn page_outcomes(
                &mut self,
                tenant: &str,
                scan_id: i64,
            ) -> R<Vec<(i32, Option<String>)>> {
                let rows = sqlx::query(
                    "SELECT page, outcome FROM scan_pages WHERE tenant_id = $1 AND scan_id = $2 \
                     ORDER BY page",
                )
                .bind(tenant)
                .bind(scan_id)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push((
                        sqlx::Row::try_get(row, "page")?,
                        sqlx::Row::try_get(row, "outcome")?,
                    ));
                }
                Ok(out)
            }

            async fn open_in_scan(&mut self, tenant: &str, scan_id: i64) -> R<(i64, i64)> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM scan_pages \
                     WHERE tenant_id = $1 AND scan_id = $2 AND error IS NOT NULL) AS loose, \
                     (SELECT COUNT(*) FROM review_items \
                     WHERE tenant_id = $1 AND scan_id = $2 AND status = 'open') AS open",
                )
                .bind(tenant)
                .bind(scan_id)
                .fetch_one(&mut **self)
                .await?;
                Ok((
                    sqlx::Row::try_get(&row, "loose")?,
                    sqlx::Row::try_get(&row, "open")?,
                ))
            }

            async fn loose_page(&mut self, tenant: &str, page_id: i64) -> R<Option<LoosePage>> {
                let row = sqlx::query(
                    "SELECT id, scan_id, sheet_code, error FROM scan_pages \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(page_id)
                .fetch_optional(&mut **self)
                .await?;
                Ok(match row {
                    Some(row) => Some(LoosePage {
                        id: sqlx::Row::try_get(&row, "id")?,
                        scan_id: sqlx::Row::try_get(&row, "scan_id")?,
                        sheet_code: sqlx::Row::try_get(&row, "sheet_code")?,
                        error: sqlx::Row::try_get(&row, "error")?,
                    }),
                    None => None,
                })
            }

            async fn assign_page(
                &mut self,
                tenant: &str,
                page_id: i64,
                code: &str,
                exam_id: &str,
                identified_by: &str,
            ) -> R<()> {
                sqlx::query(
                    "UPDATE scan_pages SET sheet_code = $3, exam_id = $4, identified_by = $5, \
                     error = NULL WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(page_id)
                .bind(code)
                .bind(exam_id)
                .bind(identified_by)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn page_marks(
                &mut self,
                tenant: &str,
                page_id: i64,
            ) -> R<Vec<(i32, String, String)>> {
                let rows = sqlx::query(
                    "SELECT question, marked, state FROM marks \
                     WHERE tenant_id = $1 AND page_id = $2 ORDER BY question",
                )
                .bind(tenant)
                .bind(page_id)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push((
                        sqlx::Row::try_get(row, "question")?,
                        sqlx::Row::try_get(row, "marked")?,
                        sqlx::Row::try_get(row, "state")?,
                    ));
                }
                Ok(out)
            }

            async fn delete_score(&mut self, tenant: &str, group: &str) -> R<()> {
                sqlx::query("DELETE FROM scores WHERE tenant_id = $1 AND sheet_group = $2")
                    .bind(tenant)
                    .bind(group)
                    .execute(&mut **self)
                    .await?;
                Ok(())
            }

            async fn resupersede(&mut self, tenant: &str, code: &str) -> R<()> {
                sqlx::query(
                    "UPDATE scan_pages SET superseded = (id <> (SELECT l.id FROM scan_pages l \
                     WHERE l.tenant_id = $1 AND l.sheet_code = $2 AND l.error IS NULL \
                     ORDER BY l.scan_id DESC, l.page DESC LIMIT 1)) \
                     WHERE tenant_id = $1 AND sheet_code = $2 AND error IS NULL",
                )
                .bind(tenant)
                .bind(code)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn pages_of_sheet(&mut self, tenant: &str, code: &str) -> R<Vec<ScanPageRecord>> {
                let rows = sqlx::query(
                    "SELECT id, scan_id, page, sheet_code, identified_by, error, superseded, graded_at \
                     FROM scan_pages WHERE tenant_id = $1 AND sheet_code = $2 ORDER BY scan_id, page",
                )
                .bind(tenant)
                .bind(code)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let page: i32 = sqlx::Row::try_get(row, "page")?;
                    out.push(ScanPageRecord {
                        id: sqlx::Row::try_get(row, "id")?,
                        scan_id: sqlx::Row::try_get(row, "scan_id")?,
                        page: u32::try_from(page).unwrap_or_default(),
                        sheet_code: sqlx::Row::try_get(row, "sheet_code")?,
                        identified_by: sqlx::Row::try_get(row, "identified_by")?,
                        error: sqlx::Row::try_get(row, "error")?,
                        superseded: sqlx::Row::try_get(row, "superseded")?,
                        graded_at: sqlx::Row::try_get(row, "graded_at")?,
                    });
                }
                Ok(out)
            }

            async fn groups(
                &mut self,
                tenant: &str,
                exam_id: &str,
                group: Option<&str>,
            ) -> R<Vec<GroupRow>> {
                let query = match group {
                    None => sqlx::query(groups_sql!(exam)).bind(tenant).bind(exam_id),
                    // A group belongs to one exam: the exam is implied.
                    Some(g) => sqlx::query(groups_sql!(group)).bind(tenant).bind(g),
                };
                let rows = query.fetch_all(&mut **self).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(GroupRow {
                        sheet_group: sqlx::Row::try_get(row, "sheet_group")?,
                        version: sqlx::Row::try_get(row, "version")?,
                        student_id: sqlx::Row::try_get(row, "student_id")?,
                    });
                }
                Ok(out)
            }

            async fn marks(
                &mut self,
                tenant: &str,
                exam_id: &str,
                group: Option<&str>,
            ) -> R<Vec<MarkRow>> {
                let query = match group {
                    None => sqlx::query(marks_sql!(exam)).bind(tenant).bind(exam_id),
                    // A group belongs to one exam: the exam is implied.
                    Some(g) => sqlx::query(marks_sql!(group)).bind(tenant).bind(g),
                };
                let rows = query.fetch_all(&mut **self).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(MarkRow {
                        sheet_group: sqlx::Row::try_get(row, "sheet_group")?,
                        question: sqlx::Row::try_get(row, "question")?,
                        marked: sqlx::Row::try_get(row, "marked")?,
                        state: sqlx::Row::try_get(row, "state")?,
                    });
                }
                Ok(out)
            }

            async fn upsert_scores(
                &mut self,
                tenant: &str,
                exam_id: &str,
                scores: &[ScoreRow],
                now: i64,
            ) -> R<()> {
                for chunk in scores.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO scores (tenant_id, exam_id, sheet_group, version, student_id, score, \
                         max_score, per_question, pending, exam_revision, scored_at) ",
                    );
                    b.push_values(chunk, |mut row, s| {
                        row.push_bind(tenant.to_string())
                            .push_bind(exam_id.to_string())
                            .push_bind(s.sheet_group.clone())
                            .push_bind(s.version.clone())
                            .push_bind(s.student_id.clone())
                            .push_bind(s.score)
                            .push_bind(s.max_score)
                            .push_bind(s.per_question.clone())
                            .push_bind(s.pending.clone())
                            .push_bind(s.exam_revision)
                            .push_bind(now);
                    });
                    b.push(
                        " ON CONFLICT (tenant_id, sheet_group) DO UPDATE SET \
                         version = excluded.version, student_id = excluded.student_id, \
                         score = excluded.score, max_score = excluded.max_score, \
                         per_question = excluded.per_question, pending = excluded.pending, \
                         exam_revision = excluded.exam_revision, scored_at = excluded.scored_at",
                    );
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn scores(&mut self, tenant: &str, exam_id: &str) -> R<Vec<ScoreRow>> {
                let rows = sqlx::query(
                    "SELECT sheet_group, version, student_id, score, max_score, per_question, pending, \
                     exam_revision FROM scores WHERE tenant_id = $1 AND exam_id = $2 \
                     ORDER BY student_id, sheet_group",
                )
                .bind(tenant)
                .bind(exam_id)
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push(ScoreRow {
                        sheet_group: sqlx::Row::try_get(row, "sheet_group")?,
                        version: sqlx::Row::try_get(row, "version")?,
                        student_id: sqlx::Row::try_get(row, "student_id")?,
                        score: sqlx::Row::try_get(row, "score")?,
                        max_score: sqlx::Row::try_get(row, "max_score")?,
                        per_question: sqlx::Row::try_get(row, "per_question")?,
                        pending: sqlx::Row::try_get(row, "pending")?,
                        exam_revision: sqlx::Row::try_get(row, "exam_revision")?,
                    });
                }
                Ok(out)
            }

            async fn insert_review(&mut self, tenant: &str, item: &NewReview<'_>, now: i64) -> R<i64> {
                let row = sqlx::query(
                    "INSERT INTO review_items (tenant_id, exam_id, scan_id, page_id, sheet_code, question, \
                     reason, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) RETURNING id",
                )
                .bind(tenant)
                .bind(item.exam_id)
                .bind(item.scan_id)
                .bind(item.page_id)
                .bind(item.sheet_code)
                .bind(item.question)
                .bind(item.reason)
                .bind(now)
                .fetch_one(&mut **self)
                .await?;
                Ok(sqlx::Row::try_get(&row, "id")?)
            }

            async fn review_items(
                &mut self,
                tenant: &str,
                exam_id: Option<&str>,
                status: Option<&str>,
            ) -> R<Vec<ReviewRow>> {
                let rows = sqlx::query(review_select!(
                    "r.tenant_id = $1 AND ($2 IS NULL OR r.exam_id = $2) AND ($3 IS NULL OR r.status = $3) \
                     ORDER BY r.id"
                ))
                .bind(tenant)
                .bind(exam_id)
                .bind(status)
                .fetch_all(&mut **self)
                .await?;
                Ok(rows.iter().map(review_row).collect::<Result<_, _>>()?)
            }

            async fn review_item(&mut self, tenant: &str, id: i64) -> R<Option<ReviewRow>> {
                let row = sqlx::query(review_select!("r.tenant_id = $1 AND r.id = $2"))
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(review_row(&row)?),
                    None => None,
                })
            }

            async fn set_review(
                &mut self,
                tenant: &str,
                id: i64,
                status: &str,
                resolution: Option<&str>,
                now: i64,
            ) -> R<()> {
                sqlx::query(
                    "UPDATE review_items SET status = $3, resolution = $4, resolved_at = $5 \
                     WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(status)
                .bind(resolution)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn resolve_mark(
                &mut self,
                tenant: &str,
                page_id: i64,
                question: i32,
                marked: &str,
                state: &str,
            ) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE marks SET resolved_marked = $4, resolved_state = $5 \
                     WHERE tenant_id = $1 AND page_id = $2 AND question = $3",
                )
                .bind(tenant)
                .bind(page_id)
                .bind(question)
                .bind(marked)
                .bind(state)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn enqueue_job(&mut self, tenant: &str, kind: &str, payload: &str, now: i64) -> R<i64> {
                let row = sqlx::query(
                    "INSERT INTO jobs (tenant_id, kind, payload, status, attempts, run_after, created_at, \
                     updated_at) VALUES ($1, $2, $3, 'queued', 0, $4, $4, $4) RETURNING id",
                )
                .bind(tenant)
                .bind(kind)
                .bind(payload)
                .bind(now)
                .fetch_one(&mut **self)
                .await?;
                Ok(sqlx::Row::try_get(&row, "id")?)
            }

            async fn claim_job(
                &mut self,
                tenant: &str,
                worker: &str,
                lease_until: i64,
                now: i64,
            ) -> R<Option<JobRow>> {
                let row = sqlx::query($claim_job)
                    .bind(tenant)
                    .bind(worker)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(JobRow {
                        id: sqlx::Row::try_get(&row, "id")?,
                        kind: sqlx::Row::try_get(&row, "kind")?,
                        payload: sqlx::Row::try_get(&row, "payload")?,
                        status: sqlx::Row::try_get(&row, "status")?,
                        attempts: sqlx::Row::try_get(&row, "attempts")?,
                    }),
                    None => None,
                })
            }

            async fn finish_job(
                &mut self,
                tenant: &str,
                id: i64,
                status: &str,
                error: Option<&str>,
                run_after: i64,
                now: i64,
            ) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE jobs SET status = $3, last_error = $4, run_after = $5, locked_by = NULL, \
                     locked_until = NULL, updated_at = $6 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(status)
                .bind(error)
                .bind(run_after)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn insert_token(&mut self, token: &TokenRow) -> R<bool> {
                let done = sqlx::query(
                    "INSERT INTO api_tokens (id, tenant_id, token_hash, scopes, label, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(&token.id)
                .bind(&token.tenant_id)
                .bind(&token.token_hash)
                .bind(&token.scopes)
                .bind(&token.label)
                .bind(token.created_at)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn token_by_hash(&mut self, hash: &str) -> R<Option<TokenRow>> {
                let row = sqlx::query(concat!(token_select!(), "WHERE token_hash = $1"))
                    .bind(hash)
                    .fetch_optional(&mut **self)
                    .await?;
                Ok(match row {
                    Some(row) => Some(token_row(&row)?),
                    None => None,
                })
            }

            async fn tokens(&mut self, tenant: Option<&str>) -> R<Vec<TokenRow>> {
                let rows = sqlx::query(concat!(
                    token_select!(),
                    "WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY tenant_id, created_at, id"
                ))
                .bind(tenant)
                .fetch_all(&mut **self)
                .await?;
                Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
            }

            async fn revoke_token(&mut self, id: &str, now: i64) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn next_claimable(&mut self, kinds: &[&str], now: i64) -> R<Option<ClaimRow>> {
                if kinds.is_empty() {
                    return Ok(None);
                }
                // Two searches, each an ordered range of the (status, run_after, id) index, rather
                // than one OR that the planner may answer by walking every job ever done.
                for expired in [true, false] {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "SELECT id, tenant_id, kind, payload, status, attempts, last_error FROM jobs WHERE ",
                    );
                    if expired {
                        b.push("status = 'running' AND locked_until < ").push_bind(now);
                    } else {
                        b.push("status = 'queued' AND run_after <= ").push_bind(now);
                    }
                    b.push(" AND kind IN (");
                    let mut list = b.separated(", ");
                    for kind in kinds {
                        list.push_bind(kind.to_string());
                    }
                    b.push(if expired {
                        ") ORDER BY locked_until, id LIMIT 1"
                    } else {
                        ") ORDER BY run_after, id LIMIT 1"
                    });
                    b.push($skip_locked);
                    let row = b.build().fetch_optional(&mut **self).await?;
                    if let Some(row) = row {
                        return Ok(Some(ClaimRow {
                            id: sqlx::Row::try_get(&row, "id")?,
                            tenant_id: sqlx::Row::try_get(&row, "tenant_id")?,
                            kind: sqlx::Row::try_get(&row, "kind")?,
                            payload: sqlx::Row::try_get(&row, "payload")?,
                            status: sqlx::Row::try_get(&row, "status")?,
                            attempts: sqlx::Row::try_get(&row, "attempts")?,
                            last_error: sqlx::Row::try_get(&row, "last_error")?,
                        }));
                    }
                }
                Ok(None)
            }

            async fn start_job(&mut self, id: i64, worker: &str, lease_until: i64, now: i64) -> R<()> {
                sqlx::query(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $2, \
                     locked_until = $3, updated_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn give_up_job(&mut self, id: i64, error: &str, now: i64) -> R<()> {
                sqlx::query(
                    "UPDATE jobs SET status = 'failed', last_error = $2, locked_by = NULL, \
                     locked_until = NULL, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(error)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(())
            }

            async fn renew_job(&mut self, id: i64, worker: &str, lease_until: i64, now: i64) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE jobs SET locked_until = $3, updated_at = $4 \
                     WHERE id = $1 AND locked_by = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(worker)
                .bind(lease_until)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn release_job(&mut self, id: i64, worker: &str, now: i64) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE jobs SET status = 'queued', \
                     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                     locked_by = NULL, locked_until = NULL, run_after = $3, updated_at = $3 \
                     WHERE id = $1 AND locked_by = $2 AND status = 'running'",
                )
                .bind(id)
                .bind(worker)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn job(&mut self, tenant: &str, id: i64) -> R<Option<JobRecord>> {
                let row = sqlx::query(
                    "SELECT id, kind, status, attempts, last_error, created_at, updated_at \
                     FROM jobs WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **self)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let status: String = sqlx::Row::try_get(&row, "status")?;
                let attempts: i32 = sqlx::Row::try_get(&row, "attempts")?;
                Ok(Some(JobRecord {
                    id: sqlx::Row::try_get(&row, "id")?,
                    kind: sqlx::Row::try_get(&row, "kind")?,
                    status: JobStatus::parse(&status)?,
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    last_error: sqlx::Row::try_get(&row, "last_error")?,
                    created_at: sqlx::Row::try_get(&row, "created_at")?,
                    updated_at: sqlx::Row::try_get(&row, "updated_at")?,
                }))
            }

            async fn job_counts(&mut self) -> R<Vec<(String, String, i64)>> {
                let rows = sqlx::query(
                    "SELECT kind, status, COUNT(*) AS n FROM jobs GROUP BY kind, status \
                     ORDER BY kind, status",
                )
                .fetch_all(&mut **self)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    out.push((
                        sqlx::Row::try_get(row, "kind")?,
                        sqlx::Row::try_get(row, "status")?,
                        sqlx::Row::try_get(row, "n")?,
                    ));
                }
                Ok(out)
            }

            async fn insert_bundle(
                &mut self,
                tenant: &str,
                bundle: &NewBundle<'_>,
                job_id: i64,
                now: i64,
            ) -> R<bool> {
                let done = sqlx::query(
                    "INSERT INTO bundles (tenant_id, id, exam_id, job_id, request_json, pages_done, \
                     pages_total, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7, $7) \
                     ON CONFLICT (tenant_id, id) DO NOTHING",
                )
                .bind(tenant)
                .bind(bundle.id)
                .bind(bundle.exam_id)
                .bind(job_id)
                .bind(bundle.request_json)
                .bind(i64::from(bundle.pages_total))
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn bundle(&mut self, tenant: &str, id: &str) -> R<Option<BundleRecord>> {
                let row = sqlx::query(
                    "SELECT b.id, b.exam_id, b.job_id, j.status, j.attempts, j.last_error, \
                     b.pages_done, b.pages_total, b.pdf_key, b.manifest_key, b.pdf_bytes, \
                     b.request_json, b.created_at, \
                     CASE WHEN j.updated_at > b.updated_at THEN j.updated_at ELSE b.updated_at END \
                     AS updated_at \
                     FROM bundles b JOIN jobs j ON j.id = b.job_id \
                     WHERE b.tenant_id = $1 AND b.id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **self)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let status: String = sqlx::Row::try_get(&row, "status")?;
                let attempts: i32 = sqlx::Row::try_get(&row, "attempts")?;
                let pages_done: i64 = sqlx::Row::try_get(&row, "pages_done")?;
                let pages_total: i64 = sqlx::Row::try_get(&row, "pages_total")?;
                let pdf_bytes: Option<i64> = sqlx::Row::try_get(&row, "pdf_bytes")?;
                Ok(Some(BundleRecord {
                    id: sqlx::Row::try_get(&row, "id")?,
                    exam_id: sqlx::Row::try_get(&row, "exam_id")?,
                    job_id: sqlx::Row::try_get(&row, "job_id")?,
                    status: JobStatus::parse(&status)?,
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    error: sqlx::Row::try_get(&row, "last_error")?,
                    pages_done: u32::try_from(pages_done).unwrap_or_default(),
                    pages_total: u32::try_from(pages_total).unwrap_or_default(),
                    pdf_key: sqlx::Row::try_get(&row, "pdf_key")?,
                    manifest_key: sqlx::Row::try_get(&row, "manifest_key")?,
                    pdf_bytes: pdf_bytes.and_then(|n| u64::try_from(n).ok()),
                    request_json: sqlx::Row::try_get(&row, "request_json")?,
                    created_at: sqlx::Row::try_get(&row, "created_at")?,
                    updated_at: sqlx::Row::try_get(&row, "updated_at")?,
                }))
            }

            async fn bundle_progress(
                &mut self,
                tenant: &str,
                id: &str,
                pages_done: i64,
                now: i64,
            ) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE bundles SET pages_done = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(pages_done)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn bundle_written(
                &mut self,
                tenant: &str,
                id: &str,
                pdf_key: &str,
                manifest_key: &str,
                pdf_bytes: i64,
                now: i64,
            ) -> R<u64> {
                let done = sqlx::query(
                    "UPDATE bundles SET pdf_key = $3, manifest_key = $4, pdf_bytes = $5, \
                     pages_done = pages_total, updated_at = $6 WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .bind(pdf_key)
                .bind(manifest_key)
                .bind(pdf_bytes)
                .bind(now)
                .execute(&mut **self)
                .await?;
                Ok(done.rows_affected())
            }

            async fn insert_scan_batch(
                &mut self,
                tenant: &str,
                id: &str,
                job_id: i64,
                scan_ids: &[i64],
                now: i64,
            ) -> R<bool> {
                let done = sqlx::query(
                    "INSERT INTO scan_batches (tenant_id, id, job_id, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant_id, id) DO NOTHING",
                )
                .bind(tenant)
                .bind(id)
                .bind(job_id)
                .bind(now)
                .execute(&mut **self)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                let items: Vec<(i32, i64)> = scan_ids
                    .iter()
                    .enumerate()
                    .map(|(i, &scan)| (i32::try_from(i).unwrap_or(i32::MAX), scan))
                    .collect();
                for chunk in items.chunks(BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO scan_batch_items (tenant_id, batch_id, position, scan_id) ",
                    );
                    b.push_values(chunk, |mut row, &(position, scan)| {
                        row.push_bind(tenant.to_string())
                            .push_bind(id.to_string())
                            .push_bind(position)
                            .push_bind(scan);
                    });
                    b.build().execute(&mut **self).await?;
                }
                Ok(true)
            }

            async fn scan_batch(&mut self, tenant: &str, id: &str) -> R<Option<ScanBatchRecord>> {
                let row = sqlx::query(
                    "SELECT b.id, b.job_id, b.created_at, j.status, j.attempts, j.last_error \
                     FROM scan_batches b JOIN jobs j ON j.id = b.job_id \
                     WHERE b.tenant_id = $1 AND b.id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut **self)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let items = sqlx::query(
                    "SELECT i.position, i.scan_id, s.file_name, s.status FROM scan_batch_items i \
                     JOIN scans s ON s.tenant_id = i.tenant_id AND s.id = i.scan_id \
                     WHERE i.tenant_id = $1 AND i.batch_id = $2 ORDER BY i.position",
                )
                .bind(tenant)
                .bind(id)
                .fetch_all(&mut **self)
                .await?;
                let mut scans = Vec::with_capacity(items.len());
                for item in &items {
                    let position: i32 = sqlx::Row::try_get(item, "position")?;
                    let status: String = sqlx::Row::try_get(item, "status")?;
                    scans.push(BatchScan {
                        position: u32::try_from(position).unwrap_or_default(),
                        scan_id: sqlx::Row::try_get(item, "scan_id")?,
                        file_name: sqlx::Row::try_get(item, "file_name")?,
                        status: ScanStatus::parse(&status)?,
                    });
                }
                let status: String = sqlx::Row::try_get(&row, "status")?;
                let attempts: i32 = sqlx::Row::try_get(&row, "attempts")?;
                Ok(Some(ScanBatchRecord {
                    id: sqlx::Row::try_get(&row, "id")?,
                    job_id: sqlx::Row::try_get(&row, "job_id")?,
                    status: JobStatus::parse(&status)?,
                    attempts: u32::try_from(attempts).unwrap_or_default(),
                    error: sqlx::Row::try_get(&row, "last_error")?,
                    scans,
                    created_at: sqlx::Row::try_get(&row, "created_at")?,
                }))
            }
        }
    };
}

/// Claims the oldest ready job (or one whose lease ran out). `$1` tenant, `$2` worker,
/// `$3` lease end, `$4` now.
macro_rules! claim_job_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_by = $2, \
             locked_until = $3, updated_at = $4 WHERE tenant_id = $1 AND id = (SELECT j.id FROM jobs j \
             WHERE j.tenant_id = $1 AND ((j.status = 'queued' AND j.run_after <= $4) \
             OR (j.status = 'running' AND j.locked_until < $4)) ORDER BY j.id LIMIT 1",
            $lock,
            ") RETURNING id, kind, payload, status, attempts"
        )
    };
}

impl_tx!(
    sqlx::Postgres,
    lock_scan = "SELECT status FROM scans WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    claim_job = claim_job_sql!(" FOR UPDATE SKIP LOCKED"),
    skip_locked = " FOR UPDATE SKIP LOCKED"
);

// SQLite has no row locks; its write transactions are serialised instead (see `db.rs`).
impl_tx!(
    sqlx::Sqlite,
    lock_scan = "SELECT status FROM scans WHERE tenant_id = $1 AND id = $2",
    claim_job = claim_job_sql!(""),
    skip_locked = ""
);

// After the SQL macros above, which it uses.
mod chunk;
pub(crate) use chunk::{ChunkTx, CurrentPageRow};
