//! `bundle.json`: what `render-service render` writes beside `bundle.pdf`, and what the grader
//! reads to know every page's identity and geometry. Field names are a contract: other tools
//! read them.
//!
//! Every distinct page geometry is written once, in `layouts`, and each page names its own by
//! index (`"layout": 0`): the pages of a bundle share one or a few layouts, and writing the
//! geometry into every page made the manifest ten times the size of the PDF. Manifests written
//! before (each page carrying its geometry inline) are still read.
//!
//! A bundle with booklets lists every booklet page too (`"kind": "booklet"`, its
//! `booklet_page` number and the open questions' answer boxes on it); the pages of older
//! manifests, which have no `kind`, are answer-sheet pages. When the bundle is split into one
//! PDF per class, every page names its `pdf_file` and `pdf_page` counts within that file.
//! Duplex padding pages are blank, carry no code and are not listed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::exam::Exam;
use crate::layout::{PageLayout, Rect};
use crate::sheet_code::SheetCode;

/// What a printed page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageKind {
    /// A page of an answer sheet (bubbles to read).
    #[default]
    Sheet,
    /// A page of a question booklet (no bubbles; maybe an open question's written answer).
    Booklet,
}

impl PageKind {
    /// The name used in manifests and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PageKind::Sheet => "sheet",
            PageKind::Booklet => "booklet",
        }
    }

    /// The kind named `name` ([`PageKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sheet" => Some(PageKind::Sheet),
            "booklet" => Some(PageKind::Booklet),
            _ => None,
        }
    }
}

/// Where an open question's written answer is on a booklet page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnswerBox {
    /// The open question, from 0 in `Exam::open_questions`.
    pub open_question: u32,
    /// The ruled box, PDF points from the page's top-left corner.
    pub rect: Rect,
}

/// The manifest of a rendered bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "wire::Bundle", try_from = "wire::Bundle")]
pub struct Bundle {
    /// The registered exam's id, when the bundle was registered in a database.
    pub exam_id: Option<String>,
    /// The geometry revision the pages were laid out with.
    pub layout_version: u32,
    /// The exam as rendered.
    pub exam: Exam,
    /// Every PDF page, in order.
    pub pages: Vec<BundlePage>,
}

/// One page of the bundle: who it belongs to and where every mark is.
#[derive(Debug, Clone, PartialEq)]
pub struct BundlePage {
    /// Page number in `bundle.pdf`, from 1.
    pub pdf_page: u32,
    /// The page's own code (QR payload and printed text id).
    pub sheet_code: SheetCode,
    /// The roster's `student_id`; `null` on anonymous sheets.
    pub student_id: Option<String>,
    /// The roster's name, when there is a roster.
    pub student_name: Option<String>,
    /// The roster's class, when there is a roster.
    pub class: Option<String>,
    /// Exam version label.
    pub version: String,
    /// Page of the answer sheet, from 1 (1 on booklet pages).
    pub sheet_page: u32,
    /// Pages of the answer sheet (1 on booklet pages).
    pub sheet_pages: u32,
    /// Geometry, PDF points from the page's top-left corner; pages with the same geometry
    /// share one.
    pub layout: Arc<PageLayout>,
    /// Answer-sheet page or booklet page.
    pub kind: PageKind,
    /// Page of the student's booklet, from 1; `None` on answer-sheet pages.
    pub booklet_page: Option<u32>,
    /// The open questions' answer boxes on this booklet page (usually none).
    pub answer_boxes: Vec<AnswerBox>,
    /// The PDF file the page is in, when the bundle is split into several (`None`: the one
    /// `bundle.pdf`).
    pub pdf_file: Option<String>,
}

impl Bundle {
    /// The page carrying `code`, if any.
    pub fn page_by_code(&self, code: &SheetCode) -> Option<&BundlePage> {
        self.pages.iter().find(|p| &p.sheet_code == code)
    }
}

/// The file format, apart from the in-memory types so that layouts are written once.
mod wire {
    use std::sync::Arc;

    use serde::{Deserialize, Serialize};

    use crate::exam::Exam;
    use crate::layout::PageLayout;
    use crate::sheet_code::SheetCode;

    use super::{AnswerBox, PageKind};

    fn is_sheet(kind: &PageKind) -> bool {
        *kind == PageKind::Sheet
    }

    #[derive(Serialize, Deserialize)]
    pub struct Bundle {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exam_id: Option<String>,
        layout_version: u32,
        exam: Exam,
        /// Every distinct page geometry (absent from manifests written before).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        layouts: Vec<PageLayout>,
        pages: Vec<Page>,
    }

    #[derive(Serialize, Deserialize)]
    struct Page {
        pdf_page: u32,
        sheet_code: SheetCode,
        student_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        student_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        class: Option<String>,
        version: String,
        sheet_page: u32,
        sheet_pages: u32,
        /// Absent on answer-sheet pages (and in manifests written before booklets).
        #[serde(default, skip_serializing_if = "is_sheet")]
        kind: PageKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        booklet_page: Option<u32>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        answer_boxes: Vec<AnswerBox>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pdf_file: Option<String>,
        #[serde(flatten)]
        layout: LayoutRef,
    }

    /// A page's geometry: an index into `layouts`, or (older manifests) the geometry itself.
    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum LayoutRef {
        Shared { layout: usize },
        Inline(Box<PageLayout>),
    }

    impl From<super::Bundle> for Bundle {
        fn from(b: super::Bundle) -> Self {
            let mut layouts: Vec<Arc<PageLayout>> = Vec::new();
            let pages = b
                .pages
                .into_iter()
                .map(|p| {
                    // Pages share an Arc when the renderer made them from one layout; equal
                    // layouts built apart are merged too.
                    let index = match layouts
                        .iter()
                        .position(|l| Arc::ptr_eq(l, &p.layout) || **l == *p.layout)
                    {
                        Some(i) => i,
                        None => {
                            layouts.push(Arc::clone(&p.layout));
                            layouts.len() - 1
                        }
                    };
                    Page {
                        pdf_page: p.pdf_page,
                        sheet_code: p.sheet_code,
                        student_id: p.student_id,
                        student_name: p.student_name,
                        class: p.class,
                        version: p.version,
                        sheet_page: p.sheet_page,
                        sheet_pages: p.sheet_pages,
                        kind: p.kind,
                        booklet_page: p.booklet_page,
                        answer_boxes: p.answer_boxes,
                        pdf_file: p.pdf_file,
                        layout: LayoutRef::Shared { layout: index },
                    }
                })
                .collect();
            Bundle {
                exam_id: b.exam_id,
                layout_version: b.layout_version,
                exam: b.exam,
                layouts: layouts.into_iter().map(Arc::unwrap_or_clone).collect(),
                pages,
            }
        }
    }

    impl TryFrom<Bundle> for super::Bundle {
        type Error = String;

        fn try_from(b: Bundle) -> Result<Self, String> {
            let layouts: Vec<Arc<PageLayout>> = b.layouts.into_iter().map(Arc::new).collect();
            let pages = b
                .pages
                .into_iter()
                .map(|p| {
                    let layout = match p.layout {
                        LayoutRef::Shared { layout } => {
                            Arc::clone(layouts.get(layout).ok_or_else(|| {
                                format!(
                                    "page {} names layout {layout}, but the bundle has {}",
                                    p.pdf_page,
                                    layouts.len()
                                )
                            })?)
                        }
                        LayoutRef::Inline(l) => Arc::new(*l),
                    };
                    Ok(super::BundlePage {
                        pdf_page: p.pdf_page,
                        sheet_code: p.sheet_code,
                        student_id: p.student_id,
                        student_name: p.student_name,
                        class: p.class,
                        version: p.version,
                        sheet_page: p.sheet_page,
                        sheet_pages: p.sheet_pages,
                        layout,
                        kind: p.kind,
                        booklet_page: p.booklet_page,
                        answer_boxes: p.answer_boxes,
                        pdf_file: p.pdf_file,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(super::Bundle {
                exam_id: b.exam_id,
                layout_version: b.layout_version,
                exam: b.exam,
                pages,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{SheetShape, layout_sheet};

    fn bundle(pages: usize) -> Bundle {
        let exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"A"},{"key":"B"}]}"#)
            .expect("exam");
        let layout = Arc::new(layout_sheet(&SheetShape::of(&exam, false)).remove(0));
        Bundle {
            exam_id: Some("ex-1".into()),
            layout_version: crate::layout::LAYOUT_VERSION,
            pages: (0..pages)
                .map(|i| BundlePage {
                    pdf_page: i as u32 + 1,
                    sheet_code: SheetCode::random(),
                    student_id: Some(format!("s{i}")),
                    student_name: Some(format!("Aluno {i}")),
                    class: None,
                    version: exam.versions[0].clone(),
                    sheet_page: 1,
                    sheet_pages: 1,
                    // Equal but not shared: the writer merges them all the same.
                    layout: if i == 2 {
                        Arc::new((*layout).clone())
                    } else {
                        Arc::clone(&layout)
                    },
                    kind: PageKind::Sheet,
                    booklet_page: None,
                    answer_boxes: Vec::new(),
                    pdf_file: None,
                })
                .collect(),
            exam,
        }
    }

    #[test]
    fn each_layout_is_written_once_and_read_back_shared() {
        let b = bundle(3);
        let json = serde_json::to_value(&b).expect("serialises");
        assert_eq!(json["layouts"].as_array().map(Vec::len), Some(1));
        assert_eq!(json["pages"][2]["layout"], 0);
        assert!(json["pages"][0].get("bubbles").is_none());
        let back: Bundle = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, b);
        assert!(Arc::ptr_eq(&back.pages[0].layout, &back.pages[2].layout));
    }

    #[test]
    fn manifests_with_the_layout_inline_in_every_page_are_still_read() {
        let b = bundle(2);
        let mut json = serde_json::to_value(&b).expect("serialises");
        let layout = json["layouts"][0].clone();
        json.as_object_mut().expect("object").remove("layouts");
        for page in json["pages"].as_array_mut().expect("pages") {
            let page = page.as_object_mut().expect("page");
            page.remove("layout");
            for (k, v) in layout.as_object().expect("layout") {
                page.insert(k.clone(), v.clone());
            }
        }
        let old: Bundle = serde_json::from_value(json).expect("old format reads");
        assert_eq!(old, b);
    }

    #[test]
    fn booklet_pages_and_split_files_round_trip_and_sheet_pages_stay_as_before() {
        let mut b = bundle(2);
        let sheet_json = serde_json::to_value(&b).expect("serialises");
        assert!(sheet_json["pages"][0].get("kind").is_none());
        assert!(sheet_json["pages"][0].get("pdf_file").is_none());
        b.pages[0].kind = PageKind::Booklet;
        b.pages[0].booklet_page = Some(3);
        b.pages[0].answer_boxes = vec![AnswerBox {
            open_question: 1,
            rect: Rect {
                x: 40.0,
                y: 300.0,
                width: 500.0,
                height: 200.0,
            },
        }];
        for p in &mut b.pages {
            p.pdf_file = Some("bundle-3A.pdf".into());
        }
        let json = serde_json::to_value(&b).expect("serialises");
        assert_eq!(json["pages"][0]["kind"], "booklet");
        assert_eq!(json["pages"][0]["booklet_page"], 3);
        assert_eq!(json["pages"][0]["answer_boxes"][0]["open_question"], 1);
        assert_eq!(json["pages"][1]["pdf_file"], "bundle-3A.pdf");
        let back: Bundle = serde_json::from_value(json).expect("reads back");
        assert_eq!(back, b);
    }

    #[test]
    fn a_page_naming_a_missing_layout_is_refused() {
        let mut json = serde_json::to_value(bundle(1)).expect("serialises");
        json["pages"][0]["layout"] = 7.into();
        let err = serde_json::from_value::<Bundle>(json).expect_err("refused");
        assert!(err.to_string().contains("names layout 7"), "{err}");
    }
}
