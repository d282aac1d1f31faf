//! The grader: scans in, typed outcomes out.
//!
//! Stages (each a plain function over plain data): decode → align → identify → read marks →
//! score → annotate.

pub mod report;

pub use report::{AnswerReport, IdentifiedBy, PageReport};
