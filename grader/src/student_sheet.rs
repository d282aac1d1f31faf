//! Which answer sheet of an exam is a student's: how a person names an unidentified page by its
//! student rather than its code (`grader resolve --student`, `POST /v1/review/{item}`).

use model::SheetCode;
use store::{Store, StoreError, TenantId};

/// The answer-sheet pages of an exam registered for one student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudentSheet {
    /// The exam has no sheet for the student.
    Missing,
    /// Exactly one: the page is this sheet.
    One(SheetCode),
    /// Several (a multi-page sheet, or several copies): the person must say which by its code.
    Several(usize),
}

/// Looks up `student`'s answer sheet in `exam`.
pub async fn student_sheet(
    store: &Store,
    tenant: &TenantId,
    exam: &str,
    student: &str,
) -> Result<StudentSheet, StoreError> {
    let codes: Vec<SheetCode> = store
        .sheets(tenant, exam)
        .await?
        .into_iter()
        .filter(|s| s.student_id.as_deref() == Some(student))
        .map(|s| s.code)
        .collect();
    Ok(match codes.as_slice() {
        [] => StudentSheet::Missing,
        [only] => StudentSheet::One(*only),
        more => StudentSheet::Several(more.len()),
    })
}
