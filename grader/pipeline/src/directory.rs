//! Who a sheet code belongs to: the lookup the identification step checks every decoded code
//! against. A bundle's `bundle.json` answers locally; a database answers in production.

use std::collections::HashMap;
use std::sync::Arc;

pub use model::layout::PageFrame;
use model::layout::PageLayout;
use model::{AnswerBox, Bundle, Exam, PageKind, Paper, SheetCode};

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
    /// Set when the page is a booklet page (no bubbles to read, nothing to score).
    pub booklet: Option<BookletPageInfo>,
}

/// What a booklet page is: its page number and the answer boxes on it.
#[derive(Debug, Clone, PartialEq)]
pub struct BookletPageInfo {
    /// Page of the student's booklet, from 1.
    pub page: u32,
    /// The open questions' answer boxes on the page.
    pub answer_boxes: Vec<AnswerBox>,
}

impl BookletPageInfo {
    /// The booklet part of a page of kind `kind`: `None` for an answer-sheet page.
    pub fn of(kind: PageKind, page: Option<u32>, answer_boxes: Vec<AnswerBox>) -> Option<Self> {
        (kind == PageKind::Booklet).then(|| Self {
            page: page.unwrap_or(1),
            answer_boxes,
        })
    }
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
    /// Per frame (same order), the layout all its answer-sheet pages share.
    shared: Vec<Shared>,
}

/// The layout the answer-sheet pages of one frame share.
#[derive(Debug, Clone)]
enum Shared {
    /// No answer-sheet page seen yet.
    Unset,
    One(Arc<PageLayout>),
    /// Two differ.
    Many,
}

impl FrameIndex {
    /// Counts in one more page laid out as `layout`. A page with nothing to read (a booklet
    /// page) adds its frame but leaves the answer sheets' shared layout alone.
    pub fn add(&mut self, layout: &Arc<PageLayout>) {
        let frame = PageFrame::of(layout);
        let readable = !layout.bubbles.is_empty() || !layout.student_number_bubbles.is_empty();
        match self.frames.iter().position(|f| *f == frame) {
            Some(i) if readable => match &self.shared[i] {
                Shared::Unset => self.shared[i] = Shared::One(Arc::clone(layout)),
                Shared::One(l) if !Arc::ptr_eq(l, layout) && **l != **layout => {
                    self.shared[i] = Shared::Many;
                }
                _ => {}
            },
            Some(_) => {}
            None => {
                self.frames.push(frame);
                self.shared.push(if readable {
                    Shared::One(Arc::clone(layout))
                } else {
                    Shared::Unset
                });
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
        match self.shared.get(i)? {
            Shared::One(l) => Some(Arc::clone(l)),
            Shared::Unset | Shared::Many => None,
        }
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
            let booklet = BookletPageInfo::of(page.kind, page.booklet_page, page.answer_boxes);
            pages.insert(
                page.sheet_code,
                SheetInfo {
                    code: page.sheet_code,
                    exam: Arc::clone(&exam),
                    version: page.version,
                    student_id: page.student_id,
                    sheet_page: page.sheet_page,
                    layout: page.layout,
                    booklet,
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
