//! The question booklets of a bundle: typeset once per exam (every version in one compile),
//! then handed to the bundle writer, which draws each page once per file and overlays each
//! student's identity on it.

use std::path::{Path, PathBuf};

use model::Exam;
use render::{TypesetAnswerBox, TypesetBooklets, TypesetVersion};
use typeset::{FigureSource, TypesetError};

/// Figures named by path in an exam file, read relative to the exam file's folder (as a
/// teacher keeps an exam beside its pictures). Only plain relative paths inside that folder:
/// an exam file is not a way to read the server's files.
pub struct FiguresBeside {
    dir: PathBuf,
}

impl FiguresBeside {
    /// Figures beside the exam file at `exam_path`.
    pub fn exam_file(exam_path: &Path) -> Self {
        Self {
            dir: exam_path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        }
    }
}

impl FigureSource for FiguresBeside {
    fn figure(&self, path: &str) -> Option<Vec<u8>> {
        let relative = Path::new(path);
        let plain = relative
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !plain {
            return None;
        }
        std::fs::read(self.dir.join(relative)).ok()
    }
}

/// The booklets of `exam` for the bundle writer, or `None` for an answer-sheet-only exam.
pub fn typeset_booklets(
    exam: &Exam,
    figures: &dyn FigureSource,
) -> Result<Option<TypesetBooklets>, TypesetError> {
    if !exam.has_booklet() {
        return Ok(None);
    }
    let typeset = typeset::typeset(exam, figures)?;
    Ok(Some(TypesetBooklets {
        pdf: typeset.pdf,
        versions: typeset
            .versions
            .into_iter()
            .map(|v| TypesetVersion {
                label: v.version,
                pages: v.pages,
                answer_boxes: v
                    .open_boxes
                    .into_iter()
                    .map(|(page, open_question, rect)| TypesetAnswerBox {
                        page,
                        open_question: u32::try_from(open_question).unwrap_or(u32::MAX),
                        rect,
                    })
                    .collect(),
            })
            .collect(),
    }))
}
