//! Who a sheet code belongs to: the lookup the identification step checks every decoded code
//! against. A bundle's `bundle.json` answers locally; a database answers in production.

use std::collections::HashMap;
use std::sync::Arc;

pub use model::layout::PageFrame;
use model::layout::PageLayout;
use model::{Bundle, Exam, Paper, SheetCode};

/// Everything the grader needs to know about one identified page.
#[derive(Debug, Clone)]
pub struct SheetInfo {
    /// The page's code.
    pub code: SheetCode,
    /// The exam the page belongs to (shared: many pages point at one exam).
    pub exam: Arc<Exam>,
    /// Version label of the sheet.
    pub version: String,
    /// The roster's student id; `None` on anonymous sheets.
    pub student_id: Option<String>,
    /// Page of the answer sheet, from 1.
    pub sheet_page: u32,
    /// Geometry of the page, PDF points from its top-left corner.
    pub layout: Arc<PageLayout>,
}

/// Looks sheet codes up. Implementations must be cheap to call from many threads.
pub trait SheetDirectory: Send + Sync {
    /// The page carrying `code`, or `None` when no such page was printed.
    fn lookup(&self, code: &SheetCode) -> Option<SheetInfo>;

    /// The page frames (paper size, corner marks, QR and text-id boxes) the sheets may have:
    /// alignment needs them before the sheet is known. The default is the current layout's
    /// frames for every supported paper size.
    fn frames(&self) -> Vec<PageFrame> {
        standard_frames()
    }

    /// The layout every printed page with `frame` shares, when they all share one: it lets the
    /// marks of a page whose code cannot be read be captured anyway, so that a person only has
    /// to say whose sheet it is. `None` (the default) when pages with this frame differ.
    fn shared_layout(&self, frame: &PageFrame) -> Option<Arc<PageLayout>> {
        let _ = frame;
        None
    }
}

/// The frames of A4 and US Letter pages, as the layout draws them.
pub fn standard_frames() -> Vec<PageFrame> {
    [Paper::A4, Paper::Letter]
        .into_iter()
        .map(model::layout::page_frame)
        .collect()
}

/// The page frames of a set of page layouts, each with the layout every page of that frame
/// shares, if one: what a [`SheetDirectory`] answers for [`SheetDirectory::frames`] and
/// [`SheetDirectory::shared_layout`], whatever it indexes.
#[derive(Debug, Clone, Default)]
pub struct FrameIndex {
    frames: Vec<PageFrame>,
    /// Per frame (same order), the layout all its pages share; `None` once two differ.
    shared: Vec<Option<Arc<PageLayout>>>,
}

impl FrameIndex {
    /// Counts in one more page laid out as `layout`.
    pub fn add(&mut self, layout: &Arc<PageLayout>) {
        let frame = PageFrame::of(layout);
        match self.frames.iter().position(|f| *f == frame) {
            Some(i) => {
                if self.shared[i]
                    .as_ref()
                    .is_some_and(|l| !Arc::ptr_eq(l, layout) && **l != **layout)
                {
                    self.shared[i] = None;
                }
            }
            None => {
                self.frames.push(frame);
                self.shared.push(Some(Arc::clone(layout)));
            }
        }
    }

    /// The frames seen; the standard ones when none was.
    pub fn frames(&self) -> Vec<PageFrame> {
        if self.frames.is_empty() {
            standard_frames()
        } else {
            self.frames.clone()
        }
    }

    /// The layout every page with `frame` shares, if one.
    pub fn shared_layout(&self, frame: &PageFrame) -> Option<Arc<PageLayout>> {
        let i = self.frames.iter().position(|f| f == frame)?;
        self.shared.get(i)?.clone()
    }
}

/// A directory over one rendered bundle (`bundle.json`).
#[derive(Debug, Clone)]
pub struct BundleDirectory {
    pages: HashMap<SheetCode, SheetInfo>,
    frames: FrameIndex,
}

impl BundleDirectory {
    /// Indexes every page of `bundle`.
    pub fn new(bundle: Bundle) -> Self {
        let exam = Arc::new(bundle.exam);
        let mut frames = FrameIndex::default();
        let mut pages = HashMap::with_capacity(bundle.pages.len());
        for page in bundle.pages {
            frames.add(&page.layout);
            pages.insert(
                page.sheet_code,
                SheetInfo {
                    code: page.sheet_code,
                    exam: Arc::clone(&exam),
                    version: page.version,
                    student_id: page.student_id,
                    sheet_page: page.sheet_page,
                    layout: page.layout,
                },
            );
        }
        Self { pages, frames }
    }

    /// Pages indexed.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether the bundle has no page.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}

impl SheetDirectory for BundleDirectory {
    fn lookup(&self, code: &SheetCode) -> Option<SheetInfo> {
        self.pages.get(code).cloned()
    }

    fn frames(&self) -> Vec<PageFrame> {
        self.frames.frames()
    }

    fn shared_layout(&self, frame: &PageFrame) -> Option<Arc<PageLayout>> {
        self.frames.shared_layout(frame)
    }
}
