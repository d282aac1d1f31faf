//! The grader: scans in, typed outcomes out.
//!
//! Stages (each a plain function over plain data, one module each): [`decode`] → [`align`] →
//! [`identify`] → [`marks`] → score (`model::scoring`) → [`annotate`]. [`grade`] strings them
//! together for one file; [`Grader`] is the entry point.

pub mod align;
pub mod annotate;
pub mod decode;
pub mod directory;
pub mod geometry;
pub mod grade;
mod guard;
pub mod identify;
pub mod marks;
pub mod ocr;
pub mod pixels;
pub mod report;

pub use annotate::annotate;
pub use decode::Limits;
pub use directory::{
    BookletPageInfo, BundleDirectory, FrameIndex, PageFrame, SheetDirectory, SheetInfo,
};
pub use grade::{GradedPage, Grader, PageScan, PendingId};
pub use identify::TextIdReader;
pub use report::{AnswerReport, BookletReport, IdentifiedBy, PageReport};
