//! Who a sheet code belongs to: the lookup the identification step checks every decoded code
//! against. A bundle's `bundle.json` answers locally; a database answers in production.

use std::collections::HashMap;
use std::sync::Arc;

use model::layout::{CornerMark, PageLayout, QrPlacement, Rect};
use model::{Bundle, Exam, Paper, SheetCode, SheetShape};

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

/// The part of a page's geometry that does not depend on the questions: what the grader needs
/// to align a page and find its identity before it knows which sheet it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageFrame {
    /// Page width in points.
    pub width: f32,
    /// Page height in points.
    pub height: f32,
    /// Registration marks: top-left (hollow), top-right, bottom-right, bottom-left.
    pub corner_marks: [CornerMark; 4],
    /// The QR code.
    pub qr: QrPlacement,
    /// The printed text id.
    pub text_id: Rect,
}

impl PageFrame {
    /// The frame of a laid-out page.
    pub fn of(layout: &PageLayout) -> Self {
        Self {
            width: layout.paper.width,
            height: layout.paper.height,
            corner_marks: layout.corner_marks,
            qr: layout.qr,
            text_id: layout.text_id,
        }
    }

    /// Centres of the corner marks, in layout order.
    pub fn mark_centres(&self) -> [(f32, f32); 4] {
        self.corner_marks.map(|m| m.center())
    }
}

/// The frames of the current layout for A4 and US Letter.
pub fn standard_frames() -> Vec<PageFrame> {
    [Paper::A4, Paper::Letter]
        .into_iter()
        .filter_map(|paper| {
            let shape = SheetShape {
                paper,
                language: model::Language::PtBr,
                choices: vec![model::exam::Choices::Count(5)],
                student_number_digits: None,
            };
            model::layout_sheet(&shape).first().map(PageFrame::of)
        })
        .collect()
}

/// A directory over one rendered bundle (`bundle.json`).
#[derive(Debug, Clone)]
pub struct BundleDirectory {
    pages: HashMap<SheetCode, SheetInfo>,
    frames: Vec<PageFrame>,
    /// Per frame (same order), the layout all its pages share, if they share one.
    shared: Vec<Option<Arc<PageLayout>>>,
}

impl BundleDirectory {
    /// Indexes every page of `bundle`.
    pub fn new(bundle: Bundle) -> Self {
        let exam = Arc::new(bundle.exam);
        let mut frames: Vec<PageFrame> = Vec::new();
        let mut shared: Vec<Option<Arc<PageLayout>>> = Vec::new();
        let mut pages = HashMap::with_capacity(bundle.pages.len());
        for page in bundle.pages {
            let frame = PageFrame::of(&page.layout);
            match frames.iter().position(|f| *f == frame) {
                Some(i) => {
                    if shared[i]
                        .as_ref()
                        .is_some_and(|l| !Arc::ptr_eq(l, &page.layout) && **l != *page.layout)
                    {
                        shared[i] = None;
                    }
                }
                None => {
                    frames.push(frame);
                    shared.push(Some(Arc::clone(&page.layout)));
                }
            }
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
        if frames.is_empty() {
            frames = standard_frames();
            shared = vec![None; frames.len()];
        }
        Self {
            pages,
            frames,
            shared,
        }
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
        self.frames.clone()
    }

    fn shared_layout(&self, frame: &PageFrame) -> Option<Arc<PageLayout>> {
        let i = self.frames.iter().position(|f| f == frame)?;
        self.shared.get(i)?.clone()
    }
}
