//! Fitting the page: four corner marks when they are all there, otherwise hypotheses from any
//! two candidates, scored on the other marks, the hollow mark and the QR finder patterns.

use std::collections::HashSet;

use image::GrayImage;
use model::outcome::ReviewReason;

use super::corners::{MarkBlob, best_frame, homography_for, shape_error};
use super::finders::{self, layout_finders};
use super::{AlignError, Alignment, FitKind, PAGE_CORNERS};
use crate::directory::PageFrame;
use crate::geometry::{Homography, Pair};

/// Below this [`shape_error`], four marks are taken without a second look: a skewed, scaled or
/// keystoned (≤ 8%) page stays well under it; a candidate on title text does not.
const SHAPE_OK: f32 = 0.3;
/// The hollow mark must be at least this hollow, and this much more than the runner-up.
const HOLLOW_MIN: f32 = 0.35;
const HOLLOW_GAP: f32 = 0.15;
/// A solid mark is at most this hollow.
const SOLID_MAX: f32 = 0.3;
/// Weight of a corner mark and of a finder pattern in the least-squares fits (bubbles weigh 1).
pub(crate) const MARK_WEIGHT: f64 = 8.0;
pub(crate) const FINDER_WEIGHT: f64 = 4.0;

/// The four candidates (one per image corner) that best form the page's rectangle. The flag
/// says whether the result is clean (shape and hollow mark clear) or only a fallback.
pub(crate) fn four_marks(
    candidates: &[Vec<MarkBlob>; 4],
    frames: &[PageFrame],
) -> Result<(Alignment, bool), AlignError> {
    let mut best: Option<(f32, [MarkBlob; 4])> = None;
    for (i0, a) in candidates[0].iter().enumerate() {
        for (i1, b) in candidates[1].iter().enumerate() {
            for (i2, c) in candidates[2].iter().enumerate() {
                for (i3, d) in candidates[3].iter().enumerate() {
                    let e = shape_error([a, b, c, d], frames) + 0.01 * (i0 + i1 + i2 + i3) as f32;
                    if best.as_ref().is_none_or(|(be, _)| e < *be) {
                        best = Some((e, [*a, *b, *c, *d]));
                    }
                }
            }
        }
    }
    let Some((shape, found)) = best else {
        return Err(AlignError::NoMarks("no corner marks".into()));
    };
    let mut doubts = Vec::new();
    // The hollow mark: clearly lighter in its centre than the three others.
    let mut order: Vec<usize> = (0..4).collect();
    order.sort_by(|&a, &b| found[b].hollowness.total_cmp(&found[a].hollowness));
    let (top, second) = (found[order[0]].hollowness, found[order[1]].hollowness);
    if top < HOLLOW_MIN || top - second < HOLLOW_GAP {
        doubts.push(ReviewReason::OrientationUnclear { top, second });
    }
    let k = order[0];
    let marks: [(f32, f32); 4] = std::array::from_fn(|j| {
        let b = found[(k + j) % 4];
        (b.x, b.y)
    });
    let (frame, ratio_error) = best_frame(&marks, frames);
    if ratio_error > 0.12 {
        return Err(AlignError::NoMarks(format!(
            "corner marks do not form the page's rectangle (proportions off by {:.0}%)",
            ratio_error * 100.0
        )));
    }
    let homography = homography_for(&marks, &frames[frame].corner_marks)
        .ok_or_else(|| AlignError::NoMarks("corner marks are degenerate".into()))?;
    let clean = doubts.is_empty() && shape < SHAPE_OK;
    let anchors = frames[frame]
        .mark_centres()
        .iter()
        .zip(&marks)
        .map(|(l, p)| (f64p(*l), f64p(*p), MARK_WEIGHT))
        .collect();
    Ok((
        Alignment {
            marks,
            found: [true; 4],
            qr_finders: false,
            frame,
            homography,
            kind: FitKind::FourMarks,
            anchors,
            doubts,
        },
        clean,
    ))
}

/// One way of reading the candidates: frame, rotation (the image corner holding the page's
/// top-left), and for each page corner the candidate taken, if any.
#[derive(Debug, Clone)]
struct Hypothesis {
    frame: usize,
    rot: usize,
    assigned: [Option<MarkBlob>; 4],
    h: Homography,
    score: f32,
    /// The hollow mark was seen where this hypothesis puts the page's top-left.
    hollow_seen: bool,
    finders: Option<[(f32, f32); 3]>,
}

/// The alignment from whatever survived: any two or more corner marks, helped by the QR code's
/// finder patterns. Fails only when too little is left, saying what.
pub(crate) fn from_survivors(
    image: &GrayImage,
    candidates: &[Vec<MarkBlob>; 4],
    frames: &[PageFrame],
    scale: f32,
) -> Result<Alignment, AlignError> {
    let (w, h) = (image.width() as f32, image.height() as f32);
    let all: Vec<(usize, MarkBlob)> = candidates
        .iter()
        .enumerate()
        .flat_map(|(k, c)| c.iter().map(move |b| (k, *b)))
        .collect();
    let mut seen = HashSet::new();
    let mut hypotheses: Vec<Hypothesis> = Vec::new();
    for (f, frame) in frames.iter().enumerate() {
        let centres = frame.mark_centres();
        // Marks closer than this to where a hypothesis puts them belong to it (keystone and
        // phone perspective move a corner by up to ~5% of the page from a similarity's guess).
        let tol = 0.06 * frame.paper.width.max(frame.paper.height) * scale;
        let mark_px = frame.corner_marks[0].size * scale;
        for rot in 0..4 {
            for (i, &(ka, a)) in all.iter().enumerate() {
                for &(kb, b) in &all[i + 1..] {
                    if ka == kb {
                        continue;
                    }
                    let (ja, jb) = ((ka + 4 - rot) % 4, (kb + 4 - rot) % 4);
                    let Some(s) = Homography::similarity(
                        [f64p(centres[ja]), f64p(centres[jb])],
                        [
                            (f64::from(a.x), f64::from(a.y)),
                            (f64::from(b.x), f64::from(b.y)),
                        ],
                    ) else {
                        continue;
                    };
                    let m = s.matrix();
                    let s_scale = (m[0] * m[0] + m[3] * m[3]).sqrt() as f32;
                    if !(0.8..=1.25).contains(&(s_scale / scale)) {
                        continue;
                    }
                    // Every page corner takes the candidate nearest its predicted place.
                    let mut assigned: [Option<MarkBlob>; 4] = [None; 4];
                    let mut key = vec![f as u32, rot as u32];
                    for j in 0..4 {
                        let (px, py) = s.apply_f32(centres[j].0, centres[j].1);
                        let k = (j + rot) % 4;
                        // Only a candidate that looks the part: the top-left hollow, the
                        // others solid, about a mark's size (title text is neither).
                        let fits = |c: &MarkBlob| {
                            let size = c.side / mark_px;
                            (0.6..=1.45).contains(&size)
                                && if j == 0 {
                                    c.hollowness >= HOLLOW_MIN
                                } else {
                                    c.hollowness <= SOLID_MAX
                                }
                        };
                        let near = candidates[k]
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| fits(c))
                            .map(|(n, c)| (n, ((c.x - px).powi(2) + (c.y - py).powi(2)).sqrt()))
                            .filter(|&(_, d)| d < tol)
                            .min_by(|x, y| x.1.total_cmp(&y.1));
                        if let Some((n, _)) = near {
                            assigned[j] = Some(candidates[k][n]);
                        }
                        key.push(near.map_or(u32::MAX, |(n, _)| n as u32));
                    }
                    if !seen.insert(key) {
                        continue;
                    }
                    if let Some(hyp) = score((f, rot), frame, assigned, scale, (w, h)) {
                        hypotheses.push(hyp);
                    }
                }
            }
        }
    }
    hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
    // The QR finder patterns for the best few (they cost a crop each): they confirm the page's
    // place and rotation when the hollow mark is not there to.
    for hyp in hypotheses.iter_mut().take(6) {
        if let Some(f) = finders::find(image, &hyp.h, &frames[hyp.frame]) {
            hyp.finders = Some(f);
            hyp.score += 15.0;
        }
    }
    hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
    let Some(best) = hypotheses.first().cloned() else {
        // No two candidates place a page: the QR code alone cannot place a whole page.
        let found: Vec<&str> = (0..4)
            .filter(|&k| !candidates[k].is_empty())
            .map(|k| ["top-left", "top-right", "bottom-right", "bottom-left"][k])
            .collect();
        return Err(AlignError::NoMarks(if found.is_empty() {
            "no corner mark found in any corner of the image".into()
        } else {
            format!(
                "fewer than two consistent corner marks (candidates only at the image's {})",
                found.join(", ")
            )
        }));
    };
    let n_marks = best.assigned.iter().flatten().count();
    let frame = &frames[best.frame];
    if n_marks < 2 || (n_marks == 2 && best.finders.is_none() && !best.hollow_seen) {
        let missing: Vec<&str> = (0..4)
            .filter(|&j| best.assigned[j].is_none())
            .map(|j| PAGE_CORNERS[j])
            .collect();
        return Err(AlignError::NoMarks(format!(
            "only {n_marks} corner marks found (missing: the page's {}) and no QR code finder \
             patterns to place the page",
            missing.join(", ")
        )));
    }
    let mut anchors: Vec<Pair> = Vec::new();
    let centres = frame.mark_centres();
    for (j, m) in best.assigned.iter().enumerate() {
        if let Some(m) = m {
            anchors.push((
                f64p(centres[j]),
                (f64::from(m.x), f64::from(m.y)),
                MARK_WEIGHT,
            ));
        }
    }
    if let Some(fp) = best.finders {
        for (l, p) in layout_finders(frame).iter().zip(fp) {
            anchors.push((f64p(*l), f64p(p), FINDER_WEIGHT));
        }
    }
    let homography = fit_anchors(&anchors, frame).unwrap_or(best.h);
    let mut doubts = Vec::new();
    // Rotation: settled by the hollow mark, or by the QR finders (the code sits at the page's
    // top-right); otherwise only by which corners are missing, and a person confirms.
    if !best.hollow_seen && best.finders.is_none() {
        let top = best
            .assigned
            .iter()
            .flatten()
            .map(|m| m.hollowness)
            .fold(0.0, f32::max);
        let runner = hypotheses
            .iter()
            .skip(1)
            .find(|x| x.frame != best.frame || x.rot != best.rot)
            .map_or(0.0, |x| x.score);
        if best.score - runner < 8.0 || n_marks < 3 {
            doubts.push(ReviewReason::OrientationUnclear { top, second: top });
        }
    }
    let marks = centres.map(|(x, y)| homography.apply_f32(x, y));
    let found = best.assigned.map(|m| m.is_some());
    Ok(Alignment {
        marks,
        found,
        qr_finders: best.finders.is_some(),
        frame: best.frame,
        homography,
        kind: if n_marks == 4 && best.finders.is_none() {
            FitKind::FourMarks
        } else {
            FitKind::Partial
        },
        anchors,
        doubts,
    })
}

/// The homography through the fiducials: a full homography only when they reach into every
/// quarter of the page (otherwise the perspective is extrapolated wildly), else affine.
pub(crate) fn fit_anchors(anchors: &[Pair], frame: &PageFrame) -> Option<Homography> {
    let (cx, cy) = (
        f64::from(frame.paper.width) / 2.0,
        f64::from(frame.paper.height) / 2.0,
    );
    let mut quarters = [false; 4];
    for (l, _, _) in anchors {
        quarters[usize::from(l.0 > cx) + 2 * usize::from(l.1 > cy)] = true;
    }
    if quarters.iter().all(|&q| q) && anchors.len() >= 4 {
        Homography::fit(anchors)
    } else if anchors.len() >= 3 {
        Homography::fit_affine(anchors)
    } else {
        None
    }
}

/// Scores one assignment: marks found, the hollow mark where the page's top-left is and nowhere
/// else, sizes that fit the scale, and no mark missing where the page puts one well inside the
/// image.
fn score(
    (f, rot): (usize, usize),
    frame: &PageFrame,
    assigned: [Option<MarkBlob>; 4],
    scale: f32,
    (w, h): (f32, f32),
) -> Option<Hypothesis> {
    let centres = frame.mark_centres();
    let pairs: Vec<Pair> = (0..4)
        .filter_map(|j| {
            assigned[j].map(|m| (f64p(centres[j]), (f64::from(m.x), f64::from(m.y)), 1.0))
        })
        .collect();
    let hm = match pairs.len() {
        4 => {
            let marks = std::array::from_fn(|j| assigned[j].map_or((0.0, 0.0), |m| (m.x, m.y)));
            homography_for(&marks, &frame.corner_marks)?
        }
        3 => Homography::fit_affine(&pairs)?,
        2 => Homography::similarity([pairs[0].0, pairs[1].0], [pairs[0].1, pairs[1].1])?,
        _ => return None,
    };
    let mut s = 10.0 * pairs.len() as f32;
    if pairs.len() == 4 {
        let four = assigned.map(|m| {
            m.unwrap_or(MarkBlob {
                x: 0.0,
                y: 0.0,
                side: 1.0,
                hollowness: 0.0,
            })
        });
        // Image-corner order starting anywhere is the same cycle: the shape error does not
        // depend on which is first.
        let e = shape_error(
            [&four[0], &four[1], &four[2], &four[3]],
            std::slice::from_ref(frame),
        );
        s -= 10.0 * e;
    }
    let mark_px = frame.corner_marks[0].size * scale;
    let mut hollow_seen = false;
    for (j, m) in assigned.iter().enumerate() {
        let Some(m) = m else {
            // Where this page puts the missing mark: well inside the image means it should
            // have been found (a stain can hide one, so this only counts against).
            let (px, py) = hm.apply_f32(centres[j].0, centres[j].1);
            let margin = mark_px * 1.5;
            if px > margin && py > margin && px < w - margin && py < h - margin {
                s -= 6.0;
            }
            continue;
        };
        let size = m.side / mark_px;
        if !(0.6..=1.45).contains(&size) {
            s -= 5.0;
        }
        if j == 0 {
            if m.hollowness >= HOLLOW_MIN {
                hollow_seen = true;
                s += 8.0;
            } else {
                s -= 20.0;
            }
        } else if m.hollowness > SOLID_MAX {
            s -= 10.0;
        }
    }
    if hollow_seen {
        let others = assigned[1..]
            .iter()
            .flatten()
            .map(|m| m.hollowness)
            .fold(0.0, f32::max);
        let top = assigned[0].map_or(0.0, |m| m.hollowness);
        hollow_seen = top - others >= HOLLOW_GAP;
    }
    Some(Hypothesis {
        frame: f,
        rot,
        assigned,
        h: hm,
        score: s,
        hollow_seen,
        finders: None,
    })
}

fn f64p(p: (f32, f32)) -> (f64, f64) {
    (f64::from(p.0), f64::from(p.1))
}
