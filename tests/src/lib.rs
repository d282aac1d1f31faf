//! The scan simulator shared by the end-to-end tests and the benchmarks.
//!
//! It starts from the renderer's real `bundle.pdf` ([`rasterize`]), marks bubbles as students
//! do ([`pen`]), damages pages as scanners and phones do ([`degrade`]), draws all of it from a
//! seed in realistic proportions with the ground truth kept ([`scenario`]), and judges the
//! grader's reports against that truth ([`accuracy`]). [`fixture`] builds the bundles, and
//! [`binaries`] finds the command-line programs, and [`e2e`] holds what the end-to-end tests of
//! the command lines share, and [`http`] what those of the HTTP services share.

pub mod accuracy;
pub mod binaries;
pub mod degrade;
pub mod e2e;
pub mod fixture;
pub mod http;
pub mod measure;
pub mod noise;
pub mod pen;
pub mod rasterize;
pub mod run;
pub mod scenario;

/// Why a simulation step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A file or folder could not be read or written.
    #[error("i/o: {0}")]
    Io(String),
    /// An external tool (pdftoppm, pdfinfo) is missing or failed.
    #[error("tool: {0}")]
    Tool(String),
    /// Data in an unexpected shape.
    #[error("format: {0}")]
    Format(String),
}
