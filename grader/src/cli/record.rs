//! What `grader grade` keeps: every scan stored (by content hash) before it is graded, then its
//! pages, marks, scores and review items recorded in the database; and sheet look-up in the
//! database when no `--bundle` is given.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use model::outcome::ReviewReason;
use model::scoring::ReadAnswer;
use model::{Bundle, Exam, SheetCode};
use pipeline::{GradedPage, Grader, Limits, SheetDirectory, SheetInfo};
use store::{self, LocalObjects, Store, TenantId};

use super::db::DbArgs;

/// The database and object storage of one `grader grade` run.
pub struct Recorder {
    rt: Arc<store::Runtime>,
    store: Store,
    objects: LocalObjects,
    tenant: TenantId,
}

/// What happened to one file.
pub enum FileOutcome {
    /// Graded now (and recorded).
    Graded(Vec<GradedPage>),
    /// These bytes were graded before: nothing was done.
    AlreadyGraded,
}

impl Recorder {
    /// Opens (and migrates) the database, and the objects folder.
    pub fn open(db: &DbArgs, objects: &Path) -> Result<Self> {
        let tenant = db.tenant()?;
        let rt = store::runtime().context("cannot start the database runtime")?;
        let store = rt.block_on(db.open())?;
        Ok(Self {
            rt: Arc::new(rt),
            store,
            objects: LocalObjects::new(objects),
            tenant,
        })
    }

    /// Registers a bundle rendered without a database (its sheets unknown here), so that its
    /// scans can be recorded: under the manifest's `exam_id` when it names one. A bundle
    /// already registered is left alone, also when another run registers it at the same time.
    pub fn ensure_bundle(&self, bundle: &Bundle) -> Result<()> {
        if bundle.pages.is_empty() {
            return Ok(());
        }
        let registered = self
            .rt
            .block_on(self.store.ensure_bundle(&self.tenant, bundle))?;
        if registered.new {
            eprintln!(
                "grader: registered the bundle's exam as {}",
                registered.exam_id
            );
        }
        Ok(())
    }

    /// Sheet look-up in the database, for [`Grader::with_directory`].
    pub fn directory(&self) -> StoreDirectory {
        StoreDirectory {
            rt: Arc::clone(&self.rt),
            store: self.store.clone(),
            tenant: self.tenant.clone(),
            exams: Mutex::new(HashMap::new()),
        }
    }

    /// Stores the file's bytes, then grades and records it unless the same bytes were graded
    /// before. A crash between the two leaves the scan `received`: the next run grades it.
    pub fn grade(&self, grader: &Grader, limits: &Limits, path: &Path) -> Result<FileOutcome> {
        let name = path.display().to_string();
        let bytes = match pipeline::decode::read_file_limited(path, limits) {
            Ok(bytes) => bytes,
            // Too big or unreadable: nothing to store; the grader reports why.
            Err(_) => return Ok(FileOutcome::Graded(grader.grade_file_scanned(path))),
        };
        let received = self.rt.block_on(store::ingest_scan(
            &self.store,
            &self.objects,
            &self.tenant,
            &name,
            &bytes,
        ))?;
        if !received.scan.status.needs_grading() {
            return Ok(FileOutcome::AlreadyGraded);
        }
        let pages = grader.grade_bytes_scanned(&name, &bytes);
        let scan_id = received.scan.id;
        let file_failed = matches!(pages.as_slice(), [only] if only.scan.is_none() && only.report.error.is_some());
        self.rt.block_on(async {
            if file_failed {
                let error = pages[0].report.error.clone().unwrap_or_default();
                self.store
                    .record_scan_failure(&self.tenant, scan_id, &error)
                    .await?;
            } else {
                let graded: Vec<store::GradedPage> = pages.iter().map(to_store).collect();
                self.store
                    .record_grading(&self.tenant, scan_id, &graded)
                    .await?;
            }
            anyhow::Ok(())
        })?;
        Ok(FileOutcome::Graded(pages))
    }

    /// Closes the database.
    pub fn close(self) {
        self.rt.block_on(self.store.close());
    }
}

/// What the store keeps of a graded page. The marks are the grader's reading (choice indices);
/// uncertain questions become review items in the store, so the grader's summary line about
/// them is not repeated.
fn to_store(page: &GradedPage) -> store::GradedPage {
    let r = &page.report;
    let sheet_code = r
        .sheet_code
        .as_deref()
        .and_then(|c| SheetCode::parse(c).ok());
    let answers: Vec<ReadAnswer> = page
        .scan
        .as_ref()
        .and_then(|s| s.reading.as_ref())
        .map(pipeline::marks::MarkReading::answers)
        .unwrap_or_default();
    let error = r.error.clone().or_else(|| {
        sheet_code.is_none().then(|| {
            r.review
                .iter()
                .find(|s| s.is_unidentified())
                .map(ToString::to_string)
                .unwrap_or_else(|| "sheet not identified".into())
        })
    });
    let review = r
        .review
        .iter()
        .filter(|s| {
            !matches!(
                s,
                ReviewReason::UncertainMarks(_)
                    | ReviewReason::Unidentified(_)
                    | ReviewReason::CannotScore(_)
            )
        })
        .cloned()
        .collect();
    store::GradedPage {
        page: r.page,
        sheet_code,
        identified_by: r.identified_by,
        answers,
        review,
        error,
        student_number: page
            .scan
            .as_ref()
            .and_then(|s| s.reading.as_ref())
            .and_then(|r| r.student_number.as_ref())
            .and_then(|n| n.value.clone()),
    }
}

/// Sheet look-up in the database. The grader calls it from its worker threads (not from the
/// runtime), so blocking on the runtime here is fine.
pub struct StoreDirectory {
    rt: Arc<store::Runtime>,
    store: Store,
    tenant: TenantId,
    exams: Mutex<HashMap<String, Arc<Exam>>>,
}

impl StoreDirectory {
    fn exam(&self, exam_id: &str) -> Option<Arc<Exam>> {
        if let Some(exam) = self.exams.lock().ok()?.get(exam_id) {
            return Some(Arc::clone(exam));
        }
        let stored = self
            .rt
            .block_on(self.store.exam(&self.tenant, exam_id))
            .ok()??;
        let exam = Arc::new(stored.exam);
        self.exams
            .lock()
            .ok()?
            .insert(exam_id.to_string(), Arc::clone(&exam));
        Some(exam)
    }
}

impl SheetDirectory for StoreDirectory {
    fn lookup(&self, code: &SheetCode) -> Option<SheetInfo> {
        let sheet = match self.rt.block_on(self.store.sheet(&self.tenant, code)) {
            Ok(sheet) => sheet?,
            Err(e) => {
                eprintln!("grader: sheet look-up failed: {e}");
                return None;
            }
        };
        Some(SheetInfo {
            code: sheet.code,
            exam: self.exam(&sheet.exam_id)?,
            version: sheet.version,
            student_id: sheet.student_id,
            sheet_page: sheet.sheet_page,
            layout: Arc::new(sheet.layout),
        })
    }
}
