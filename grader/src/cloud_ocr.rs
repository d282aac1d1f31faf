//! The identification chain's configuration (`GABARITO_OCR`) and its cloud round: pages whose
//! code no local step read are collected across the pages of one request or job and their
//! printed-id crops sent to Cloud Vision [`vision::MAX_IMAGES_PER_REQUEST`] at a time; then
//! those pages are finished (identify → read marks → score) and their scans recorded.
//!
//! The pipeline stays synchronous and pure: with [`OcrChain::configure`] it leaves such a page
//! *pending* ([`pipeline::GradedPage::pending`], holding the crop). A [`Round`] holds the
//! scans that have pending pages (only those: every other scan is recorded at once), hands out
//! the crops [`Round::take`] 16 at a time, and gives back the scans whose pages are all done.
//! A Vision failure or an open breaker finishes the page without text: it goes to review, the
//! rest of its scan is graded and recorded as usual.
//!
//! Memory: a pending page keeps its working image (≈ 2 MB) until its call returns. A scan with
//! more than [`MAX_PENDING_PER_SCAN`] such pages sends the others to review at once.

use std::io::Cursor;
use std::sync::Arc;

use pipeline::{GradedPage, Grader};

use crate::grading::{Ingested, RecordedPage};

/// Pages of one scan that may wait for Vision at once (each keeps its page image).
pub const MAX_PENDING_PER_SCAN: usize = 64;

/// Why `GABARITO_OCR` or the Vision settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A step that is neither `local` nor `vision`.
    #[error(
        "GABARITO_OCR: unknown step {0:?} (the steps are `local` and `vision`, e.g. `local,vision`)"
    )]
    UnknownStep(String),
    /// The Vision client could not be made.
    #[error(transparent)]
    Vision(#[from] vision::SetupError),
}

/// The OCR settings of `grader grade` and `grader serve` (environment or flags).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OcrArgs {
    /// The OCR steps after the QR decoders, in order: `local` (the grader's own OCR of the
    /// printed id), `vision` (Cloud Vision), e.g. `local,vision`; `none` for neither. Default:
    /// `local`, plus `vision` when VISION_ENDPOINT, VISION_API_KEY or
    /// GOOGLE_APPLICATION_CREDENTIALS is set.
    #[arg(long = "ocr", env = "GABARITO_OCR", value_name = "STEPS")]
    pub ocr: Option<String>,
    /// Cloud Vision's base URL (requests go to `{URL}/v1/images:annotate`).
    #[arg(long, env = "VISION_ENDPOINT", value_name = "URL")]
    pub vision_endpoint: Option<String>,
    /// A Cloud Vision API key; without one, an Application Default Credentials token.
    #[arg(
        long,
        env = "VISION_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub vision_api_key: Option<String>,
}

/// The identification chain after the QR decoders: the local OCR, Cloud Vision, both or neither.
#[derive(Clone, Debug)]
pub struct OcrChain {
    /// The grader's own OCR of the printed id.
    pub local: bool,
    /// Cloud Vision, when in the chain.
    pub vision: Option<Arc<vision::Client>>,
}

impl Default for OcrChain {
    fn default() -> Self {
        Self {
            local: true,
            vision: None,
        }
    }
}

impl OcrChain {
    /// The chain `args` describe. Vision counts as configured when an endpoint or an API key is
    /// given, or when `GOOGLE_APPLICATION_CREDENTIALS` names credentials; on Cloud Run (ADC from
    /// the metadata server, which is always there) it is asked for explicitly with
    /// `GABARITO_OCR=local,vision`, so that no deployment spends on Vision unawares.
    pub fn from_args(args: &OcrArgs) -> Result<Self, ChainError> {
        let nonempty = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let configured = nonempty(&args.vision_endpoint)
            || nonempty(&args.vision_api_key)
            || std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some_and(|v| !v.is_empty());
        let (local, use_vision) = match args.ocr.as_deref().map(str::trim) {
            None | Some("") => (true, configured),
            Some(list) => {
                let (mut local, mut use_vision) = (false, false);
                for step in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match step.to_ascii_lowercase().as_str() {
                        "local" => local = true,
                        "vision" => use_vision = true,
                        "none" => {}
                        _ => return Err(ChainError::UnknownStep(step.to_string())),
                    }
                }
                (local, use_vision)
            }
        };
        let vision = if use_vision {
            let endpoint = args
                .vision_endpoint
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or(vision::DEFAULT_ENDPOINT);
            let auth = match args.vision_api_key.as_deref().filter(|k| !k.is_empty()) {
                Some(key) => vision::Auth::ApiKey(key.to_string()),
                // A local server speaking the contract (a test's, an emulator) needs none.
                None if endpoint.starts_with("http://") => vision::Auth::None,
                None => vision::Auth::Adc,
            };
            Some(Arc::new(vision::Client::new(vision::Config::new(
                endpoint, auth,
            ))?))
        } else {
            None
        };
        Ok(Self { local, vision })
    }

    /// `grader` set up for this chain: local OCR on or off, pages left pending for Vision.
    pub fn configure(&self, grader: Grader) -> Grader {
        grader
            .with_local_ocr(self.local)
            .with_deferred_ocr(self.vision.is_some())
    }

    /// The steps, as `GABARITO_OCR` writes them (for the log).
    pub fn describe(&self) -> String {
        let steps: Vec<&str> = [
            self.local.then_some("local"),
            self.vision.as_ref().map(|_| "vision"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if steps.is_empty() {
            "none".into()
        } else {
            steps.join(",")
        }
    }
}

/// A page of a held scan: recorded form, or waiting for its text.
// Most slots are `Done`, the large variant: boxing it would allocate for nearly every page to
// save space in a vector of a few pages a scan.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Done(RecordedPage),
    Waiting(Box<GradedPage>),
    /// Taken by a [`Batch`] that has not come back.
    Out,
}

/// A scan with pages waiting for Vision, and what it is recorded under.
struct Held<T> {
    tag: T,
    ingested: Ingested,
    slots: Vec<Slot>,
}

/// What grading a scan's pages gave: all recorded forms, or some pages waiting for Vision.
pub enum ScanPages {
    /// Every page is done: record them.
    Ready(Vec<RecordedPage>),
    /// Some pages wait: hold the scan in a [`Round`].
    Waiting(WaitingPages),
}

/// The pages of a scan of which some wait for Vision.
pub struct WaitingPages(Vec<Slot>);

/// Grades every page of `bytes` as [`crate::grading::grade_pages`] does, keeping the pages
/// left pending by a grader set up with [`OcrChain::configure`] (`each` sees a page once it is
/// done: at once, or when [`finish_batch`] finishes it).
pub fn grade_pages(
    grader: &Grader,
    name: &str,
    bytes: &[u8],
    mut each: impl FnMut(&GradedPage),
) -> ScanPages {
    let mut slots = Vec::new();
    let mut waiting = 0;
    grader.grade_each_page(name, bytes, |page| {
        if page.pending.is_some() && waiting < MAX_PENDING_PER_SCAN {
            waiting += 1;
            slots.push(Slot::Waiting(Box::new(page)));
        } else {
            let page = grader.finish_with_text(page, None);
            each(&page);
            slots.push(Slot::Done(RecordedPage::of(&page)));
        }
    });
    if waiting > 0 {
        return ScanPages::Waiting(WaitingPages(slots));
    }
    ScanPages::Ready(done_pages(slots))
}

/// The pages of a scan whose every slot is done, settled as one file's.
fn done_pages(slots: Vec<Slot>) -> Vec<RecordedPage> {
    let pages = slots
        .into_iter()
        .filter_map(|s| match s {
            Slot::Done(p) => Some(p),
            Slot::Waiting(_) | Slot::Out => None,
        })
        .collect();
    crate::grading::file_pages(pages)
}

/// Where a taken page goes back: its scan (by hold number) and page slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageRef {
    scan: u64,
    slot: usize,
}

/// Up to 16 pages taken from a [`Round`] for one Vision call.
pub struct Batch {
    pages: Vec<(PageRef, Box<GradedPage>)>,
}

impl Batch {
    /// Pages in the batch.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether it holds no page.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

/// The pages of a [`Batch`], finished.
pub struct Finished {
    pages: Vec<(PageRef, RecordedPage)>,
}

/// The scans of one request or job that wait for Vision. `T` is what the caller needs to
/// report a scan once it is recorded (its name, its place in the request).
pub struct Round<T> {
    held: Vec<(u64, Held<T>)>,
    next: u64,
    waiting: usize,
}

impl<T> Default for Round<T> {
    fn default() -> Self {
        Self {
            held: Vec::new(),
            next: 0,
            waiting: 0,
        }
    }
}

/// A scan whose pages are all done: record it.
pub struct Complete<T> {
    /// What the caller held it under.
    pub tag: T,
    /// Its scan row.
    pub ingested: Ingested,
    /// Its pages.
    pub pages: Vec<RecordedPage>,
}

impl<T> Round<T> {
    /// An empty round.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages waiting (not yet taken).
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Whether no scan is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Holds a scan until its waiting pages are finished.
    pub fn hold(&mut self, tag: T, ingested: Ingested, pages: WaitingPages) {
        let waiting = pages
            .0
            .iter()
            .filter(|s| matches!(s, Slot::Waiting(_)))
            .count();
        self.waiting += waiting;
        self.held.push((
            self.next,
            Held {
                tag,
                ingested,
                slots: pages.0,
            },
        ));
        self.next += 1;
    }

    /// A full batch (16 pages) when that many wait; with `all`, whatever waits (at the end of
    /// the request or job). `None` when there is nothing to send.
    pub fn take(&mut self, all: bool) -> Option<Batch> {
        let want = vision::MAX_IMAGES_PER_REQUEST;
        if self.waiting == 0 || (!all && self.waiting < want) {
            return None;
        }
        let mut pages = Vec::with_capacity(want.min(self.waiting));
        'scans: for (id, held) in &mut self.held {
            for (i, slot) in held.slots.iter_mut().enumerate() {
                if pages.len() == want {
                    break 'scans;
                }
                if matches!(slot, Slot::Waiting(_))
                    && let Slot::Waiting(page) = std::mem::replace(slot, Slot::Out)
                {
                    pages.push((PageRef { scan: *id, slot: i }, page));
                }
            }
        }
        self.waiting -= pages.len();
        Some(Batch { pages })
    }

    /// Puts finished pages back, and gives the scans that are now complete.
    pub fn put(&mut self, finished: Finished) -> Vec<Complete<T>> {
        for (at, page) in finished.pages {
            if let Some((_, held)) = self.held.iter_mut().find(|(id, _)| *id == at.scan)
                && let Some(slot) = held.slots.get_mut(at.slot)
            {
                *slot = Slot::Done(page);
            }
        }
        let (done, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(_, h)| h.slots.iter().all(|s| matches!(s, Slot::Done(_))));
        self.held = held;
        done.into_iter()
            .map(|(_, h)| Complete {
                tag: h.tag,
                ingested: h.ingested,
                pages: done_pages(h.slots),
            })
            .collect()
    }
}

/// The crops of a batch as PNG (a few KB each), in order.
fn encode_crops(batch: &Batch) -> Vec<Vec<u8>> {
    batch
        .pages
        .iter()
        .map(|(_, page)| {
            let mut png = Vec::new();
            if let Some(p) = &page.pending {
                // Encoding a small grayscale image into memory cannot fail but for OOM; an
                // empty image is then sent and Vision reads nothing in it.
                let _ = p
                    .crop
                    .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png);
            }
            png
        })
        .collect()
}

/// Sends a batch's crops to Vision in one call (the breaker may refuse it) and returns each
/// page's text, `None` where there is none.
pub async fn read_batch(client: &vision::Client, batch: &Batch) -> Vec<Option<String>> {
    let crops = encode_crops(batch);
    let texts = client.read_texts(&crops).await;
    texts
        .into_iter()
        .map(|t| match t {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::info!(error = %e, "printed id not read by Cloud Vision: page to review");
                None
            }
        })
        .collect()
}

/// Finishes the pages of a batch with the texts read (CPU work: marks are read and scored).
/// `each` sees every finished page (to draw its annotation).
pub fn finish_batch(
    grader: &Grader,
    batch: Batch,
    texts: Vec<Option<String>>,
    mut each: impl FnMut(&GradedPage),
) -> Finished {
    let mut texts = texts.into_iter();
    let pages = batch
        .pages
        .into_iter()
        .map(|(at, page)| {
            let text = texts.next().flatten();
            let page = grader.finish_with_text(*page, text.as_deref());
            each(&page);
            (at, RecordedPage::of(&page))
        })
        .collect();
    Finished { pages }
}
