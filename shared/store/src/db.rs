//! [`Store`]: the repository. Each public method is one transaction, written once over [`Tx`]
//! and run on whichever backend the store was opened with.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use model::bundle::{AnswerBox, Bundle, BundlePage, PageKind};
use model::exam::{Exam, Key};
use model::layout::PageLayout;
use model::outcome::IdentifiedBy;
use model::roster::Student;
use model::scoring::{AnswerState, ReadAnswer, Score, score_sheet};
use model::sheet_code::SheetCode;

use super::content_hash;
use super::migrations;
use super::repo::{
    GroupRow, KeyRow, MarkRow, NewReview, PageRow, ReviewRow, ScanRow, ScoreRow, SheetRow, Tx,
};
use super::types::*;
use model::results::{self, ExamResults, SheetScore};

/// The database the command-line tools use when neither `--db` nor `DATABASE_URL` names one:
/// an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite:gabarito.sqlite";

type R<T> = Result<T, StoreError>;

/// The repository: Postgres or SQLite, one contract.
///
/// Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// The database as errors name it: `sqlite:PATH`, or the Postgres URL without a password.
    name: Arc<str>,
}

#[derive(Debug, Clone)]
enum Backend {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// What a transaction will do. On SQLite a writing transaction takes the write lock when it
/// begins (`BEGIN IMMEDIATE`), waiting out the busy timeout for another process's writer: a
/// deferred transaction that reads and then writes cannot wait (SQLite answers "database is
/// locked" at once, since its snapshot may be stale), so concurrent runs on one file failed.
/// A reading transaction stays deferred, so that reads work on a read-only file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

impl Access {
    fn sqlite_begin(self) -> &'static str {
        match self {
            Access::Read => "BEGIN",
            Access::Write => "BEGIN IMMEDIATE",
        }
    }
}

/// Runs `$body` (a call consuming the transaction `$tx`) on the store's backend, in a
/// transaction begun for `$access` ([`Access`]); errors are told as [`Store::explain`] tells
/// them. The `one` form runs a single [`Tx`] call and commits.
macro_rules! with_tx {
    ($self:ident, $access:ident, one |$tx:ident| $call:expr) => {
        with_tx!($self, $access, |tx| run_then_commit(
            tx,
            |mut $tx| async move {
                let result = $call.await;
                ($tx, result)
            }
        ))
    };
    ($self:ident, $access:ident, |$tx:ident| $body:expr) => {{
        let result: R<_> = async {
            match &$self.backend {
                Backend::Postgres(pool) => {
                    let $tx = pool.begin().await?;
                    $body.await
                }
                Backend::Sqlite(pool) => {
                    let $tx = pool.begin_with(Access::$access.sqlite_begin()).await?;
                    $body.await
                }
            }
        }
        .await;
        result.map_err(|e| $self.explain(e))
    }};
}

// After `with_tx!`, which they use.
mod chunk;
mod services;

pub use chunk::{ChunkScan, ScanGrading};

impl Store {
    /// Opens the database a URL names: `postgres://…` (or `postgresql://…`), `sqlite:PATH`
    /// (`sqlite:PATH?mode=ro` read-only), or a bare file path (SQLite, created when missing).
    /// Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> R<Self> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options =
                PgConnectOptions::from_str(url).map_err(|_| StoreError::Url(redact(url)))?;
            Self::connect_postgres(options).await
        } else if url.starts_with("sqlite:") {
            let options =
                SqliteConnectOptions::from_str(url).map_err(|_| StoreError::Url(url.into()))?;
            Self::connect_sqlite(options).await
        } else if url.contains("://") || url.is_empty() {
            Err(StoreError::Url(redact(url)))
        } else {
            Self::connect_sqlite(SqliteConnectOptions::new().filename(url)).await
        }
    }

    /// Opens Postgres with explicit options (tests use them to pick a schema).
    pub async fn connect_postgres(options: PgConnectOptions) -> R<Self> {
        let name: Arc<str> = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or_default()
        )
        .into();
        // One direct attempt first: a server that is down, or refuses these credentials, is
        // reported at once with its reason; the pool would wait out its acquire timeout and
        // then say only that it timed out.
        let probe = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
        sqlx::Connection::close(probe).await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(Self {
            backend: Backend::Postgres(pool),
            name,
        })
    }

    /// Opens (creating it when missing, unless read-only) an SQLite database.
    pub async fn connect_sqlite(options: SqliteConnectOptions) -> R<Self> {
        let file = options.get_filename().to_path_buf();
        let name: Arc<str> = format!("sqlite:{}", file.display()).into();
        // SQLite says only "unable to open database file": name the file and what is missing.
        if let Some(folder) = file.parent().filter(|f| !f.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(StoreError::MissingFolder {
                database: file.display().to_string(),
                folder: folder.display().to_string(),
            });
        }
        let pool = match sqlite_pool(options.clone(), false).await {
            // A file this user may only read, in a folder where SQLite cannot create the WAL
            // index beside it: open it as an unchanging file, which needs no index, so that it
            // can still be read (writes are then refused as read-only).
            Err(e) if is_read_only(&e) => sqlite_pool(options, true).await,
            other => other,
        };
        let store = Self {
            backend: Backend::Sqlite(pool.map_err(StoreError::from)?),
            name,
        };
        Ok(store)
    }

    /// The database as messages name it: `sqlite:PATH`, or the Postgres URL without password.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A driver error that means "this database takes no writes" becomes
    /// [`StoreError::ReadOnly`], naming the database; any other error is returned as it is.
    fn explain(&self, error: StoreError) -> StoreError {
        let read_only = match &error {
            StoreError::Database(e) => is_read_only(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e))
            | StoreError::Migrate(sqlx::migrate::MigrateError::ExecuteMigration(e, _)) => {
                is_read_only(e)
            }
            _ => false,
        };
        if read_only {
            StoreError::ReadOnly {
                database: self.name.to_string(),
            }
        } else {
            error
        }
    }

    /// Which backend this is: `"postgres"` or `"sqlite"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Postgres(_) => "postgres",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Applies every migration not yet applied (idempotent; safe with several instances starting
    /// at once on Postgres, which takes an advisory lock). Writes nothing when the schema is
    /// already current, so that a read-only database can still be read.
    pub async fn migrate(&self) -> R<()> {
        let result = async {
            if self.schema_is_current().await {
                return Ok(());
            }
            match &self.backend {
                Backend::Postgres(pool) => migrations::postgres().run(pool).await?,
                Backend::Sqlite(pool) => migrations::sqlite().run(pool).await?,
            }
            Ok(())
        }
        .await;
        result.map_err(|e| self.explain(e))
    }

    /// Whether every migration this program knows is applied, with the same checksum, and
    /// none is left half-done. `false` too when this cannot be read (no history table yet):
    /// [`Store::migrate`] then runs the migrator, which reports any real problem.
    async fn schema_is_current(&self) -> bool {
        const APPLIED: &str = "SELECT version, checksum FROM _sqlx_migrations WHERE success";
        let (migrator, applied) = match &self.backend {
            Backend::Postgres(pool) => (
                migrations::postgres(),
                sqlx::query_as::<_, (i64, Vec<u8>)>(APPLIED)
                    .fetch_all(pool)
                    .await,
            ),
            Backend::Sqlite(pool) => (
                migrations::sqlite(),
                sqlx::query_as::<_, (i64, Vec<u8>)>(APPLIED)
                    .fetch_all(pool)
                    .await,
            ),
        };
        let Ok(applied) = applied else {
            return false;
        };
        let applied: HashMap<i64, Vec<u8>> = applied.into_iter().collect();
        migrator
            .iter()
            .all(|m| applied.get(&m.version).map(Vec::as_slice) == Some(&*m.checksum))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close().await,
            Backend::Sqlite(pool) => pool.close().await,
        }
    }

    /// Creates the tenant when it does not exist.
    pub async fn ensure_tenant(&self, tenant: &TenantId, name: &str) -> R<()> {
        with_tx!(self, Write, |tx| ensure_tenant(tx, tenant, name))
    }

    /// Registers an exam (validated first) and returns its new id.
    pub async fn register_exam(&self, tenant: &TenantId, exam: &Exam) -> R<String> {
        exam.validate()?;
        with_tx!(self, Write, |tx| register_exam(tx, tenant, exam))
    }

    /// Registers an exam and every page of its rendered bundle (students included), in one
    /// transaction, and returns the exam's id (to write into `bundle.json`). See
    /// [`Store::ensure_bundle`]: registering the same bundle again returns the same id.
    pub async fn register_bundle(&self, tenant: &TenantId, bundle: &Bundle) -> R<String> {
        Ok(self.ensure_bundle(tenant, bundle).await?.exam_id)
    }

    /// Registers a bundle unless it is registered already (its first page is), atomically:
    /// runs racing to register the same bundle end with one exam holding all its pages, and
    /// each learns its id. A manifest that names its exam (`exam_id`) is registered under that
    /// id; one that does not gets a new id.
    pub async fn ensure_bundle(&self, tenant: &TenantId, bundle: &Bundle) -> R<RegisteredBundle> {
        bundle.exam.validate()?;
        // A lost race rolls back and leaves the winner's pages to be found by the next try.
        for _ in 0..3 {
            if let Some(registered) =
                with_tx!(self, Write, |tx| register_bundle(tx, tenant, bundle))?
            {
                return Ok(registered);
            }
        }
        Err(StoreError::Invalid(
            "the bundle's pages belong to another exam: they were registered while registering it, \
             and not under one exam"
                .into(),
        ))
    }

    /// Registers more pages of an already registered exam (another bundle for another class).
    /// Pages already registered are left as they are.
    pub async fn register_sheets(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        layout_version: u32,
        pages: &[BundlePage],
    ) -> R<()> {
        with_tx!(self, Write, |tx| register_sheets(
            tx,
            tenant,
            exam_id,
            layout_version,
            pages
        ))
    }

    /// The exam with its current keys, if this tenant has it.
    pub async fn exam(&self, tenant: &TenantId, exam_id: &str) -> R<Option<StoredExam>> {
        with_tx!(self, Read, |tx| load_exam(tx, tenant, exam_id))
    }

    /// Every exam of the tenant, oldest first.
    pub async fn exams(&self, tenant: &TenantId) -> R<Vec<ExamSummary>> {
        with_tx!(self, Read, one | tx | tx.exams(tenant.as_str()))
    }

    /// Replaces the exam's keys, weights, annulments or scoring rules, and re-scores every stored
    /// answer sheet of the exam from its stored marks, in one transaction. Changes that would
    /// invalidate printed sheets (versions, number of questions, choices, paper) are refused.
    pub async fn update_exam(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        exam: &Exam,
    ) -> R<RescoreReport> {
        exam.validate()?;
        let new = exam.clone();
        with_tx!(self, Write, |tx| change_exam(
            tx,
            tenant,
            exam_id,
            move |_old| Ok(new)
        ))
    }

    /// Annuls (or restores) question `question` (from 1) and re-scores the exam.
    pub async fn annul_question(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        question: u32,
        annulled: bool,
    ) -> R<RescoreReport> {
        self.change_question(tenant, exam_id, question, move |q| q.annulled = annulled)
            .await
    }

    /// Changes the key of question `question` (from 1) and re-scores the exam.
    pub async fn set_key(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        question: u32,
        key: Key,
    ) -> R<RescoreReport> {
        self.change_question(tenant, exam_id, question, move |q| q.key = key)
            .await
    }

    /// Changes the weight of question `question` (from 1) and re-scores the exam.
    pub async fn set_weight(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        question: u32,
        weight: f64,
    ) -> R<RescoreReport> {
        self.change_question(tenant, exam_id, question, move |q| q.weight = weight)
            .await
    }

    /// Changes question `question` (from 1) of the exam with `f` and re-scores the exam.
    async fn change_question(
        &self,
        tenant: &TenantId,
        exam_id: &str,
        question: u32,
        f: impl FnOnce(&mut model::exam::Question) + Send,
    ) -> R<RescoreReport> {
        with_tx!(self, Write, |tx| change_exam(
            tx,
            tenant,
            exam_id,
            move |mut exam| {
                f(question_mut(&mut exam, question)?);
                Ok(exam)
            }
        ))
    }

    /// Re-scores every stored answer sheet of the exam from its stored marks.
    pub async fn rescore_exam(&self, tenant: &TenantId, exam_id: &str) -> R<RescoreReport> {
        with_tx!(self, Write, |tx| change_exam(tx, tenant, exam_id, Ok))
    }

    /// The sheet a code names, for this tenant.
    pub async fn sheet(&self, tenant: &TenantId, code: &SheetCode) -> R<Option<SheetRecord>> {
        let code = code.printed();
        let row = with_tx!(self, Read, one | tx | tx.sheet(tenant.as_str(), &code))?;
        row.map(sheet_record).transpose()
    }

    /// Every distinct page layout of the tenant's sheets (of one exam's, when given): what the
    /// grader aligns pages with, and reads the marks of an unidentified page with when all the
    /// pages of its frame share one layout.
    pub async fn layouts(&self, tenant: &TenantId, exam_id: Option<&str>) -> R<Vec<PageLayout>> {
        let rows = with_tx!(self, Read, one | tx | tx.layouts(tenant.as_str(), exam_id))?;
        rows.iter()
            .map(|json| {
                serde_json::from_str(json)
                    .map_err(|e| StoreError::Corrupt(format!("stored layout: {e}")))
            })
            .collect()
    }

    /// Every registered page of an exam, in bundle order.
    pub async fn sheets(&self, tenant: &TenantId, exam_id: &str) -> R<Vec<SheetRecord>> {
        let rows = with_tx!(self, Read, one | tx | tx.sheets(tenant.as_str(), exam_id))?;
        rows.into_iter().map(sheet_record).collect()
    }

    /// Records an uploaded file whose bytes are already in object storage. The same bytes
    /// (same content hash) for the same tenant are the same scan: the existing record is
    /// returned with `new == false`.
    pub async fn receive_scan(&self, tenant: &TenantId, scan: &NewScan) -> R<ReceivedScan> {
        with_tx!(self, Write, |tx| receive_scan(tx, tenant, scan))
    }

    /// A scan by id.
    pub async fn scan(&self, tenant: &TenantId, scan_id: i64) -> R<Option<ScanRecord>> {
        let row = with_tx!(self, Read, one | tx | tx.scan(tenant.as_str(), scan_id))?;
        row.map(scan_record).transpose()
    }

    /// A scan by the hex SHA-256 of its bytes.
    pub async fn scan_by_hash(&self, tenant: &TenantId, hash: &str) -> R<Option<ScanRecord>> {
        let row = with_tx!(
            self,
            Read,
            one | tx | tx.scan_by_hash(tenant.as_str(), hash)
        )?;
        row.map(scan_record).transpose()
    }

    /// Every scan of the tenant, in the order received.
    pub async fn scans(&self, tenant: &TenantId) -> R<Vec<ScanRecord>> {
        let rows = with_tx!(self, Read, one | tx | tx.scans(tenant.as_str()))?;
        rows.into_iter().map(scan_record).collect()
    }

    /// Records what grading a received scan produced: its pages, their marks, review items for
    /// whatever needs a person, and the new score of every answer sheet it touched — in one
    /// transaction, so an interrupted run leaves the scan `received` and a rerun grades it
    /// exactly once. A scan that is no longer `received` is left alone (`already_graded`).
    pub async fn record_grading(
        &self,
        tenant: &TenantId,
        scan_id: i64,
        pages: &[GradedPage],
    ) -> R<GradingOutcome> {
        with_tx!(self, Write, |tx| record_grading(
            tx,
            tenant,
            scan_id,
            pages,
            Attempt::First
        ))
    }

    /// Like [`Store::record_grading`] for a scan graded before: the earlier outcome is replaced
    /// in the same transaction (its pages and marks deleted, its open review items closed, the
    /// sheets it counted for re-scored from what remains).
    pub async fn replace_grading(
        &self,
        tenant: &TenantId,
        scan_id: i64,
        pages: &[GradedPage],
    ) -> R<GradingOutcome> {
        with_tx!(self, Write, |tx| record_grading(
            tx,
            tenant,
            scan_id,
            pages,
            Attempt::Again
        ))
    }

    /// Like [`Store::record_scan_failure`] for a scan graded before, whose earlier outcome is
    /// replaced (see [`Store::replace_grading`]).
    pub async fn replace_with_failure(
        &self,
        tenant: &TenantId,
        scan_id: i64,
        error: &str,
    ) -> R<bool> {
        with_tx!(self, Write, |tx| record_scan_failure(
            tx,
            tenant,
            scan_id,
            error,
            Attempt::Again
        ))
    }

    /// What is stored of a scan's grading: each page's reported outcome, and what is still open.
    pub async fn scan_outcome(&self, tenant: &TenantId, scan_id: i64) -> R<StoredOutcome> {
        with_tx!(
            self,
            Read,
            one | tx | stored_outcome(&mut tx, tenant.as_str(), scan_id)
        )
    }

    /// A person says whose sheet an unidentified page is: the page is recorded under `code`
    /// (a sheet of the tenant) and its stored marks score that sheet; the item is resolved.
    pub async fn assign_page(
        &self,
        tenant: &TenantId,
        item_id: i64,
        code: &SheetCode,
    ) -> R<ResolveOutcome> {
        with_tx!(self, Write, |tx| assign_page(tx, tenant, item_id, code))
    }

    /// Records that a received scan cannot be graded at all (corrupt file, not an image…), with
    /// a review item saying why. Returns `false` when the scan was no longer `received`.
    pub async fn record_scan_failure(
        &self,
        tenant: &TenantId,
        scan_id: i64,
        error: &str,
    ) -> R<bool> {
        with_tx!(self, Write, |tx| record_scan_failure(
            tx,
            tenant,
            scan_id,
            error,
            Attempt::First
        ))
    }

    /// Every stored page of a sheet, oldest first: the one that counts and the superseded ones.
    pub async fn pages_of_sheet(
        &self,
        tenant: &TenantId,
        code: &SheetCode,
    ) -> R<Vec<ScanPageRecord>> {
        let code = code.printed();
        with_tx!(
            self,
            Read,
            one | tx | tx.pages_of_sheet(tenant.as_str(), &code)
        )
    }

    /// The current score of every answer sheet of the exam.
    pub async fn scores(&self, tenant: &TenantId, exam_id: &str) -> R<Vec<SheetScore>> {
        let rows = with_tx!(self, Read, one | tx | tx.scores(tenant.as_str(), exam_id))?;
        rows.into_iter().map(sheet_score).collect()
    }

    /// Results of the exam: per student and per question (see [`results`]).
    pub async fn results(&self, tenant: &TenantId, exam_id: &str) -> R<ExamResults> {
        with_tx!(self, Read, |tx| load_results(tx, tenant, exam_id))
    }

    /// Review items, optionally of one exam; `open_only` keeps the ones still waiting for a
    /// person on pages that count.
    pub async fn review_items(
        &self,
        tenant: &TenantId,
        exam_id: Option<&str>,
        open_only: bool,
    ) -> R<Vec<ReviewItem>> {
        let status = open_only.then_some(ReviewStatus::Open.as_str());
        let rows = with_tx!(
            self,
            Read,
            one | tx | tx.review_items(tenant.as_str(), exam_id, status)
        )?;
        let items = rows.into_iter().map(review_item).collect::<R<Vec<_>>>()?;
        Ok(if open_only {
            items.into_iter().filter(|i| !i.superseded).collect()
        } else {
            items
        })
    }

    /// A review item by id.
    pub async fn review_item(&self, tenant: &TenantId, item_id: i64) -> R<Option<ReviewItem>> {
        let row = with_tx!(
            self,
            Read,
            one | tx | tx.review_item(tenant.as_str(), item_id)
        )?;
        row.map(review_item).transpose()
    }

    /// Applies a person's decision on a review item and re-scores that answer sheet.
    pub async fn resolve_review(
        &self,
        tenant: &TenantId,
        item_id: i64,
        resolution: &Resolution,
    ) -> R<ResolveOutcome> {
        with_tx!(self, Write, |tx| resolve_review(
            tx, tenant, item_id, resolution
        ))
    }

    /// Queues a job; returns its id.
    pub async fn enqueue_job(&self, tenant: &TenantId, kind: &str, payload: &str) -> R<i64> {
        with_tx!(self, Write, |tx| enqueue_job(tx, tenant, kind, payload))
    }

    /// Claims the oldest job that is ready (or whose previous worker's lease ran out) for `lease`.
    /// On Postgres, concurrent workers never claim the same job (`FOR UPDATE SKIP LOCKED`).
    pub async fn claim_job(
        &self,
        tenant: &TenantId,
        worker: &str,
        lease: Duration,
    ) -> R<Option<Job>> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let row = with_tx!(
            self,
            Write,
            one | tx | tx.claim_job(tenant.as_str(), worker, until, now)
        )?;
        row.map(|j| {
            Ok(Job {
                id: j.id,
                kind: j.kind,
                payload: j.payload,
                status: JobStatus::parse(&j.status)?,
                attempts: u32::try_from(j.attempts).unwrap_or_default(),
            })
        })
        .transpose()
    }

    /// Marks a job done.
    pub async fn complete_job(&self, tenant: &TenantId, job_id: i64) -> R<()> {
        self.finish_job(tenant, job_id, "done", None, None).await
    }

    /// Marks a job failed: queued again after `retry_after`, or given up on when `None`.
    pub async fn fail_job(
        &self,
        tenant: &TenantId,
        job_id: i64,
        error: &str,
        retry_after: Option<Duration>,
    ) -> R<()> {
        let status = if retry_after.is_some() {
            "queued"
        } else {
            "failed"
        };
        self.finish_job(tenant, job_id, status, Some(error), retry_after)
            .await
    }

    async fn finish_job(
        &self,
        tenant: &TenantId,
        job_id: i64,
        status: &str,
        error: Option<&str>,
        retry_after: Option<Duration>,
    ) -> R<()> {
        let now = now_ms();
        let run_after = now.saturating_add(
            retry_after
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        );
        let changed = with_tx!(
            self,
            Write,
            one | tx | tx.finish_job(tenant.as_str(), job_id, status, error, run_after, now)
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound {
                what: "job",
                id: job_id.to_string(),
            });
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A database URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A pool of one connection to the SQLite file (`unchanging`: opened read-only and immutable).
async fn sqlite_pool(
    options: SqliteConnectOptions,
    unchanging: bool,
) -> Result<SqlitePool, sqlx::Error> {
    let options = options
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(60));
    let options = if unchanging {
        options.read_only(true).immutable(true)
    } else {
        options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
    };
    // One connection: within a process, transactions take turns here rather than at the
    // file's lock, at no cost for a command line.
    SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(300))
        .connect_with(options)
        .await
}

/// Runs `f` (one or more statements, reads or writes) in the transaction and commits it when
/// `f` succeeded; dropping the transaction on failure rolls it back.
async fn run_then_commit<T, F, Fut, X>(tx: T, f: F) -> R<X>
where
    T: Tx,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = (T, R<X>)>,
{
    let (tx, result) = f(tx).await;
    let value = result?;
    tx.commit().await?;
    Ok(value)
}

/// Whether a driver error is SQLite's `SQLITE_READONLY` (any of its extended codes) or
/// Postgres's `read_only_sql_transaction` (a replica, or `default_transaction_read_only`).
fn is_read_only(error: &sqlx::Error) -> bool {
    const SQLITE_READONLY: i32 = 8;
    const PG_READ_ONLY_SQL_TRANSACTION: &str = "25006";
    let Some(db) = error.as_database_error() else {
        return false;
    };
    let Some(code) = db.code() else {
        return false;
    };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        code.parse::<i32>()
            .is_ok_and(|c| c & 0xff == SQLITE_READONLY)
    } else {
        code == PG_READ_ONLY_SQL_TRANSACTION
    }
}

async fn enqueue_job<T: Tx>(mut tx: T, tenant: &TenantId, kind: &str, payload: &str) -> R<i64> {
    let now = now_ms();
    tx.ensure_tenant(tenant.as_str(), tenant.as_str(), now)
        .await?;
    let id = tx.enqueue_job(tenant.as_str(), kind, payload, now).await?;
    tx.commit().await?;
    Ok(id)
}

fn new_exam_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut rng = rand::rng();
    // 16 symbols of 5 bits: 80 random bits, unguessable and collision-free in practice.
    let tail: String = (0..16)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("ex-{tail}")
}

fn key_rows(exam: &Exam) -> Vec<KeyRow> {
    let mut rows = Vec::with_capacity(exam.versions.len() * exam.questions.len());
    for version in &exam.versions {
        for (i, q) in exam.questions.iter().enumerate() {
            rows.push(KeyRow {
                version: version.clone(),
                question: i as i32 + 1,
                answer: marked_str(&exam.key_for(version, i).unwrap_or_default()),
                weight: q.weight,
                annulled: q.annulled,
            });
        }
    }
    rows
}

fn exam_json(exam: &Exam) -> R<String> {
    serde_json::to_string(exam).map_err(|e| StoreError::Invalid(format!("exam: {e}")))
}

fn parse_exam(json: &str) -> R<Exam> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("exam JSON: {e}")))
}

fn question_mut(exam: &mut Exam, question: u32) -> R<&mut model::exam::Question> {
    let count = exam.questions.len();
    question
        .checked_sub(1)
        .and_then(|i| exam.questions.get_mut(i as usize))
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "question {question} does not exist (the exam has {count})"
            ))
        })
}

/// Refuses a change that would make printed sheets unreadable or stored marks meaningless.
fn check_compatible(old: &Exam, new: &Exam) -> R<()> {
    if old.versions != new.versions {
        return Err(StoreError::Invalid(
            "the versions of a registered exam cannot change".into(),
        ));
    }
    if old.questions.len() != new.questions.len() {
        return Err(StoreError::Invalid(format!(
            "a registered exam keeps its {} questions (the change has {})",
            old.questions.len(),
            new.questions.len()
        )));
    }
    for (i, (a, b)) in old.questions.iter().zip(&new.questions).enumerate() {
        if a.choices != b.choices {
            return Err(StoreError::Invalid(format!(
                "question {}: the choices of a printed question cannot change",
                i + 1
            )));
        }
    }
    if old.paper != new.paper || old.student_number_digits != new.student_number_digits {
        return Err(StoreError::Invalid(
            "the paper and student-number grid of a printed exam cannot change".into(),
        ));
    }
    Ok(())
}

/// The id of `layout` (the SHA-256 of its JSON), adding it to `layouts` the first time.
fn layout_id(
    layout: &Arc<PageLayout>,
    seen: &mut Vec<(Arc<PageLayout>, String)>,
    layouts: &mut Vec<(String, String)>,
) -> R<String> {
    if let Some((_, id)) = seen.iter().find(|(l, _)| Arc::ptr_eq(l, layout)) {
        return Ok(id.clone());
    }
    let json = serde_json::to_string(layout.as_ref())
        .map_err(|e| StoreError::Invalid(format!("layout: {e}")))?;
    let id = content_hash(json.as_bytes());
    if !layouts.iter().any(|(known, _)| *known == id) {
        layouts.push((id.clone(), json));
    }
    seen.push((Arc::clone(layout), id.clone()));
    Ok(id)
}

fn sheet_record(row: SheetRow) -> R<SheetRecord> {
    let code = SheetCode::parse(&row.code)
        .map_err(|e| StoreError::Corrupt(format!("sheet code {:?}: {e}", row.code)))?;
    let sheet_group = SheetCode::parse(&row.sheet_group)
        .map_err(|e| StoreError::Corrupt(format!("sheet group {:?}: {e}", row.sheet_group)))?;
    let json = row
        .layout_json
        .as_deref()
        .ok_or_else(|| StoreError::Corrupt(format!("sheet {} has no layout", row.code)))?;
    let layout: PageLayout = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("layout of sheet {}: {e}", row.code)))?;
    let count = |v: i32| u32::try_from(v).map_err(|_| StoreError::Corrupt("page number".into()));
    let kind = PageKind::parse(&row.kind).ok_or_else(|| {
        StoreError::Corrupt(format!("sheet {} is of kind {:?}", row.code, row.kind))
    })?;
    let answer_boxes: Vec<AnswerBox> = match &row.answer_boxes_json {
        Some(json) => serde_json::from_str(json)
            .map_err(|e| StoreError::Corrupt(format!("answer boxes of sheet {}: {e}", row.code)))?,
        None => Vec::new(),
    };
    Ok(SheetRecord {
        code,
        exam_id: row.exam_id,
        version: row.version,
        student_id: row.student_id,
        sheet_group,
        sheet_page: count(row.sheet_page)?,
        sheet_pages: count(row.sheet_pages)?,
        pdf_page: count(row.pdf_page)?,
        layout,
        layout_version: count(row.layout_version)?,
        kind,
        booklet_page: row.booklet_page.map(count).transpose()?,
        answer_boxes,
    })
}

fn scan_record(row: ScanRow) -> R<ScanRecord> {
    Ok(ScanRecord {
        id: row.id,
        content_hash: row.content_hash,
        object_key: row.object_key,
        byte_len: u64::try_from(row.byte_len).unwrap_or_default(),
        file_name: row.file_name,
        status: ScanStatus::parse(&row.status)?,
        error: row.error,
        received_at: row.received_at,
        graded_at: row.graded_at,
    })
}

fn sheet_score(row: ScoreRow) -> R<SheetScore> {
    let per_question: Vec<f64> = serde_json::from_str(&row.per_question)
        .map_err(|e| StoreError::Corrupt(format!("scores of {}: {e}", row.sheet_group)))?;
    let pending: Vec<u32> = serde_json::from_str(&row.pending)
        .map_err(|e| StoreError::Corrupt(format!("pending of {}: {e}", row.sheet_group)))?;
    Ok(SheetScore {
        sheet_group: row.sheet_group,
        version: row.version,
        student_id: row.student_id,
        score: Score {
            score: row.score,
            max_score: row.max_score,
            per_question,
            pending,
        },
        exam_revision: row.exam_revision,
    })
}

fn review_item(row: ReviewRow) -> R<ReviewItem> {
    Ok(ReviewItem {
        id: row.id,
        exam_id: row.exam_id,
        scan_id: row.scan_id,
        file_name: row.file_name,
        page: row.page.and_then(|p| u32::try_from(p).ok()),
        sheet_code: row.sheet_code,
        student_id: row.student_id,
        question: row.question.and_then(|q| u32::try_from(q).ok()),
        reason: row.reason,
        status: ReviewStatus::parse(&row.status)?,
        resolution: row.resolution,
        superseded: row.superseded.unwrap_or(false),
        created_at: row.created_at,
    })
}

async fn ensure_tenant<T: Tx>(mut tx: T, tenant: &TenantId, name: &str) -> R<()> {
    tx.ensure_tenant(tenant.as_str(), name, now_ms()).await?;
    tx.commit().await
}

/// Inserts the exam under `id` (with its keys) unless that id is taken; returns whether it did.
async fn insert_exam<T: Tx>(tx: &mut T, tenant: &TenantId, id: &str, exam: &Exam) -> R<bool> {
    let now = now_ms();
    tx.ensure_tenant(tenant.as_str(), tenant.as_str(), now)
        .await?;
    if !tx
        .insert_exam(tenant.as_str(), id, &exam.title, &exam_json(exam)?, now)
        .await?
    {
        return Ok(false);
    }
    tx.replace_keys(tenant.as_str(), id, &exam.versions, &key_rows(exam))
        .await?;
    Ok(true)
}

async fn register_exam<T: Tx>(mut tx: T, tenant: &TenantId, exam: &Exam) -> R<String> {
    let id = new_exam_id();
    if !insert_exam(&mut tx, tenant, &id, exam).await? {
        return Err(StoreError::Corrupt(format!(
            "new exam id {id} already taken"
        )));
    }
    tx.commit().await?;
    Ok(id)
}

/// Registers the bundle unless its first page is registered already; `None` when it lost a
/// race (another transaction registered the bundle's pages under another exam meanwhile): the
/// transaction is rolled back, and a second attempt finds the winner's exam.
async fn register_bundle<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    bundle: &Bundle,
) -> R<Option<RegisteredBundle>> {
    let t = tenant.as_str();
    let first = bundle.pages.first().map(|p| p.sheet_code.printed());
    if let Some(code) = &first
        && let Some(sheet) = tx.sheet(t, code).await?
    {
        tx.commit().await?;
        return Ok(Some(RegisteredBundle {
            exam_id: sheet.exam_id,
            new: false,
        }));
    }
    // A manifest that names its exam is registered under that id, so that `bundle.json`,
    // the results and every other database that learns the bundle agree on it.
    let id = match &bundle.exam_id {
        Some(id) if !id.trim().is_empty() => id.clone(),
        _ => new_exam_id(),
    };
    let new = insert_exam(&mut tx, tenant, &id, &bundle.exam).await?;
    let exam = if new {
        bundle.exam.clone()
    } else {
        // The exam is known (its pages are not, or are being registered by another run): the
        // stored exam, with any key changes made since, is the one the pages belong to.
        let (json, _) = tx
            .exam(t, &id)
            .await?
            .ok_or_else(|| not_found("exam", &id))?;
        let stored = parse_exam(&json)?;
        check_compatible(&stored, &bundle.exam)
            .map_err(|e| StoreError::Invalid(format!("bundle of exam {id}: {e}")))?;
        stored
    };
    insert_sheets(
        &mut tx,
        tenant,
        &id,
        &exam,
        bundle.layout_version,
        &bundle.pages,
    )
    .await?;
    if let Some(code) = &first {
        // Sheets are inserted `ON CONFLICT DO NOTHING`: on Postgres a concurrent registration
        // of the same pages makes ours wait, then do nothing. Whose are they now?
        let owner = tx.sheet(t, code).await?.map(|s| s.exam_id);
        if owner.as_deref() != Some(id.as_str()) {
            return Ok(None);
        }
    }
    tx.commit().await?;
    Ok(Some(RegisteredBundle { exam_id: id, new }))
}

async fn register_sheets<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    exam_id: &str,
    layout_version: u32,
    pages: &[BundlePage],
) -> R<()> {
    let (json, _) = tx
        .exam(tenant.as_str(), exam_id)
        .await?
        .ok_or_else(|| not_found("exam", exam_id))?;
    let exam = parse_exam(&json)?;
    insert_sheets(&mut tx, tenant, exam_id, &exam, layout_version, pages).await?;
    tx.commit().await
}

async fn insert_sheets<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    exam_id: &str,
    exam: &Exam,
    layout_version: u32,
    pages: &[BundlePage],
) -> R<()> {
    let int = |v: u32, what: &str| {
        i32::try_from(v).map_err(|_| StoreError::Invalid(format!("{what} {v} out of range")))
    };
    let mut students: BTreeMap<&str, Student> = BTreeMap::new();
    let mut rows = Vec::with_capacity(pages.len());
    // Each distinct layout is stored once, named by the hash of its JSON. Pages of one bundle
    // share their layouts' Arcs, so each is serialised once.
    let mut layout_ids: Vec<(Arc<PageLayout>, String)> = Vec::new();
    let mut layouts: Vec<(String, String)> = Vec::new();
    // Pages of one answer sheet follow each other in the bundle: a page continues the sheet
    // whose first page came last.
    let mut group: Option<String> = None;
    // A bundle split per class numbers pages within each file: sort within files, which keeps
    // each answer sheet's pages together.
    let mut ordered: Vec<&BundlePage> = pages.iter().collect();
    ordered.sort_by(|a, b| (&a.pdf_file, a.pdf_page).cmp(&(&b.pdf_file, b.pdf_page)));
    for page in ordered {
        if !exam.versions.contains(&page.version) {
            return Err(StoreError::Invalid(format!(
                "page {} names version {:?}, which the exam does not have",
                page.pdf_page, page.version
            )));
        }
        let code = page.sheet_code.printed();
        let booklet = page.kind == PageKind::Booklet;
        // A booklet page is a group of its own, and leaves the answer sheets' grouping alone.
        let sheet_group = match (&group, page.sheet_page) {
            _ if booklet => code.clone(),
            (Some(g), p) if p > 1 => g.clone(),
            _ => code.clone(),
        };
        if !booklet {
            group = Some(sheet_group.clone());
        }
        if let Some(id) = &page.student_id {
            students.entry(id.as_str()).or_insert_with(|| Student {
                student_id: id.clone(),
                name: page.student_name.clone().unwrap_or_default(),
                class: page.class.clone().unwrap_or_default(),
            });
        }
        rows.push(SheetRow {
            code,
            exam_id: exam_id.to_string(),
            version: page.version.clone(),
            student_id: page.student_id.clone(),
            sheet_group,
            sheet_page: int(page.sheet_page, "sheet page")?,
            sheet_pages: int(page.sheet_pages, "sheet pages")?,
            pdf_page: int(page.pdf_page, "pdf page")?,
            layout_json: None,
            layout_id: Some(layout_id(&page.layout, &mut layout_ids, &mut layouts)?),
            layout_version: int(layout_version, "layout version")?,
            kind: page.kind.as_str().to_string(),
            booklet_page: page
                .booklet_page
                .map(|p| int(p, "booklet page"))
                .transpose()?,
            answer_boxes_json: if page.answer_boxes.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&page.answer_boxes).map_err(|e| {
                    StoreError::Invalid(format!("answer boxes of page {}: {e}", page.pdf_page))
                })?)
            },
        });
    }
    let students: Vec<Student> = students.into_values().collect();
    tx.upsert_students(tenant.as_str(), &students).await?;
    tx.insert_layouts(tenant.as_str(), &layouts).await?;
    tx.insert_sheets(tenant.as_str(), &rows, now_ms()).await
}

fn not_found(what: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

async fn load_exam<T: Tx>(mut tx: T, tenant: &TenantId, exam_id: &str) -> R<Option<StoredExam>> {
    let row = tx.exam(tenant.as_str(), exam_id).await?;
    tx.commit().await?;
    row.map(|(json, revision)| {
        Ok(StoredExam {
            id: exam_id.to_string(),
            exam: parse_exam(&json)?,
            revision,
        })
    })
    .transpose()
}

async fn change_exam<T, F>(mut tx: T, tenant: &TenantId, exam_id: &str, f: F) -> R<RescoreReport>
where
    T: Tx,
    F: FnOnce(Exam) -> R<Exam>,
{
    let (json, revision) = tx
        .exam(tenant.as_str(), exam_id)
        .await?
        .ok_or_else(|| not_found("exam", exam_id))?;
    let old = parse_exam(&json)?;
    let new = f(old.clone())?;
    new.validate()?;
    check_compatible(&old, &new)?;
    let revision = if new == old {
        revision
    } else {
        let now = now_ms();
        let revision = tx
            .update_exam(tenant.as_str(), exam_id, &new.title, &exam_json(&new)?, now)
            .await?
            .ok_or_else(|| not_found("exam", exam_id))?;
        tx.replace_keys(tenant.as_str(), exam_id, &new.versions, &key_rows(&new))
            .await?;
        revision
    };
    let scored = rescore(&mut tx, tenant, exam_id, &new, revision, None).await?;
    tx.commit().await?;
    Ok(RescoreReport {
        revision,
        sheets: scored.len(),
    })
}

/// Re-scores the answer sheets of an exam (or one of them) from the stored marks of the pages
/// that count, with [`score_sheet`], and stores the scores.
async fn rescore<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    exam_id: &str,
    exam: &Exam,
    revision: i64,
    group: Option<&str>,
) -> R<Vec<(GroupRow, Score)>> {
    let groups = tx.groups(tenant.as_str(), exam_id, group).await?;
    let marks = tx.marks(tenant.as_str(), exam_id, group).await?;
    let mut answers = answers_by_group(marks)?;
    let (rows, out) = score_groups(exam, revision, groups, &mut answers)?;
    tx.upsert_scores(tenant.as_str(), exam_id, &rows, now_ms())
        .await?;
    Ok(out)
}

/// Scores answer sheets of one exam from their effective marks (taken out of `answers`, by
/// sheet group): the rows to store, and each sheet with its score.
#[allow(clippy::type_complexity)]
fn score_groups(
    exam: &Exam,
    revision: i64,
    groups: Vec<GroupRow>,
    answers: &mut HashMap<String, Vec<ReadAnswer>>,
) -> R<(Vec<ScoreRow>, Vec<(GroupRow, Score)>)> {
    let mut rows = Vec::with_capacity(groups.len());
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let read = answers.remove(&g.sheet_group).unwrap_or_default();
        let score = score_sheet(exam, &g.version, &read).map_err(|e| {
            StoreError::Corrupt(format!("sheet {} cannot be scored: {e}", g.sheet_group))
        })?;
        rows.push(score_row(&g, &score, revision)?);
        out.push((g, score));
    }
    Ok((rows, out))
}

fn score_row(g: &GroupRow, score: &Score, revision: i64) -> R<ScoreRow> {
    let json = |e: serde_json::Error| StoreError::Invalid(format!("score: {e}"));
    Ok(ScoreRow {
        sheet_group: g.sheet_group.clone(),
        version: g.version.clone(),
        student_id: g.student_id.clone(),
        score: score.score,
        max_score: score.max_score,
        per_question: serde_json::to_string(&score.per_question).map_err(json)?,
        pending: serde_json::to_string(&score.pending).map_err(json)?,
        exam_revision: revision,
    })
}

pub(crate) fn answers_by_group(marks: Vec<MarkRow>) -> R<HashMap<String, Vec<ReadAnswer>>> {
    let mut out: HashMap<String, Vec<ReadAnswer>> = HashMap::new();
    for m in marks {
        let answer = ReadAnswer {
            question: u32::try_from(m.question)
                .map_err(|_| StoreError::Corrupt(format!("question {}", m.question)))?,
            marked: parse_marked(&m.marked)?,
            state: parse_state(&m.state)?,
        };
        out.entry(m.sheet_group).or_default().push(answer);
    }
    Ok(out)
}

async fn receive_scan<T: Tx>(mut tx: T, tenant: &TenantId, scan: &NewScan) -> R<ReceivedScan> {
    if scan.content_hash.len() != 64 || !scan.content_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Invalid(format!(
            "content hash {:?} is not a hex SHA-256",
            scan.content_hash
        )));
    }
    let now = now_ms();
    tx.ensure_tenant(tenant.as_str(), tenant.as_str(), now)
        .await?;
    let new = tx.insert_scan(tenant.as_str(), scan, now).await?;
    let row = tx
        .scan_by_hash(tenant.as_str(), &scan.content_hash)
        .await?
        .ok_or_else(|| StoreError::Corrupt("scan vanished after insert".into()))?;
    tx.commit().await?;
    Ok(ReceivedScan {
        scan: scan_record(row)?,
        new,
    })
}

async fn record_scan_failure<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    scan_id: i64,
    error: &str,
    attempt: Attempt,
) -> R<bool> {
    let status = tx
        .lock_scan(tenant.as_str(), scan_id)
        .await?
        .ok_or_else(|| not_found("scan", &scan_id.to_string()))?;
    let now = now_ms();
    if !ScanStatus::parse(&status)?.needs_grading() {
        if attempt == Attempt::First {
            return Ok(false);
        }
        forget_grading(&mut tx, tenant, scan_id, now).await?;
    }
    tx.set_scan_status(
        tenant.as_str(),
        scan_id,
        ScanStatus::Failed.as_str(),
        Some(error),
        now,
    )
    .await?;
    let reason = failure_reason(error);
    tx.insert_review(
        tenant.as_str(),
        &NewReview {
            exam_id: None,
            scan_id,
            page_id: None,
            sheet_code: None,
            question: None,
            reason: &reason,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The review item of a file that could not be graded at all.
fn failure_reason(error: &str) -> String {
    format!("file could not be graded: {error}")
}

/// Checks what the grader read against the exam: known questions, once each, choices in range.
fn check_answers(exam: &Exam, answers: &[ReadAnswer]) -> R<()> {
    let mut seen = BTreeSet::new();
    for a in answers {
        let q = a
            .question
            .checked_sub(1)
            .and_then(|i| exam.questions.get(i as usize))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "answer to question {}, which the exam does not have",
                    a.question
                ))
            })?;
        if !seen.insert(a.question) {
            return Err(StoreError::Invalid(format!(
                "question {} read twice on one page",
                a.question
            )));
        }
        if let Some(bad) = a.marked.iter().find(|&&m| m >= q.choices.count()) {
            return Err(StoreError::Invalid(format!(
                "question {}: choice index {bad} out of range",
                a.question
            )));
        }
    }
    Ok(())
}

/// Whether a scan is graded for the first time or again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    /// Only a `received` scan is graded; any other is left alone.
    First,
    /// A scan graded before has its earlier outcome replaced.
    Again,
}

/// Deletes a scan's earlier outcome (see [`Tx::clear_scan`]) and re-scores the sheets its pages
/// counted for, from the pages that remain.
async fn forget_grading<T: Tx>(tx: &mut T, tenant: &TenantId, scan_id: i64, now: i64) -> R<()> {
    let t = tenant.as_str();
    let codes = tx.clear_scan(t, scan_id, now).await?;
    let mut exams: HashMap<String, (Exam, i64)> = HashMap::new();
    for code in codes {
        tx.resupersede(t, &code).await?;
        let Some(sheet) = tx.sheet(t, &code).await? else {
            continue;
        };
        if !exams.contains_key(&sheet.exam_id) {
            let (json, revision) = tx
                .exam(t, &sheet.exam_id)
                .await?
                .ok_or_else(|| not_found("exam", &sheet.exam_id))?;
            exams.insert(sheet.exam_id.clone(), (parse_exam(&json)?, revision));
        }
        if let Some((exam, revision)) = exams.get(&sheet.exam_id) {
            let rescored = rescore(
                tx,
                tenant,
                &sheet.exam_id,
                exam,
                *revision,
                Some(&sheet.sheet_group),
            )
            .await?;
            if rescored.is_empty() {
                tx.delete_score(t, &sheet.sheet_group).await?;
            }
        }
    }
    Ok(())
}

async fn stored_outcome<T: Tx>(tx: &mut T, tenant: &str, scan_id: i64) -> R<StoredOutcome> {
    let pages = tx
        .page_outcomes(tenant, scan_id)
        .await?
        .into_iter()
        .map(|(page, outcome)| (u32::try_from(page).unwrap_or_default(), outcome))
        .collect();
    let (loose, open) = tx.open_in_scan(tenant, scan_id).await?;
    let count = |n: i64| usize::try_from(n).unwrap_or_default();
    Ok(StoredOutcome {
        pages,
        loose_pages: count(loose),
        open_reviews: count(open),
    })
}

async fn assign_page<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    item_id: i64,
    code: &SheetCode,
) -> R<ResolveOutcome> {
    let t = tenant.as_str();
    let item = tx
        .review_item(t, item_id)
        .await?
        .ok_or_else(|| not_found("review item", &item_id.to_string()))?;
    let page = match item.page_id {
        Some(id) => tx.loose_page(t, id).await?,
        None => None,
    };
    let Some(page) = page.filter(|p| p.error.is_some() && item.question.is_none()) else {
        return Err(StoreError::Invalid(format!(
            "review item {item_id} is not about an unidentified page: it cannot be given a sheet"
        )));
    };
    if item.status != ReviewStatus::Open.as_str() {
        return Err(StoreError::Invalid(format!(
            "review item {item_id} is already {}",
            item.status
        )));
    }
    let printed = code.printed();
    let sheet = tx
        .sheet(t, &printed)
        .await?
        .ok_or_else(|| not_found("sheet", &printed))?;
    let (json, revision) = tx
        .exam(t, &sheet.exam_id)
        .await?
        .ok_or_else(|| not_found("exam", &sheet.exam_id))?;
    let exam = parse_exam(&json)?;
    let answers = answers_by_group(
        tx.page_marks(t, page.id)
            .await?
            .into_iter()
            .map(|(question, marked, state)| MarkRow {
                sheet_group: String::new(),
                question,
                marked,
                state,
            })
            .collect(),
    )?
    .remove("")
    .unwrap_or_default();
    if answers.is_empty() {
        return Err(StoreError::Invalid(format!(
            "review item {item_id}: no marks were read on that page (its layout was not known); \
             grade a new scan of it"
        )));
    }
    check_answers(&exam, &answers)?;
    let now = now_ms();
    tx.assign_page(
        t,
        page.id,
        &sheet.code,
        &sheet.exam_id,
        IdentifiedBy::Person.as_str(),
    )
    .await?;
    tx.resupersede(t, &sheet.code).await?;
    let resolution = format!("sheet {}", sheet.code);
    tx.set_review(
        t,
        item_id,
        ReviewStatus::Resolved.as_str(),
        Some(&resolution),
        now,
    )
    .await?;
    // The page now names its exam, and its uncertain marks need a person like any other.
    for a in answers.iter().filter(|a| a.state == AnswerState::Uncertain) {
        let reason = format!("question {}: uncertain mark", a.question);
        tx.insert_review(
            t,
            &NewReview {
                exam_id: Some(&sheet.exam_id),
                scan_id: page.scan_id,
                page_id: Some(page.id),
                sheet_code: Some(&sheet.code),
                question: Some(i32::try_from(a.question).unwrap_or(i32::MAX)),
                reason: &reason,
            },
            now,
        )
        .await?;
    }
    let score = rescore(
        &mut tx,
        tenant,
        &sheet.exam_id,
        &exam,
        revision,
        Some(&sheet.sheet_group),
    )
    .await?
    .into_iter()
    .next()
    .map(|(_, s)| s);
    let item = tx
        .review_item(t, item_id)
        .await?
        .ok_or_else(|| not_found("review item", &item_id.to_string()))?;
    tx.commit().await?;
    Ok(ResolveOutcome {
        item: review_item(item)?,
        score,
    })
}

async fn record_grading<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    scan_id: i64,
    pages: &[GradedPage],
    attempt: Attempt,
) -> R<GradingOutcome> {
    let t = tenant.as_str();
    let status = tx
        .lock_scan(t, scan_id)
        .await?
        .ok_or_else(|| not_found("scan", &scan_id.to_string()))?;
    let now = now_ms();
    if !ScanStatus::parse(&status)?.needs_grading() {
        if attempt == Attempt::First {
            return Ok(GradingOutcome {
                already_graded: true,
                pages: Vec::new(),
            });
        }
        forget_grading(&mut tx, tenant, scan_id, now).await?;
    }
    let mut exams: HashMap<String, (Exam, i64)> = HashMap::new();
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(pages.len());
    let mut groups_of_page = Vec::with_capacity(pages.len());
    for page in pages {
        let code = page.sheet_code.map(|c| c.printed());
        let sheet = match &code {
            Some(c) => tx.sheet(t, c).await?,
            None => None,
        };
        let mut error = page.error.clone();
        if error.is_none() {
            error = match (&code, &sheet) {
                (None, _) => Some("sheet not identified".to_string()),
                (Some(c), None) => Some(format!("sheet code {c} is not registered")),
                _ => None,
            };
        }
        if let (None, Some(s)) = (&error, &sheet) {
            if !exams.contains_key(&s.exam_id) {
                let (json, revision) = tx.exam(t, &s.exam_id).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!("sheet of missing exam {}", s.exam_id))
                })?;
                exams.insert(s.exam_id.clone(), (parse_exam(&json)?, revision));
            }
            if let Some((exam, _)) = exams.get(&s.exam_id) {
                check_answers(exam, &page.answers)?;
            }
        }
        let page_no = i32::try_from(page.page)
            .map_err(|_| StoreError::Invalid(format!("page {} out of range", page.page)))?;
        let exam_id = sheet.as_ref().map(|s| s.exam_id.as_str());
        // A page whose code is known but which failed still names its exam, so that the review
        // item shows up under it.
        let known_code = sheet.as_ref().map(|s| s.code.as_str());
        let page_id = tx
            .insert_page(
                t,
                &PageRow {
                    scan_id,
                    page: page_no,
                    sheet_code: known_code.or(code.as_deref()),
                    exam_id,
                    identified_by: page.identified_by.map(IdentifiedBy::as_str),
                    error: error.as_deref(),
                    student_number: page.student_number.as_deref(),
                    outcome: page.outcome.as_deref(),
                },
                now,
            )
            .await?;
        let mut items = Vec::new();
        let base = NewReview {
            exam_id,
            scan_id,
            page_id: Some(page_id),
            sheet_code: code.as_deref(),
            question: None,
            reason: "",
        };
        fn review<'a>(
            base: &NewReview<'a>,
            question: Option<i32>,
            reason: &'a str,
        ) -> NewReview<'a> {
            NewReview {
                question,
                reason,
                ..base.clone()
            }
        }
        if let Some(e) = &error {
            // Marks read on a page nobody could name are kept: a person who says whose page
            // it is then needs no second scan (see `assign_page`).
            tx.insert_marks(t, page_id, &page.answers).await?;
            items.push(tx.insert_review(t, &review(&base, None, e), now).await?);
        } else if let Some(s) = &sheet {
            tx.insert_marks(t, page_id, &page.answers).await?;
            tx.resupersede(t, &s.code).await?;
            // A booklet page has no score: its written answers are review items (below).
            if s.kind == PageKind::Sheet.as_str() {
                touched.insert((s.exam_id.clone(), s.sheet_group.clone()));
            }
            for a in page
                .answers
                .iter()
                .filter(|a| a.state == AnswerState::Uncertain)
            {
                let reason = format!("question {}: uncertain mark", a.question);
                let q = i32::try_from(a.question).unwrap_or(i32::MAX);
                items.push(
                    tx.insert_review(t, &review(&base, Some(q), &reason), now)
                        .await?,
                );
            }
            for reason in &page.review {
                let reason = reason.to_string();
                items.push(
                    tx.insert_review(t, &review(&base, None, &reason), now)
                        .await?,
                );
            }
        }
        groups_of_page.push(sheet.as_ref().map(|s| s.sheet_group.clone()));
        outcomes.push(PageOutcome {
            page: page.page,
            page_id,
            sheet_code: sheet.as_ref().and_then(|s| SheetCode::parse(&s.code).ok()),
            student_id: sheet
                .as_ref()
                .and_then(|s| s.student_id.clone())
                .or_else(|| sheet.as_ref().and(page.student_number.clone())),
            version: sheet.as_ref().map(|s| s.version.clone()),
            score: None,
            review_items: items,
            error,
        });
    }
    tx.set_scan_status(t, scan_id, ScanStatus::Graded.as_str(), None, now)
        .await?;
    let mut scores: HashMap<String, Score> = HashMap::new();
    for (exam_id, group) in &touched {
        if let Some((exam, revision)) = exams.get(exam_id) {
            for (g, score) in
                rescore(&mut tx, tenant, exam_id, exam, *revision, Some(group)).await?
            {
                scores.insert(g.sheet_group, score);
            }
        }
    }
    for (outcome, group) in outcomes.iter_mut().zip(groups_of_page) {
        if outcome.error.is_none() {
            outcome.score = group.and_then(|g| scores.get(&g).cloned());
        }
    }
    tx.commit().await?;
    Ok(GradingOutcome {
        already_graded: false,
        pages: outcomes,
    })
}

async fn load_results<T: Tx>(mut tx: T, tenant: &TenantId, exam_id: &str) -> R<ExamResults> {
    let t = tenant.as_str();
    let (json, revision) = tx
        .exam(t, exam_id)
        .await?
        .ok_or_else(|| not_found("exam", exam_id))?;
    let exam = parse_exam(&json)?;
    let scores = tx.scores(t, exam_id).await?;
    let marks = tx.marks(t, exam_id, None).await?;
    let students = tx.students_of_exam(t, exam_id).await?;
    tx.commit().await?;
    let scores = scores.into_iter().map(sheet_score).collect::<R<Vec<_>>>()?;
    let answers = answers_by_group(marks)?;
    Ok(results::compute(
        exam_id, revision, &exam, scores, answers, students,
    ))
}

async fn resolve_review<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    item_id: i64,
    resolution: &Resolution,
) -> R<ResolveOutcome> {
    let t = tenant.as_str();
    let item = tx
        .review_item(t, item_id)
        .await?
        .ok_or_else(|| not_found("review item", &item_id.to_string()))?;
    let now = now_ms();
    let mut score = None;
    match resolution {
        Resolution::Dismiss => {
            tx.set_review(
                t,
                item_id,
                ReviewStatus::Dismissed.as_str(),
                Some("dismissed"),
                now,
            )
            .await?;
        }
        Resolution::Choices(_) | Resolution::Blank => {
            let (Some(question), Some(page_id), Some(exam_id), Some(code)) =
                (item.question, item.page_id, &item.exam_id, &item.sheet_code)
            else {
                return Err(StoreError::Invalid(format!(
                    "review item {item_id} is not about one question's mark: it can only be dismissed"
                )));
            };
            let (json, revision) = tx
                .exam(t, exam_id)
                .await?
                .ok_or_else(|| not_found("exam", exam_id))?;
            let exam = parse_exam(&json)?;
            let q = usize::try_from(question)
                .ok()
                .and_then(|q| q.checked_sub(1))
                .and_then(|i| exam.questions.get(i))
                .ok_or_else(|| StoreError::Corrupt(format!("question {question}")))?;
            let labels: &[String] = match resolution {
                Resolution::Choices(l) => l,
                _ => &[],
            };
            let mut marked = Vec::with_capacity(labels.len());
            for label in labels {
                let i = q.choices.index_of(label).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "{label:?} is not one of the choices {}",
                        q.choices.labels(exam.language).join(", ")
                    ))
                })?;
                marked.push(i);
            }
            marked.sort_unstable();
            marked.dedup();
            let state = match marked.len() {
                0 => AnswerState::Blank,
                1 => AnswerState::Answered,
                _ => AnswerState::Multiple,
            };
            let changed = tx
                .resolve_mark(t, page_id, question, &marked_str(&marked), state_str(state))
                .await?;
            if changed == 0 {
                return Err(StoreError::Corrupt(format!(
                    "review item {item_id}: no stored mark for question {question}"
                )));
            }
            let text = if marked.is_empty() {
                "blank".to_string()
            } else {
                let all = q.choices.labels(exam.language);
                marked
                    .iter()
                    .filter_map(|&i| all.get(usize::from(i)).cloned())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            tx.set_review(
                t,
                item_id,
                ReviewStatus::Resolved.as_str(),
                Some(&text),
                now,
            )
            .await?;
            if !item.superseded.unwrap_or(false) {
                let sheet = tx
                    .sheet(t, code)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("sheet {code} vanished")))?;
                let scored = rescore(
                    &mut tx,
                    tenant,
                    exam_id,
                    &exam,
                    revision,
                    Some(&sheet.sheet_group),
                )
                .await?;
                score = scored.into_iter().next().map(|(_, s)| s);
            }
        }
    }
    let item = tx
        .review_item(t, item_id)
        .await?
        .ok_or_else(|| not_found("review item", &item_id.to_string()))?;
    tx.commit().await?;
    Ok(ResolveOutcome {
        item: review_item(item)?,
        score,
    })
}
