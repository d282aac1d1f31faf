//! TEMPORARY: the streaming renderer's entry points (`render::render_bundle_to`,
//! `render::bundle_page_count`, branch `render-stream`) on top of the in-memory
//! `render::render_bundle_with_rng`, so that the service builds before that branch lands.
//! Remove this file when it does: the names and arguments are the same.

use std::io::Write;

use model::layout::{SheetShape, layout_sheet};
use model::{Bundle, Exam, Student};
use render::RenderError;

/// Why the shim's render failed: the renderer's own error, or writing the PDF out.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// The renderer refused or failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Writing the PDF failed (or was cancelled by the writer).
    #[error("writing the PDF: {0}")]
    Io(#[from] std::io::Error),
}

/// Renders the bundle and writes its PDF to `out`, reporting pages done of the total.
pub(crate) fn render_bundle_to<R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    rng: &mut R,
    mut out: impl Write,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Bundle, ShimError> {
    let rendered = render::render_bundle_with_rng(exam, roster, copies, rng)?;
    let total = u32::try_from(rendered.manifest.pages.len()).unwrap_or(u32::MAX);
    // Written in chunks so that a cancelling writer is consulted more than once.
    for chunk in rendered.pdf.chunks(1 << 20) {
        out.write_all(chunk)?;
    }
    out.flush()?;
    progress(total, total);
    Ok(rendered.manifest)
}

/// How many PDF pages the bundle will have, after the renderer's checks of the exam and roster.
pub fn bundle_page_count(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
) -> Result<u32, RenderError> {
    exam.validate()?;
    let sheets = match roster {
        Some([]) => return Err(RenderError::EmptyRoster),
        Some(_) if copies != 1 => return Err(RenderError::CopiesWithRoster),
        Some(students) => {
            let mut ids = std::collections::HashSet::new();
            for (index, s) in students.iter().enumerate() {
                let message = if s.student_id.trim().is_empty() {
                    Some("student_id is empty".to_string())
                } else if s.name.trim().is_empty() {
                    Some("name is empty".to_string())
                } else if let Err(m) = s.check_lengths() {
                    Some(m)
                } else if !ids.insert(s.student_id.as_str()) {
                    Some(format!("student_id {:?} appears twice", s.student_id))
                } else {
                    None
                };
                if let Some(message) = message {
                    return Err(RenderError::Roster { index, message });
                }
            }
            students.len()
        }
        None if copies == 0 => return Err(RenderError::NoCopies),
        None => copies,
    };
    let per_sheet = layout_sheet(&SheetShape::of(exam, roster.is_none())).len();
    Ok(u32::try_from(sheets.saturating_mul(per_sheet)).unwrap_or(u32::MAX))
}
