//! What the render service and the grader must agree on: the exam model, the roster, the
//! sheet-id codec, the sheet geometry, the bundle manifest and the scoring rules; and the
//! state both services meet in: the database and object storage ([`store`]).

pub mod bundle;
#[cfg(feature = "cli")]
pub mod cli;
pub mod exam;
pub mod layout;
pub mod roster;
pub mod scoring;
pub mod sheet_code;
pub mod store;

pub use bundle::{Bundle, BundlePage};
pub use exam::{Exam, ExamError, Language, Paper};
pub use layout::{PageLayout, SheetShape, layout_sheet};
pub use roster::{Student, read_roster};
pub use sheet_code::SheetCode;
