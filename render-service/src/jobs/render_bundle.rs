//! The `render-bundle` job: renders a queued bundle to object storage and registers its sheets.
//!
//! Steps, each safe to repeat when an attempt dies part-way (another instance, or this one
//! after a restart, runs the job again):
//!
//! 1. the PDF is rendered into a temporary file, page by page (memory stays bounded: the
//!    renderer streams, and only the roster and the manifest are held);
//! 2. the PDF is stored under `TENANT/bundles/BUNDLE/bundle.pdf`;
//! 3. the sheets are registered ([`Store::ensure_bundle`]): only now, so that no code is
//!    registered for a PDF that was never stored; a second registration of the same bundle
//!    finds its first page and adds nothing;
//! 4. the manifest is stored beside the PDF, and the bundle row learns both keys.
//!
//! The sheet codes are drawn from a generator seeded by a secret chosen when the bundle was
//! queued ([`BundleRequest::seed`]): a retry renders the very same codes, so step 3 of a
//! retry recognises what an earlier attempt registered instead of registering a second set.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use model::{Bundle, Exam, Student};
use rand::SeedableRng;
use render::{BundleOptions, RenderError, StudentOrder, render_bundle_with};

use crate::booklets::typeset_booklets;
use serde::{Deserialize, Serialize};
use service::telemetry::names;
use service::{JobError, JobKind, JobRun};
use store::{BundleRecord, ObjectStore, Store, TenantId};
use tokio_util::sync::CancellationToken;

use crate::http::bundles::OrderParam;

/// How often the progress of a running bundle is written to its row.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Renders one queued bundle.
#[derive(Clone)]
pub struct RenderBundle {
    /// The database.
    pub store: Store,
    /// Where PDFs and manifests go.
    pub objects: Arc<dyn ObjectStore>,
}

/// The job's payload: which bundle (of the job's tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderBundlePayload {
    /// The bundle's id.
    pub bundle_id: String,
}

/// What a bundle is rendered from, kept in its row (`request_json`) when it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRequest {
    /// One sheet per student, in roster order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<Vec<Student>>,
    /// Without a roster: how many anonymous sheets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copies: Option<u32>,
    /// The secret seed of the sheet codes (64 hex digits, 256 bits), so that every attempt
    /// renders the same codes. Never shown to clients: the codes must stay unguessable.
    pub seed: String,
    /// The order of the students (`None`: the renderer's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderParam>,
}

impl BundleRequest {
    /// The seed as the generator takes it.
    pub fn seed_bytes(&self) -> Option<[u8; 32]> {
        let hex = self.seed.as_bytes();
        if hex.len() != 64 {
            return None;
        }
        let mut seed = [0u8; 32];
        for (byte, pair) in seed.iter_mut().zip(hex.chunks_exact(2)) {
            let text = std::str::from_utf8(pair).ok()?;
            *byte = u8::from_str_radix(text, 16).ok()?;
        }
        Some(seed)
    }

    /// A new random seed, as stored.
    pub fn new_seed() -> String {
        let seed: [u8; 32] = rand::random();
        seed.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// How many sheets the renderer is asked for without a roster (1 with one).
    pub fn copies(&self) -> usize {
        usize::try_from(self.copies.unwrap_or(1)).unwrap_or(usize::MAX)
    }
}

/// The object keys of a bundle's PDF and manifest.
pub fn object_keys(tenant: &TenantId, bundle_id: &str) -> (String, String) {
    let prefix = format!("{tenant}/bundles/{bundle_id}");
    (
        format!("{prefix}/bundle.pdf"),
        format!("{prefix}/bundle.json"),
    )
}

impl JobKind for RenderBundle {
    const KIND: &'static str = "render-bundle";
    type Payload = RenderBundlePayload;

    async fn run(&self, run: JobRun, payload: RenderBundlePayload) -> Result<(), JobError> {
        let tenant = &run.tenant;
        let id = payload.bundle_id.as_str();
        let Some(bundle) = self.store.bundle(tenant, id).await? else {
            return Err(JobError::Fail(format!("bundle {id:?} no longer exists")));
        };
        if bundle.pdf_key.is_some() && bundle.manifest_key.is_some() {
            // An earlier attempt wrote everything and died before completing the job.
            return Ok(());
        }
        let Some(exam) = self.store.exam(tenant, &bundle.exam_id).await? else {
            return Err(JobError::Fail(format!(
                "exam {:?} of bundle {id:?} no longer exists",
                bundle.exam_id
            )));
        };
        let request: BundleRequest = serde_json::from_str(&bundle.request_json)
            .map_err(|e| JobError::Fail(format!("bundle {id:?}: stored request: {e}")))?;
        let seed = request
            .seed_bytes()
            .ok_or_else(|| JobError::Fail(format!("bundle {id:?}: stored seed is malformed")))?;

        let file = tempfile::NamedTempFile::new()
            .map_err(|e| JobError::Retry(format!("cannot create a temporary file: {e}")))?;
        let mut manifest = self
            .render(&run, &bundle, exam.exam, request, seed, file.path())
            .await?;
        manifest.exam_id = Some(bundle.exam_id.clone());
        stop_if_cancelled(&run.cancel)?;

        let (pdf_key, manifest_key) = object_keys(tenant, id);
        let pdf_bytes = file
            .as_file()
            .metadata()
            .map_err(|e| JobError::Retry(format!("temporary PDF: {e}")))?
            .len();
        self.objects
            .put_file(&pdf_key, file.path())
            .await
            .map_err(retry)?;
        drop(file);
        stop_if_cancelled(&run.cancel)?;

        let registered = self.store.ensure_bundle(tenant, &manifest).await?;
        if registered.exam_id != bundle.exam_id {
            return Err(JobError::Fail(format!(
                "the sheets of bundle {id:?} are registered under exam {:?}, not {:?}",
                registered.exam_id, bundle.exam_id
            )));
        }
        let json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| JobError::Fail(format!("bundle {id:?}: manifest: {e}")))?;
        drop(manifest);
        self.objects
            .put(&manifest_key, &json)
            .await
            .map_err(retry)?;
        self.store
            .bundle_written(tenant, id, &pdf_key, &manifest_key, pdf_bytes)
            .await?;
        Ok(())
    }
}

impl RenderBundle {
    /// The exam's booklets, typeset on a blocking thread (typst is CPU work); `None` for an
    /// answer-sheet-only exam.
    async fn typeset(
        &self,
        bundle: &BundleRecord,
        exam: &Exam,
    ) -> Result<Option<render::TypesetBooklets>, JobError> {
        let exam = exam.clone();
        // Over HTTP an exam's figures travel inline: no path reaches the server's files.
        tokio::task::spawn_blocking(move || typeset_booklets(&exam, &typeset::NoFigures))
            .await
            .map_err(|e| {
                JobError::Fail(format!(
                    "the typesetter stopped on bundle {:?}: {e}",
                    bundle.id
                ))
            })?
            .map_err(|e| {
                JobError::Fail(format!(
                    "cannot typeset the booklets of bundle {:?}: {e}",
                    bundle.id
                ))
            })
    }

    /// Renders into `path` on a blocking thread, writing progress to the bundle's row as it
    /// goes; returns the manifest.
    async fn render(
        &self,
        run: &JobRun,
        bundle: &BundleRecord,
        exam: Exam,
        request: BundleRequest,
        seed: [u8; 32],
        path: &Path,
    ) -> Result<Bundle, JobError> {
        let done = Arc::new(AtomicU32::new(0));
        let file = std::fs::File::create(path)
            .map_err(|e| JobError::Retry(format!("temporary PDF: {e}")))?;
        // The renderer buffers its writes: each reaching the file is a chance to stop.
        let out = CancellableWriter {
            inner: file,
            cancel: run.cancel.clone(),
        };
        let booklets = self.typeset(bundle, &exam).await?;
        let reported = Arc::clone(&done);
        let mut work = tokio::task::spawn_blocking(move || {
            let mut rng = rand::rngs::StdRng::from_seed(seed);
            let mut progress = |pages: u32, _total: u32| {
                let before = reported.swap(pages, Ordering::Relaxed);
                metrics::counter!(names::BUNDLE_PAGES)
                    .increment(u64::from(pages.saturating_sub(before)));
            };
            let options = BundleOptions {
                booklets: booklets.as_ref(),
                order: request.order.map(|o| match o {
                    OrderParam::ClassName => StudentOrder::ClassThenName,
                    OrderParam::Roster => StudentOrder::Roster,
                }),
                ..BundleOptions::default()
            };
            let mut out = Some(out);
            render_bundle_with(
                &exam,
                request.roster.as_deref(),
                request.copies(),
                &options,
                &mut rng,
                &mut |_| {
                    out.take()
                        .ok_or_else(|| std::io::Error::other("one PDF per bundle job"))
                },
                &mut progress,
            )
        });
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        let mut written = 0;
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = tick.tick() => {
                    let pages = done.load(Ordering::Relaxed);
                    if pages != written {
                        // Progress is a courtesy: a failed write is retried at the next tick.
                        if self.store.bundle_progress(&run.tenant, &bundle.id, pages).await.is_ok() {
                            written = pages;
                        }
                    }
                }
            }
        };
        let manifest = match outcome {
            Ok(Ok(manifest)) => manifest,
            Ok(Err(_)) if run.cancel.is_cancelled() => return Err(JobError::Interrupted),
            Ok(Err(RenderError::Io(e))) => {
                return Err(JobError::Retry(format!("writing the PDF: {e}")));
            }
            Ok(Err(e)) => {
                return Err(JobError::Fail(format!(
                    "cannot render bundle {:?}: {}",
                    bundle.id,
                    store::cli::error_line(&e)
                )));
            }
            Err(join) => {
                return Err(JobError::Fail(format!(
                    "the renderer stopped on bundle {:?}: {join}",
                    bundle.id
                )));
            }
        };
        let total = u32::try_from(manifest.pages.len()).unwrap_or(u32::MAX);
        self.store
            .bundle_progress(&run.tenant, &bundle.id, total)
            .await?;
        Ok(manifest)
    }
}

/// The PDF's writer: stops the render (an I/O error) once the job is cancelled, which is how a
/// shutdown reaches a renderer busy on a blocking thread.
struct CancellableWriter<W> {
    inner: W,
    cancel: CancellationToken,
}

impl<W: Write> Write for CancellableWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            // Not `ErrorKind::Interrupted`: `write_all` retries that one, for ever.
            return Err(std::io::Error::other("the job was cancelled"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn stop_if_cancelled(cancel: &CancellationToken) -> Result<(), JobError> {
    if cancel.is_cancelled() {
        Err(JobError::Interrupted)
    } else {
        Ok(())
    }
}

fn retry(error: store::ObjectError) -> JobError {
    JobError::Retry(store::cli::error_line(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_survives_its_storage() {
        let request = BundleRequest {
            roster: None,
            copies: Some(3),
            seed: BundleRequest::new_seed(),
            order: None,
        };
        let json = serde_json::to_string(&request).expect("json");
        let back: BundleRequest = serde_json::from_str(&json).expect("parse");
        assert_eq!(back.seed_bytes(), request.seed_bytes());
        assert!(back.seed_bytes().is_some());
        assert_ne!(BundleRequest::new_seed(), request.seed);
    }

    #[test]
    fn a_malformed_seed_is_refused() {
        for seed in ["", "zz", &"g".repeat(64), &"0".repeat(63)] {
            let request = BundleRequest {
                roster: None,
                copies: None,
                seed: seed.to_string(),
                order: None,
            };
            assert!(request.seed_bytes().is_none(), "{seed}");
        }
    }

    #[test]
    fn a_cancelled_writer_stops_writing() {
        let cancel = CancellationToken::new();
        let mut w = CancellableWriter {
            inner: Vec::new(),
            cancel: cancel.clone(),
        };
        w.write_all(b"abc").expect("write");
        cancel.cancel();
        assert!(w.write_all(b"def").is_err());
        assert_eq!(w.inner, b"abc");
    }
}
