//! Fitting the page: four corner marks when they are all there, otherwise hypotheses from any
//! two candidates, scored on the other marks, the hollow mark and the QR finder patterns.

use std::collections::HashSet;

use image::GrayImage;
use model::outcome::ReviewReason;

use super::corners::{MarkBlob, best_frame, homography_for, shape_error};
use model::layout::{QR_MODULES, QR_QUIET_MODULES};

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
/// Score of the QR code's three finder patterns found in their L (three precise points at the
/// expected scale: more than two marks' worth, which a pair of title letters can fake).
const FINDERS_FOUND: f32 = 25.0;
/// Score lost by a reading that puts the code inside the image where no finder pattern is.
const QR_MISSING: f32 = 8.0;

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
    /// Per page corner: the candidate taken (its index in its image corner's list, and itself).
    assigned: [Option<(usize, MarkBlob)>; 4],
    h: Homography,
    score: f32,
    /// The hollow mark was seen where this hypothesis puts the page's top-left.
    hollow_seen: bool,
    finders: Option<[(f32, f32); 3]>,
}

impl Hypothesis {
    fn marks(&self) -> usize {
        self.assigned.iter().flatten().count()
    }
}

/// What every hypothesis is judged against.
struct Scene<'a> {
    candidates: &'a [Vec<MarkBlob>; 4],
    frames: &'a [PageFrame],
    /// Pixels per point if the image is the page.
    scale: f32,
    size: (f32, f32),
}

/// The alignment from whatever survived: corner marks (any two or more, or one or none beside
/// the QR code's finder patterns), the finder patterns found where a pair of marks puts the
/// code or searched for in the image's corners. Every hypothesis takes, for each page corner,
/// the candidate nearest where its fiducials put it, is refitted on them until the assignment
/// settles, and is scored on how well they agree. Fails only when too little is left, saying
/// what.
pub(crate) fn from_survivors(
    image: &GrayImage,
    candidates: &[Vec<MarkBlob>; 4],
    frames: &[PageFrame],
    scale: f32,
) -> Result<Alignment, AlignError> {
    let scene = Scene {
        candidates,
        frames,
        scale,
        size: (image.width() as f32, image.height() as f32),
    };
    let all: Vec<(usize, MarkBlob)> = candidates
        .iter()
        .enumerate()
        .flat_map(|(k, c)| c.iter().map(move |b| (k, *b)))
        .collect();
    let mut seen = HashSet::new();
    let mut hypotheses: Vec<Hypothesis> = Vec::new();
    let mut keep = |hyp: Option<Hypothesis>, hypotheses: &mut Vec<Hypothesis>| {
        if let Some(hyp) = hyp {
            let key = (
                hyp.frame,
                hyp.rot,
                hyp.assigned.map(|a| a.map(|(n, _)| n)),
                hyp.finders.is_some(),
            );
            if seen.insert(key) {
                hypotheses.push(hyp);
            }
        }
    };
    for (f, frame) in frames.iter().enumerate() {
        let centres = frame.mark_centres();
        for rot in 0..4 {
            for (i, &(ka, a)) in all.iter().enumerate() {
                for &(kb, b) in &all[i + 1..] {
                    if ka == kb {
                        continue;
                    }
                    let (ja, jb) = ((ka + 4 - rot) % 4, (kb + 4 - rot) % 4);
                    let Some(s) = Homography::similarity(
                        [f64p(centres[ja]), f64p(centres[jb])],
                        [f64p((a.x, a.y)), f64p((b.x, b.y))],
                    ) else {
                        continue;
                    };
                    let m = s.matrix();
                    let s_scale = (m[0] * m[0] + m[3] * m[3]).sqrt() as f32;
                    if !(0.8..=1.25).contains(&(s_scale / scale)) {
                        continue;
                    }
                    let from = [centres[ja], centres[jb]];
                    keep(consolidate(&scene, f, rot, s, &from, None), &mut hypotheses);
                }
            }
        }
    }
    hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
    // The QR finder patterns where the best few put the code (a crop each): they confirm the
    // page's place and rotation when the hollow mark is not there to.
    let mut with_finders = Vec::new();
    for hyp in hypotheses.iter_mut().take(6) {
        let frame = &frames[hyp.frame];
        match finders::find(image, &hyp.h, frame) {
            Some(fp) => with_finders.push(seeded(&scene, hyp.frame, fp)),
            // The code is where this reading puts it, inside the image, and not there: it
            // may be scribbled out, but a reading that puts it on plain text is likelier wrong.
            None if qr_inside(&hyp.h, frame, scene.size) => hyp.score -= QR_MISSING,
            None => {}
        }
    }
    // When no pair placed the code (one mark left, or none, or pairs all wrong), the finder
    // patterns are searched for in the image's corners, and the marks taken where they say.
    if with_finders.iter().all(Option::is_none) {
        for (f, frame) in frames.iter().enumerate() {
            let module_px = frame.qr.size / QR_MODULES as f32 * scale;
            for fp in finders::search(image, module_px).into_iter().take(3) {
                // The search's centres are rough (a box filter on the raw image): measured
                // again on an upright crop through what they imply.
                let Some(rough) = finder_affine(frame, &fp) else {
                    continue;
                };
                let fp = finders::find(image, &rough, frame).unwrap_or(fp);
                with_finders.push(seeded(&scene, f, fp));
            }
        }
    }
    for hyp in with_finders {
        keep(hyp, &mut hypotheses);
    }
    hypotheses.sort_by(|a, b| b.score.total_cmp(&a.score));
    let Some(best) = hypotheses.first().cloned() else {
        return Err(AlignError::NoMarks(too_little(candidates)));
    };
    let n_marks = best.marks();
    let frame = &frames[best.frame];
    if n_marks < 2 && best.finders.is_none() {
        return Err(AlignError::NoMarks(too_little(candidates)));
    }
    let anchors = anchors_of(&best, frame);
    let homography = fit_anchors(&anchors, frame).unwrap_or(best.h);
    let mut doubts = Vec::new();
    // Rotation: settled by the hollow mark, or by the QR finders (the code sits at the page's
    // top-right), or by which corners hold solid marks when only one rotation fits them (two
    // solid marks on one side); otherwise a person confirms, unless the code is read where
    // this rotation puts it.
    if !best.hollow_seen && best.finders.is_none() {
        let top = best
            .assigned
            .iter()
            .flatten()
            .map(|(_, m)| m.hollowness)
            .fold(0.0, f32::max);
        let runner = hypotheses
            .iter()
            .skip(1)
            .find(|x| x.frame != best.frame || x.rot != best.rot)
            .map_or(f32::MIN, |x| x.score);
        if best.score - runner < 8.0 {
            doubts.push(ReviewReason::OrientationUnclear { top, second: top });
        }
    }
    let centres = frame.mark_centres();
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

/// What to say when nothing places the page.
fn too_little(candidates: &[Vec<MarkBlob>; 4]) -> String {
    let found: Vec<&str> = (0..4)
        .filter(|&k| !candidates[k].is_empty())
        .map(|k| PAGE_CORNERS[k])
        .collect();
    if found.is_empty() {
        "no corner mark found in any corner of the image, and no QR code finder patterns".into()
    } else {
        format!(
            "fewer than two consistent corner marks (candidates only at the image's {}) and no \
             QR code finder patterns to place the page",
            found.join(", ")
        )
    }
}

/// Whether the QR code and its quiet zone lie inside the image where `h` puts them.
fn qr_inside(h: &Homography, frame: &PageFrame, (w, ht): (f32, f32)) -> bool {
    let q = &frame.qr;
    let pad = QR_QUIET_MODULES as f32 * q.size / QR_MODULES as f32;
    let (x0, y0, x1, y1) = (q.x - pad, q.y - pad, q.x + q.size + pad, q.y + q.size + pad);
    [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        .iter()
        .all(|&(x, y)| {
            let (u, v) = h.apply_f32(x, y);
            u >= 0.0 && v >= 0.0 && u < w && v < ht
        })
}

/// The affine transform putting the frame's finder patterns on `fp`.
fn finder_affine(frame: &PageFrame, fp: &[(f32, f32); 3]) -> Option<Homography> {
    let pairs: Vec<Pair> = layout_finders(frame)
        .iter()
        .zip(fp)
        .map(|(l, p)| (f64p(*l), f64p(*p), 1.0))
        .collect();
    Homography::fit_affine(&pairs)
}

/// The hypothesis the finder patterns `fp` start: their affine transform, the rotation it
/// implies, and the marks taken where it puts them.
fn seeded(scene: &Scene, f: usize, fp: [(f32, f32); 3]) -> Option<Hypothesis> {
    let frame = &scene.frames[f];
    let h = finder_affine(frame, &fp)?;
    // The image corner nearest the page's top-left mark is the rotation.
    let c = frame.mark_centres();
    let (mx, my) = h.apply_f32(c[0].0, c[0].1);
    let (cx, cy) = h.apply_f32((c[0].0 + c[2].0) / 2.0, (c[0].1 + c[2].1) / 2.0);
    let rot = match (mx > cx, my > cy) {
        (false, false) => 0,
        (true, false) => 1,
        (true, true) => 2,
        (false, true) => 3,
    };
    let from = layout_finders(frame);
    consolidate(scene, f, rot, h, &from, Some(fp))
}

/// The fiducials of a hypothesis as weighted point pairs for the fits.
fn anchors_of(hyp: &Hypothesis, frame: &PageFrame) -> Vec<Pair> {
    let centres = frame.mark_centres();
    let mut anchors: Vec<Pair> = hyp
        .assigned
        .iter()
        .enumerate()
        .filter_map(|(j, m)| m.map(|(_, m)| (f64p(centres[j]), f64p((m.x, m.y)), MARK_WEIGHT)))
        .collect();
    if let Some(fp) = hyp.finders {
        for (l, p) in layout_finders(frame).iter().zip(fp) {
            anchors.push((f64p(*l), f64p(p), FINDER_WEIGHT));
        }
    }
    anchors
}

/// The transform through a hypothesis's fiducials: exact through four or three marks, a
/// similarity through two, least squares with the finder patterns.
fn fit_hypothesis(hyp: &Hypothesis, frame: &PageFrame) -> Option<Homography> {
    let anchors = anchors_of(hyp, frame);
    if hyp.finders.is_some() {
        return fit_anchors(&anchors, frame);
    }
    match anchors.len() {
        4 => {
            let marks: [(f32, f32); 4] =
                std::array::from_fn(|j| hyp.assigned[j].map_or((0.0, 0.0), |(_, m)| (m.x, m.y)));
            homography_for(&marks, &frame.corner_marks)
        }
        3 => Homography::fit_affine(&anchors),
        2 => Homography::similarity([anchors[0].0, anchors[1].0], [anchors[0].1, anchors[1].1]),
        _ => None,
    }
}

/// Takes, for every page corner, the candidate that looks the part nearest where `h` puts its
/// mark (within a tolerance that grows with the distance from the fiducials `from` that `h`
/// came from), refits, and repeats until the assignment settles; then scores the result.
fn consolidate(
    scene: &Scene,
    f: usize,
    rot: usize,
    h: Homography,
    from: &[(f32, f32)],
    finders: Option<[(f32, f32); 3]>,
) -> Option<Hypothesis> {
    let frame = &scene.frames[f];
    let centres = frame.mark_centres();
    let mark_px = frame.corner_marks[0].size * scene.scale;
    let module_px = frame.qr.size / QR_MODULES as f32 * scene.scale;
    let mut hyp = Hypothesis {
        frame: f,
        rot,
        assigned: [None; 4],
        h,
        score: 0.0,
        hollow_seen: false,
        finders,
    };
    let mut from: Vec<(f32, f32)> = from.to_vec();
    for round in 0..4 {
        let mut assigned: [Option<(usize, MarkBlob)>; 4] = [None; 4];
        for (j, &(lx, ly)) in centres.iter().enumerate() {
            let (px, py) = hyp.h.apply_f32(lx, ly);
            let reach = from
                .iter()
                .map(|&(x, y)| (x - lx).hypot(y - ly))
                .fold(f32::MAX, f32::min);
            // Keystone and phone perspective move a corner by up to ~5% of the page from an
            // affine guess; a similarity from two marks is off by as much at the far corners.
            let tol = (8.0 + 0.07 * reach) * scene.scale;
            let k = (j + rot) % 4;
            let fits = |c: &MarkBlob| {
                let size = c.side / mark_px;
                let shaped = (0.6..=1.45).contains(&size)
                    && if j == 0 {
                        c.hollowness >= HOLLOW_MIN
                    } else {
                        c.hollowness <= SOLID_MAX
                    };
                // A finder pattern is a dark square of about a mark's size: never a mark.
                let on_finder = finders.is_some_and(|fp| {
                    fp.iter()
                        .any(|p| (p.0 - c.x).hypot(p.1 - c.y) < 4.0 * module_px)
                });
                shaped && !on_finder
            };
            assigned[j] = scene.candidates[k]
                .iter()
                .enumerate()
                .filter(|(_, c)| fits(c))
                .map(|(n, c)| (n, *c, (c.x - px).hypot(c.y - py)))
                .filter(|&(_, _, d)| d < tol)
                .min_by(|x, y| x.2.total_cmp(&y.2))
                .map(|(n, c, _)| (n, c));
        }
        let settled = round > 0
            && assigned.map(|a| a.map(|(n, _)| n)) == hyp.assigned.map(|a| a.map(|(n, _)| n));
        hyp.assigned = assigned;
        if settled {
            break;
        }
        match fit_hypothesis(&hyp, frame) {
            Some(next) => hyp.h = next,
            None if hyp.finders.is_none() => return None,
            None => {}
        }
        from = (0..4)
            .filter(|&j| hyp.assigned[j].is_some())
            .map(|j| centres[j])
            .collect();
        if let Some(_fp) = hyp.finders {
            from.extend(layout_finders(frame));
        }
        if from.is_empty() {
            return None;
        }
    }
    score(scene, &mut hyp);
    Some(hyp)
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

/// Scores one hypothesis: marks and finder patterns found and agreeing with its fit, the
/// hollow mark where the page's top-left is and nowhere else, sizes that fit the scale, and no
/// mark missing where the page puts one well inside the image.
fn score(scene: &Scene, hyp: &mut Hypothesis) {
    let frame = &scene.frames[hyp.frame];
    let centres = frame.mark_centres();
    let (w, h) = scene.size;
    let n = hyp.marks();
    let mut s = 10.0 * n as f32;
    if hyp.finders.is_some() {
        s += FINDERS_FOUND;
    }
    if n == 4 {
        let four = hyp.assigned.map(|m| {
            m.map_or(
                MarkBlob {
                    x: 0.0,
                    y: 0.0,
                    side: 1.0,
                    hollowness: 0.0,
                },
                |(_, m)| m,
            )
        });
        // Image-corner order starting anywhere is the same cycle: the shape error does not
        // depend on which is first.
        let e = shape_error(
            [&four[0], &four[1], &four[2], &four[3]],
            std::slice::from_ref(frame),
        );
        s -= 10.0 * e;
    }
    // Fiducials that disagree with the fit through all of them (points; an over-determined
    // fit only: with finders, marks beyond those an exact fit needs).
    if hyp.finders.is_some() {
        for (l, p, _) in anchors_of(hyp, frame) {
            let (u, v) = hyp.h.apply(l.0, l.1);
            let off = (u - p.0).hypot(v - p.1) / hyp.h.local_scale(l.0, l.1).max(1e-6);
            s -= 1.5 * (off as f32 - 3.0).max(0.0);
        }
    }
    let mark_px = frame.corner_marks[0].size * scene.scale;
    let mut hollow_seen = false;
    for (j, m) in hyp.assigned.iter().enumerate() {
        let Some((_, m)) = m else {
            // Where this page puts the missing mark: well inside the image means it should
            // have been found (a stain can hide one, so this only counts against).
            let (px, py) = hyp.h.apply_f32(centres[j].0, centres[j].1);
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
        let others = hyp.assigned[1..]
            .iter()
            .flatten()
            .map(|(_, m)| m.hollowness)
            .fold(0.0, f32::max);
        let top = hyp.assigned[0].map_or(0.0, |(_, m)| m.hollowness);
        hollow_seen = top - others >= HOLLOW_GAP;
    }
    hyp.hollow_seen = hollow_seen;
    hyp.score = s;
}

fn f64p(p: (f32, f32)) -> (f64, f64) {
    (f64::from(p.0), f64::from(p.1))
}
