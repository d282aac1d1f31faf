//! What grading one scanned page produces. These field names are the `grader grade --json`
//! contract: the school platform and the tests read them.

pub use model::outcome::{IdentifiedBy, ReviewReason, Unidentified};
use model::scoring::AnswerState;
use serde::{Deserialize, Serialize};

/// One question as read from the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerReport {
    /// Question number, from 1.
    pub question: u32,
    /// Printed labels of the bubbles read as marked, e.g. `["C"]`.
    pub marked: Vec<String>,
    /// How the question was read.
    pub state: AnswerState,
}

/// The outcome for one scanned page (`--json` prints one per line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageReport {
    /// The file the page came from.
    pub file: String,
    /// Page within the file, from 1 (images have one page).
    pub page: u32,
    /// The sheet code, once identified.
    pub sheet_code: Option<String>,
    /// The student the sheet belongs to (roster sheets), once identified.
    pub student_id: Option<String>,
    /// Exam version of the sheet, once identified.
    pub version: Option<String>,
    /// Which step identified the sheet; `null` when none did.
    pub identified_by: Option<IdentifiedBy>,
    /// Every question of the page, in order.
    pub answers: Vec<AnswerReport>,
    /// Points earned (provisional while `review` is not empty).
    pub score: Option<f64>,
    /// Points available.
    pub max_score: Option<f64>,
    /// Why a person should look at this page; empty when none.
    pub review: Vec<ReviewReason>,
    /// Why the page could not be graded at all (corrupt file, bomb, not a Gabarito sheet…).
    pub error: Option<String>,
    /// Set when the page is a booklet page, not an answer sheet: nothing on it is scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booklet: Option<BookletReport>,
}

/// A scanned booklet page: which page of whose booklet, and the open questions written on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookletReport {
    /// Page of the student's booklet, from 1.
    pub booklet_page: u32,
    /// The open questions (numbers from 1) whose answer box is on this page; empty: a page
    /// with nothing to grade.
    pub open_questions: Vec<u32>,
}

impl BookletReport {
    /// The line the command line prints for the page, and the detail of the HTTP answer.
    pub fn message(&self) -> String {
        if self.open_questions.is_empty() {
            format!(
                "booklet page {}, not an answer sheet: nothing on it is graded",
                self.booklet_page
            )
        } else {
            let list: Vec<String> = self.open_questions.iter().map(u32::to_string).collect();
            format!(
                "booklet page {} with the written answer of open question {}: stored for a \
                 person to grade",
                self.booklet_page,
                list.join(", ")
            )
        }
    }
}
