//! The grader service: the one grading path that the command line, the HTTP API ([`http`]) and
//! the job worker call — store the bytes, grade them with the pipeline, record the outcome —
//! and sheet look-up in the database.

pub mod cloud_ocr;
pub mod grading;
pub mod http;
pub mod store_directory;
pub mod student_sheet;

pub use grading::{Grading, GradingError, ScanOutcome, ScanVerdict};
pub use store_directory::StoreDirectory;
