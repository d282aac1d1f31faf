//! What the render service and the grader must agree on: the exam model, the roster, the
//! sheet-id codec, the sheet geometry, the bundle manifest, the scoring rules and the result
//! statistics. Pure: no I/O, no async (the state lives in the store crate).

pub mod booklet;
pub mod bundle;
pub mod exam;
pub mod layout;
pub mod outcome;
pub mod results;
pub mod roster;
pub mod scoring;
pub mod sheet_code;

pub use bundle::{AnswerBox, Bundle, BundlePage, PageKind};
pub use exam::{Exam, ExamError, Language, Paper};
pub use layout::{PageLayout, SheetShape, layout_sheet};
pub use roster::{Student, read_roster};
pub use sheet_code::SheetCode;
