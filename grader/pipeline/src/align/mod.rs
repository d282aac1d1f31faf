//! Alignment: where the page is in the image, from whatever fiducials survived, and how sure
//! that is, before any mark is read.
//!
//! 1. [`corners`]: corner-mark candidates in each image corner. When all four form the page's
//!    rectangle and the hollow (top-left) mark is clear, that is the alignment (the cheap path
//!    of almost every scan).
//! 2. [`fit`]: otherwise (a mark cut off past the image's edge, a candidate on title text, an
//!    unclear hollow mark), hypotheses from every pair of candidates, scored on the other marks,
//!    the hollow mark and the QR code's three finder patterns ([`finders`]), which also tell the
//!    rotation when the hollow mark is the one missing.
//! 3. [`refine`]: once the sheet's layout is known, the homography is refined on the printed
//!    bubble outlines (a local search of each ring, least squares) and verified independently
//!    (the share of rings found where it predicts them). An alignment that does not verify sends
//!    every question to review.

mod corners;
mod finders;
mod fit;
pub mod refine;

use image::GrayImage;
use model::outcome::ReviewReason;

use crate::directory::PageFrame;
use crate::geometry::{Homography, Pair};

pub use corners::{Component, Integral, MarkBlob, components, homography_for};
pub use refine::{Refinement, read_verified, refine};

/// Why a page cannot be aligned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlignError {
    /// Too few fiducials survived to place the page; the message says which were missing.
    #[error("not a Gabarito sheet, or cannot align: {0}")]
    NoMarks(String),
}

/// How an alignment was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitKind {
    /// Four corner marks forming the page's rectangle (the cheap path).
    FourMarks,
    /// Fewer marks, or marks helped by the QR code's finder patterns: the bubble outlines must
    /// refine and confirm it before marks are read.
    Partial,
}

/// Where the page is in the image.
#[derive(Debug, Clone)]
pub struct Alignment {
    /// Centres of the corner marks in image pixels, in layout order (top-left, top-right,
    /// bottom-right, bottom-left of the page as printed). A mark that was not found (cut off
    /// past the image's edge) is where the homography puts it, possibly outside the image.
    pub marks: [(f32, f32); 4],
    /// Which of those marks were found in the image.
    pub found: [bool; 4],
    /// Whether the QR code's three finder patterns were found and used.
    pub qr_finders: bool,
    /// The most likely frame (index into the frames given to [`align`]).
    pub frame: usize,
    /// Layout → pixels for that frame.
    pub homography: Homography,
    /// How it was fitted.
    pub kind: FitKind,
    /// The fiducials the homography was fitted on (layout point, pixel, weight): refinement
    /// keeps them, so bubbles cannot drag the page by a whole row.
    pub anchors: Vec<Pair>,
    /// Reasons to have a person look (e.g. the hollow mark was unclear).
    pub doubts: Vec<ReviewReason>,
}

/// Names of the page's corners, in layout order.
pub(crate) const PAGE_CORNERS: [&str; 4] = ["top-left", "top-right", "bottom-right", "bottom-left"];

/// Finds the page in `image`, given the frames (paper sizes) it may have.
pub fn align(image: &GrayImage, frames: &[PageFrame]) -> Result<Alignment, AlignError> {
    let first = frames
        .first()
        .ok_or_else(|| AlignError::NoMarks("no page frame to look for".into()))?;
    let (w, h) = (image.width() as f32, image.height() as f32);
    if w < 200.0 || h < 200.0 {
        return Err(AlignError::NoMarks(format!(
            "image too small ({w}×{h} pixels)"
        )));
    }
    // Pixels per point if the image is the page (scans): the long side is the page height.
    let scale = w.max(h) / first.paper.height.max(first.paper.width);
    let mark_px = first.corner_marks[0].size * scale;
    let region = (w.min(h) * 0.3).round() as u32;
    let origins = [
        (0, 0),
        (image.width() - region, 0),
        (image.width() - region, image.height() - region),
        (0, image.height() - region),
    ];
    let candidates: [Vec<MarkBlob>; 4] = std::array::from_fn(|k| {
        let corner = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)][k];
        let (x0, y0) = origins[k];
        corners::find_marks(image, x0, y0, region, mark_px, corner)
    });
    let mut fallback = None;
    if candidates.iter().all(|c| !c.is_empty()) {
        match fit::four_marks(&candidates, frames) {
            Ok((a, true)) => return Ok(a),
            Ok((a, false)) => fallback = Some(a),
            Err(_) => {}
        }
    }
    match fit::from_survivors(image, &candidates, frames, scale) {
        Ok(a) => {
            // Four clear marks whose only doubt was the hollow one: the richer fit is better
            // only when it settled the rotation.
            match fallback {
                Some(f) if !a.doubts.is_empty() && a.found.iter().filter(|&&x| x).count() < 4 => {
                    Ok(f)
                }
                _ => Ok(a),
            }
        }
        Err(e) => fallback.ok_or(e),
    }
}
