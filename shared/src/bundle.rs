//! `bundle.json`: what `render-service render` writes beside `bundle.pdf`, and what the grader
//! reads to know every page's identity and geometry. Field names are a contract: other tools
//! read them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exam::Exam;
use crate::layout::PageLayout;
use crate::sheet_code::SheetCode;

/// The manifest of a rendered bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bundle {
    /// The registered exam's id, when the bundle was registered in a database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exam_id: Option<String>,
    /// The geometry revision the pages were laid out with.
    pub layout_version: u32,
    /// The exam as rendered.
    pub exam: Exam,
    /// Every PDF page, in order.
    pub pages: Vec<BundlePage>,
}

/// One page of the bundle: who it belongs to and where every mark is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BundlePage {
    /// Page number in `bundle.pdf`, from 1.
    pub pdf_page: u32,
    /// The page's own code (QR payload and printed text id).
    pub sheet_code: SheetCode,
    /// The roster's `student_id`; `null` on anonymous sheets.
    pub student_id: Option<String>,
    /// The roster's name, when there is a roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_name: Option<String>,
    /// The roster's class, when there is a roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Exam version label.
    pub version: String,
    /// Page of the answer sheet, from 1.
    pub sheet_page: u32,
    /// Pages of the answer sheet.
    pub sheet_pages: u32,
    /// Geometry, PDF points from the page's top-left corner.
    #[serde(flatten)]
    pub layout: PageLayout,
}

impl Bundle {
    /// The page carrying `code`, if any.
    pub fn page_by_code(&self, code: &SheetCode) -> Option<&BundlePage> {
        self.pages.iter().find(|p| &p.sheet_code == code)
    }
}
