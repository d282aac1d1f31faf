//! The one grading path: store the bytes (by content hash, before anything else), grade them
//! page by page with the pipeline, record the outcome. The command line calls it; the HTTP
//! handler and the job worker are to call the same functions.
//!
//! What happens to a file depends on what is stored of the same bytes:
//!
//! | stored                                              | done                         |
//! |-----------------------------------------------------|------------------------------|
//! | nothing, or received but never graded              | graded                       |
//! | graded, every page named and scored                 | the stored outcome, answered |
//! | failed, or a page unidentified or unregistered      | graded again, replacing it   |
//! | anything, with `regrade`                            | graded again, replacing it   |
//!
//! A page a person has since given a sheet counts as named: grading again would undo their
//! work, so it happens only when asked for.

use std::path::Path;

use model::outcome::ReviewReason;
use model::scoring::ReadAnswer;
use pipeline::decode::DecodeError;
use pipeline::{GradedPage, Grader, Limits, PageReport};
use store::{NewScan, ObjectError, ObjectStore, ScanStatus, Store, StoreError, TenantId};

/// Why a file could not be taken in at all (its outcome could not be recorded).
#[derive(Debug, thiserror::Error)]
pub enum GradingError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Object storage failed.
    #[error(transparent)]
    Objects(#[from] ObjectError),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        source: std::io::Error,
    },
}

/// What was done with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanVerdict {
    /// Graded for the first time.
    Graded,
    /// Graded again; the new outcome replaced the stored one.
    Regraded,
    /// Graded before: the stored outcome is answered.
    AlreadyGraded,
    /// Refused before grading (too large, unreadable): recorded as failed, with the reason.
    Refused,
}

/// The outcome of one file.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// The stored scan.
    pub scan_id: i64,
    /// What was done.
    pub verdict: ScanVerdict,
    /// One report per page, as the grader made it (the stored one when already graded).
    pub reports: Vec<PageReport>,
    /// Whether anything of the scan still waits for a person (an open review item, a page
    /// that counts for nothing).
    pub open: bool,
}

/// The state one grading path acts on: a tenant's database and object storage.
pub struct Grading<'a> {
    /// The database.
    pub store: &'a Store,
    /// Where scans are kept.
    pub objects: &'a dyn ObjectStore,
    /// The school.
    pub tenant: &'a TenantId,
}

/// What ingesting a file from disk hands back besides its scan.
#[derive(Debug)]
pub enum Taken {
    /// The file's bytes, to be graded.
    Bytes(Vec<u8>),
    /// Refused before it was read (too large): why. Record it with [`Grading::refuse`].
    Refused(DecodeError),
    /// Graded before: its stored outcome stands ([`Grading::stored`]).
    Stored,
}

/// A file taken in: its scan row, and what is to be done with it.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The scan.
    pub scan_id: i64,
    /// `None`: answer the stored outcome; `Some(again)`: grade (again, replacing, if `again`).
    pub grade: Option<bool>,
}

impl Grading<'_> {
    /// Stores the file at `path` (streamed, by content hash) and records its scan, refusing
    /// on the record a file beyond `limits` (it is not stored, but its refusal is).
    pub async fn ingest_file(
        &self,
        path: &Path,
        name: &str,
        limits: &Limits,
        regrade: bool,
    ) -> Result<(Ingested, Taken), GradingError> {
        let read_err = |source| GradingError::Read {
            path: name.to_string(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        let too_large = size > limits.max_file_bytes;
        // A file within the limits is read once, and hashed from memory: it is graded from
        // those bytes (or, graded before, dropped). One too large is hashed in chunks, unread.
        let bytes = if too_large {
            None
        } else {
            Some(std::fs::read(path).map_err(read_err)?)
        };
        let hash = match &bytes {
            Some(bytes) => store::content_hash(bytes),
            None => store::objects::content_hash_of_file(path).map_err(read_err)?,
        };
        let key = store::scan_object_key(self.tenant, &hash);
        if !too_large && !self.objects.exists(&key).await? {
            self.objects.put_file(&key, path).await?;
        }
        let ingested = self
            .receive(
                NewScan {
                    content_hash: hash,
                    object_key: if too_large { String::new() } else { key },
                    byte_len: size,
                    file_name: name.to_string(),
                },
                regrade,
            )
            .await?;
        let taken = match bytes {
            None => Taken::Refused(DecodeError::FileTooLarge(size, limits.max_file_bytes)),
            Some(bytes) if ingested.grade.is_some() => Taken::Bytes(bytes),
            Some(_) => Taken::Stored,
        };
        Ok((ingested, taken))
    }

    /// Stores bytes held in memory (an upload) by content hash and records its scan.
    pub async fn ingest_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        regrade: bool,
    ) -> Result<Ingested, GradingError> {
        let scan = self.store_bytes(name, bytes).await?;
        self.receive(scan, regrade).await
    }

    /// Stores bytes held in memory under their content hash (unless they are stored already):
    /// the scan to receive, not yet recorded.
    pub async fn store_bytes(&self, name: &str, bytes: &[u8]) -> Result<NewScan, GradingError> {
        let hash = store::content_hash(bytes);
        let key = store::scan_object_key(self.tenant, &hash);
        if !self.objects.exists(&key).await? {
            self.objects.put(&key, bytes).await?;
        }
        Ok(NewScan {
            content_hash: hash,
            object_key: key,
            byte_len: bytes.len() as u64,
            file_name: name.to_string(),
        })
    }

    /// Receives a chunk of stored files at once (a national batch, `grader batch`): in order,
    /// each one's scan, to be graded only while it is `received`. Unlike
    /// [`Grading::ingest_bytes`], a scan recorded before in any way (graded, failed, a page
    /// unidentified) is left as it is: a batch run again, or a task retried, reads its shard
    /// again and must count nothing twice (`grader grade --regrade` grades again on purpose).
    pub async fn receive_chunk(&self, scans: &[NewScan]) -> Result<Vec<Ingested>, GradingError> {
        let received = self.store.receive_scans(self.tenant, scans).await?;
        Ok(received
            .into_iter()
            .map(|r| Ingested {
                scan_id: r.scan.id,
                grade: r.scan.status.needs_grading().then_some(false),
            })
            .collect())
    }

    /// Records the graded scans of a chunk in one transaction ([`Store::record_chunk`]): all
    /// of it or, on an error, none (the scans stay `received`, for a retry to grade). A scan
    /// recorded meanwhile by someone else (another task with the same bytes under another
    /// name, the service) is left alone and answered [`ScanVerdict::AlreadyGraded`].
    pub async fn record_chunk(
        &self,
        graded: &[(Ingested, Vec<RecordedPage>)],
    ) -> Result<Vec<ScanOutcome>, GradingError> {
        let chunk: Vec<store::ChunkScan> = graded
            .iter()
            .map(|(ingested, pages)| store::ChunkScan {
                scan_id: ingested.scan_id,
                grading: match pages.as_slice() {
                    [only] if only.whole_file_failed => {
                        store::ScanGrading::Failed(only.report.error.clone().unwrap_or_default())
                    }
                    _ => {
                        store::ScanGrading::Pages(pages.iter().map(|p| p.stored.clone()).collect())
                    }
                },
                again: ingested.grade == Some(true),
            })
            .collect();
        let outcomes = self.store.record_chunk(self.tenant, &chunk).await?;
        Ok(graded
            .iter()
            .zip(&chunk)
            .zip(outcomes)
            .map(|(((ingested, pages), sent), outcome)| ScanOutcome {
                scan_id: ingested.scan_id,
                verdict: match (outcome.already_graded, ingested.grade) {
                    (true, _) => ScanVerdict::AlreadyGraded,
                    (false, Some(true)) => ScanVerdict::Regraded,
                    (false, _) => ScanVerdict::Graded,
                },
                reports: pages.iter().map(|p| p.report.clone()).collect(),
                open: !outcome.already_graded
                    && (matches!(sent.grading, store::ScanGrading::Failed(_))
                        || outcome
                            .pages
                            .iter()
                            .any(|p| p.error.is_some() || !p.review_items.is_empty())),
            })
            .collect())
    }

    async fn receive(&self, scan: NewScan, regrade: bool) -> Result<Ingested, GradingError> {
        let received = self.store.receive_scan(self.tenant, &scan).await?;
        let scan_id = received.scan.id;
        let grade = match received.scan.status {
            ScanStatus::Received => Some(false),
            ScanStatus::Failed => Some(true),
            ScanStatus::Graded if regrade => Some(true),
            ScanStatus::Graded => {
                let stored = self.store.scan_outcome(self.tenant, scan_id).await?;
                (stored.loose_pages > 0).then_some(true)
            }
        };
        Ok(Ingested { scan_id, grade })
    }

    /// Records a file refused before grading (see [`Grading::ingest_file`]).
    pub async fn refuse(
        &self,
        ingested: &Ingested,
        name: &str,
        why: &DecodeError,
    ) -> Result<ScanOutcome, GradingError> {
        let error = why.to_string();
        self.record_failure(ingested, &error).await?;
        Ok(ScanOutcome {
            scan_id: ingested.scan_id,
            verdict: ScanVerdict::Refused,
            reports: vec![pipeline::grade::failed_report(name, 1, error)],
            open: true,
        })
    }

    /// Records that the whole file could not be graded, replacing what was stored of it when it
    /// is graded again.
    async fn record_failure(&self, ingested: &Ingested, error: &str) -> Result<(), GradingError> {
        if ingested.grade == Some(true) {
            self.store
                .replace_with_failure(self.tenant, ingested.scan_id, error)
                .await?;
        } else {
            self.store
                .record_scan_failure(self.tenant, ingested.scan_id, error)
                .await?;
        }
        Ok(())
    }

    /// Records the pages graded from a scan (`again`: replacing what was stored).
    pub async fn record(
        &self,
        ingested: &Ingested,
        pages: &[RecordedPage],
    ) -> Result<ScanOutcome, GradingError> {
        let again = ingested.grade == Some(true);
        let reports: Vec<PageReport> = pages.iter().map(|p| p.report.clone()).collect();
        let verdict = if again {
            ScanVerdict::Regraded
        } else {
            ScanVerdict::Graded
        };
        if let [only] = pages
            && only.whole_file_failed
        {
            let error = only.report.error.clone().unwrap_or_default();
            self.record_failure(ingested, &error).await?;
            return Ok(ScanOutcome {
                scan_id: ingested.scan_id,
                verdict,
                reports,
                open: true,
            });
        }
        let graded: Vec<store::GradedPage> = pages.iter().map(|p| p.stored.clone()).collect();
        let outcome = if again {
            self.store
                .replace_grading(self.tenant, ingested.scan_id, &graded)
                .await?
        } else {
            self.store
                .record_grading(self.tenant, ingested.scan_id, &graded)
                .await?
        };
        let open = outcome
            .pages
            .iter()
            .any(|p| p.error.is_some() || !p.review_items.is_empty());
        Ok(ScanOutcome {
            scan_id: ingested.scan_id,
            verdict,
            reports,
            open,
        })
    }

    /// The stored outcome of a scan graded before, its pages reported under `name`.
    pub async fn stored(
        &self,
        ingested: &Ingested,
        name: &str,
    ) -> Result<ScanOutcome, GradingError> {
        let stored = self
            .store
            .scan_outcome(self.tenant, ingested.scan_id)
            .await?;
        let reports = stored
            .pages
            .iter()
            .map(|(page, json)| {
                let mut report = json
                    .as_deref()
                    .and_then(|j| serde_json::from_str::<PageReport>(j).ok())
                    // Recorded before outcomes were kept (migration 5): say how to see it.
                    .unwrap_or_else(|| {
                        pipeline::grade::failed_report(
                            name,
                            *page,
                            "graded by an earlier version, which kept no report of the page: \
                             grade it again with --regrade to see one"
                                .into(),
                        )
                    });
                report.file = name.to_string();
                report
            })
            .collect();
        Ok(ScanOutcome {
            scan_id: ingested.scan_id,
            verdict: ScanVerdict::AlreadyGraded,
            reports,
            open: stored.open_reviews > 0 || stored.loose_pages > 0,
        })
    }
}

/// A graded page, reduced to what is recorded and reported (the page image is not kept).
#[derive(Debug, Clone)]
pub struct RecordedPage {
    /// What the grader reports.
    pub report: PageReport,
    /// What the store keeps.
    pub stored: store::GradedPage,
    /// The file could not be decoded at all (this is its only page).
    pub whole_file_failed: bool,
}

impl RecordedPage {
    /// The only page of a file refused before grading (e.g. too large to read): failed, with
    /// `error`, recorded as the file's failure.
    pub fn refused(name: &str, error: String) -> Self {
        Self::of(&GradedPage {
            report: pipeline::grade::failed_report(name, 1, error),
            scan: None,
            pending: None,
        })
    }

    /// What is recorded of a page the pipeline graded.
    pub fn of(page: &GradedPage) -> Self {
        let r = &page.report;
        let reading = page.scan.as_ref().and_then(|s| s.reading.as_ref());
        let answers: Vec<ReadAnswer> = reading
            .map(pipeline::marks::MarkReading::answers)
            .unwrap_or_default();
        let sheet_code = page
            .scan
            .as_ref()
            .and_then(|s| s.sheet.as_ref())
            .map(|s| s.code);
        let unidentified = r.review.iter().find(|s| s.is_unidentified());
        let error = r.error.clone().or_else(|| {
            sheet_code.is_none().then(|| {
                unidentified
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "sheet not identified".into())
            })
        });
        // The store makes its own items of uncertain marks, and of a page that counts for
        // nothing; a reason the marks cannot be scored is in the score itself.
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
        Self {
            report: r.clone(),
            stored: store::GradedPage {
                page: r.page,
                sheet_code,
                identified_by: r.identified_by,
                answers,
                review,
                error,
                student_number: reading
                    .and_then(|r| r.student_number.as_ref())
                    .and_then(|n| n.value.clone()),
                outcome: serde_json::to_string(r).ok(),
            },
            whole_file_failed: page.scan.is_none() && r.error.is_some(),
        }
    }
}

/// Grades every page of `bytes`, one at a time, handing each to `each` (e.g. to draw its
/// annotation) before reducing it to what is recorded: only one page image lives at a time.
pub fn grade_pages(
    grader: &Grader,
    name: &str,
    bytes: &[u8],
    mut each: impl FnMut(&GradedPage),
) -> Vec<RecordedPage> {
    let mut pages = Vec::new();
    grader.grade_each_page(name, bytes, |page| {
        each(&page);
        pages.push(RecordedPage::of(&page));
    });
    file_pages(pages)
}

/// A file's graded pages, settled: a lone undecodable page is the file's failure; one page
/// among others is that page's alone.
pub(crate) fn file_pages(mut pages: Vec<RecordedPage>) -> Vec<RecordedPage> {
    if pages.len() > 1 {
        for p in &mut pages {
            p.whole_file_failed = false;
        }
    }
    pages
}
