//! Mark reading: a fill measure per bubble, thresholds adapted to the sheet, and a state per
//! question. An ambiguous question is `uncertain`, never guessed.
//!
//! Fill of a bubble = mean darkness inside 0.7 of its radius (the printed outline stays
//! outside), where darkness runs from 0 at the paper around the bubble to 1 at the printed black
//! of the corner marks. The thresholds follow the sheet's own empty-bubble level (the faint
//! printed letter makes an empty bubble some 15–23% dark over its whole disc) and the spread of
//! its empty bubbles; the filled level is measured for reports only and sets no threshold.

use image::GrayImage;
use model::layout::PageLayout;
use model::outcome::ReviewReason;
use model::scoring::{AnswerState, ReadAnswer};

use crate::geometry::Homography;

/// One question as read.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionReading {
    /// Question number, from 1.
    pub question: u32,
    /// Indices of the bubbles read as marked (for `uncertain`: the likeliest ones).
    pub marked: Vec<u8>,
    /// Their printed labels.
    pub marked_labels: Vec<String>,
    /// The question's state.
    pub state: AnswerState,
    /// Fill measure of every bubble, in choice order (0 = empty paper, 1 = solid ink).
    pub fills: Vec<f32>,
    /// Peak darkness of every bubble, in choice order: the mean darkness of its darkest
    /// quarter, which strokes of ink raise far more than a smooth smudge of the same mean.
    pub peaks: Vec<f32>,
    /// Texture of every bubble, in choice order: the mean darkness step between neighbouring
    /// pixels, which pen and pencil strokes (edges, graphite grain) raise and a smooth smear
    /// does not.
    pub textures: Vec<f32>,
    /// Halo of every bubble, in choice order: the darkness of a ring just outside its printed
    /// outline, where an eraser drags graphite and a fill rarely reaches.
    pub halos: Vec<f32>,
}

/// Every question of a page as read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MarkReading {
    /// Questions in layout order.
    pub questions: Vec<QuestionReading>,
    /// Fill level of an empty bubble on this sheet.
    pub empty_level: f32,
    /// Peak darkness of an empty bubble on this sheet (the printed letter's strokes).
    pub empty_peak: f32,
    /// Texture of an empty bubble on this sheet (see [`Look::texture`]).
    pub empty_texture: f32,
    /// Halo of an empty bubble on this sheet (see [`Look::halo`]).
    pub empty_halo: f32,
    /// Robust standard deviation of this sheet's empty bubbles' fills: its noise.
    pub empty_sigma: f32,
    /// Fill level of a marked bubble on this sheet, for reports (no threshold depends on it).
    pub filled_level: f32,
    /// At or above: marked.
    pub marked_threshold: f32,
    /// Below: empty. In between: uncertain.
    pub empty_threshold: f32,
    /// Share of bubbles whose printed outline is found where the homography puts it: near 1
    /// when the page is aligned; low values mean the geometry is wrong and nothing read here can
    /// be trusted.
    pub grid_fit: f32,
    /// The student-number grid of an anonymous sheet, when the page has one.
    pub student_number: Option<StudentNumberReading>,
    /// Sheet-level reasons for review.
    pub doubts: Vec<ReviewReason>,
}

impl MarkReading {
    /// The answers as scoring and the store take them (choice indices and states).
    pub fn answers(&self) -> Vec<ReadAnswer> {
        self.questions
            .iter()
            .map(|q| ReadAnswer {
                question: q.question,
                marked: q.marked.clone(),
                state: q.state,
            })
            .collect()
    }
}

/// The student-number grid as read: one column of ten bubbles per digit, each read like a
/// question whose choices are 0–9.
#[derive(Debug, Clone, PartialEq)]
pub struct StudentNumberReading {
    /// The number, when every column holds exactly one clear mark; `None` otherwise.
    pub value: Option<String>,
    /// Each column, leftmost digit first (`question` is the digit's position, from 1).
    pub digits: Vec<QuestionReading>,
}

impl StudentNumberReading {
    /// Positions (from 1) of the digits that are blank, doubly marked or uncertain.
    pub fn unclear_digits(&self) -> Vec<u32> {
        self.digits
            .iter()
            .filter(|d| d.state != AnswerState::Answered)
            .map(|d| d.question)
            .collect()
    }
}

/// Below this [`MarkReading::grid_fit`], every question is made uncertain.
pub const MIN_GRID_FIT: f32 = 0.6;

/// A bubble at least this much darker than the sheet's empty level is marked. Measured on the
/// simulator's pens and pencils (darkness added over the empty level): the weakest real marks
/// (a pencil cross, light pencil, a tick) add 0.11–0.16, erasure residue at most 0.10, an
/// untouched bubble under noise at most 0.08; pen fills add ~0.6.
const MARKED_GAP: f32 = 0.135;
/// A bubble less than this much darker than the empty level is empty; in between, uncertain.
const EMPTY_GAP: f32 = 0.10;
/// Noise widens the uncertain band: the empty threshold is at least this many robust standard
/// deviations of the empty bubbles above their level.
const EMPTY_SIGMAS: f32 = 5.0;
/// A second mark in a question is only trusted as a second answer when it adds at least this
/// much darkness over the empty level, or at least [`FAINT_SECOND_RATIO`] of the darker mark's:
/// an erasure gone over three times beside a pencil answer adds 0.19 (against the answer's
/// 0.45), as much as a light tick. Fainter second marks make the question `uncertain`.
const ERASURE_REACH: f32 = 0.22;
/// See [`ERASURE_REACH`]: two marks in one ink (two fills, two ticks) stay above 0.6.
const FAINT_SECOND_RATIO: f32 = 0.5;
/// Darkness over the empty level beyond which no erasure residue goes: an eraser leaves a
/// smear 8–20% darker than the paper (issue 10), 0.19 at most over the empty level measured
/// on the harsh simulated set; light pencil starts at 0.16, a pencil fill at 0.3.
const RESIDUE_MAX: f32 = 0.2;
/// A smooth bubble (no strokes) less than this much darker than the empty level is read empty:
/// residue or a smudge. The lightest pencil mark seen adds 0.164.
const CLEAR_RESIDUE: f32 = 0.15;
/// A bubble whose darkest quarter is at least this much darker than an empty bubble's holds
/// strokes of ink (a tick, a cross, a partial fill: 0.26 and up), which no smear has (0.19 at
/// most).
const STROKE_PEAK: f32 = 0.24;
/// And whose darkest quarter stands at least this much above its mean: ink concentrated in
/// strokes (a cross of fill 0.14 has a peak of 0.29), not spread as a smear is (residue over
/// the printed letter raises both alike).
const STROKE_CONTRAST: f32 = 0.12;
/// A bubble whose texture (see [`Look::texture`]) stands this far above an empty bubble's, in
/// quadrature, holds strokes. Measured on the simulated sets (`bubble_features` example): the
/// smooth inks (residue, light pencil, erasures, empty bubbles) stay below 0.04 under every
/// degradation, thin crosses start at 0.048, ticks at 0.073, partial fills of separate strokes
/// at 0.06.
const STROKE_TEXTURE: f32 = 0.045;
/// A smooth bubble whose halo (see [`Look::halo`]) is this much darker than an empty bubble's
/// has been smeared past its outline: light pencil stays within 0.012 of the empty halo in 99
/// cases of 100, erasure residue reaches 0.08.
const HALO_RESIDUE: f32 = 0.03;
/// Up to this darkness over the empty level a smooth bubble that spreads past its outline may
/// be residue: a pencil fill starts at 0.31.
const SPREAD_RESIDUE_MAX: f32 = 0.26;
/// A sheet whose marks add less than this (the median marked question) is marked by a light
/// hand: its smooth marks between [`CLEAR_RESIDUE`] and [`RESIDUE_MAX`] are marks, not doubts
/// (such a hand's residue is lighter still).
const LIGHT_HAND: f32 = 0.3;
/// A sheet whose smooth marks add at least this (the median marked question) is marked in pen
/// (pen fills add 0.64–0.84, pencil fills 0.31–0.57 on the simulated sets).
const PEN_HAND: f32 = 0.6;
/// On a pen sheet, a smooth bubble less than this much darker than the empty level is not a
/// mark of the sheet's hand (its partial fills carry strokes, its fills are far darker): it
/// goes to review. Erasure residue of a pencil draft has been measured at 0.203 on a pen
/// sheet (harsh CI seed), past [`RESIDUE_MAX`].
const PEN_SHEET_RESIDUE_MAX: f32 = 0.3;
/// A smooth bubble must clear residue's range by this many robust standard deviations of the
/// sheet's empty bubbles before it is a confident mark: the noise of a photocopy or a phone
/// photo spreads residue past its range as much as it spreads the empty bubbles (harsh set,
/// seed `0x4A252026`: residue at 0.206 over the empty level on noisy pages, against 0.2 on
/// clean ones).
const RESIDUE_MARGIN_SIGMAS: f32 = 2.5;
/// The margin of [`RESIDUE_MARGIN_SIGMAS`] is capped here: past it the page is too noisy for
/// its spread to say anything about residue, and the empty threshold has already risen.
const RESIDUE_MARGIN_MAX: f32 = 0.05;
/// Marked questions needed before a sheet's mark level is trusted.
const MIN_MARKS_FOR_LEVEL: usize = 8;
/// Filled level assumed when a sheet has too few clear marks to measure its own.
const DEFAULT_FILLED: f32 = 0.85;

/// Reads every bubble of `layout` from `image` through `h` (layout points → pixels).
pub fn read_marks(image: &GrayImage, h: &Homography, layout: &PageLayout) -> MarkReading {
    let ink = ink_level(image, h, layout);
    let looks: Vec<Look> = layout
        .bubbles
        .iter()
        .map(|b| bubble_look(image, h, b.x, b.y, b.r, ink))
        .collect();
    let fills: Vec<f32> = looks.iter().map(|l| l.fill).collect();
    let peaks: Vec<f32> = looks.iter().map(|l| l.peak).collect();
    let baseline = |v: Vec<f32>| {
        let mut v = v;
        v.sort_by(f32::total_cmp);
        percentile(&v, 0.3)
    };
    let empty_texture = baseline(looks.iter().map(|l| l.texture).collect());
    let empty_halo = baseline(looks.iter().map(|l| l.halo).collect());
    // Group bubbles by question, keeping layout order.
    let mut groups: Vec<(u32, Vec<usize>)> = Vec::new();
    for (i, b) in layout.bubbles.iter().enumerate() {
        match groups.last_mut() {
            Some((q, idx)) if *q == b.question => idx.push(i),
            _ => groups.push((b.question, vec![i])),
        }
    }
    let mut sorted = fills.clone();
    sorted.sort_by(f32::total_cmp);
    let empty = percentile(&sorted, 0.3);
    let mut sorted_peaks = peaks.clone();
    sorted_peaks.sort_by(f32::total_cmp);
    let empty_peak = percentile(&sorted_peaks, 0.3);
    // Filled level: the typical top fill of the questions that are clearly marked.
    let mut tops: Vec<f32> = groups
        .iter()
        .map(|(_, idx)| idx.iter().map(|&i| fills[i]).fold(0.0, f32::max))
        .filter(|&t| t > empty + 0.35)
        .collect();
    tops.sort_by(f32::total_cmp);
    let filled = if tops.len() >= 3 {
        percentile(&tops, 0.5).max(empty + 0.3)
    } else {
        DEFAULT_FILLED.max(empty + 0.3)
    };
    // Robust spread of the empty bubbles (those below the 60th percentile).
    let lower = &sorted[..(sorted.len() * 6 / 10).max(1).min(sorted.len())];
    let mut dev: Vec<f32> = lower.iter().map(|f| (f - empty).abs()).collect();
    dev.sort_by(f32::total_cmp);
    let sigma = 1.4826 * percentile(&dev, 0.5);
    let empty_threshold = empty + EMPTY_GAP.max(EMPTY_SIGMAS * sigma);
    let marked_threshold = (empty + MARKED_GAP).max(empty_threshold + 0.03);
    let mut doubts = Vec::new();
    if empty > 0.4 {
        doubts.push(ReviewReason::PageTooDark { empty_level: empty });
    }
    let grid_fit = grid_fit(image, h, layout, ink);
    let misaligned = grid_fit < MIN_GRID_FIT;
    if misaligned {
        doubts.push(ReviewReason::AlignmentUnverified {
            outlines_found: grid_fit,
        });
    }
    let mut levels = Levels {
        empty_level: empty,
        empty_peak,
        empty_texture,
        empty_halo,
        empty_sigma: sigma,
        marked_threshold,
        empty_threshold,
        mark_level: None,
    };
    // How dark this hand's smooth marks are (fills, not ticks or crosses): the darkest bubble
    // of each marked question, when it holds no strokes.
    let mut marked_tops: Vec<f32> = groups
        .iter()
        .filter_map(|(_, idx)| {
            idx.iter()
                .copied()
                .max_by(|&a, &b| fills[a].total_cmp(&fills[b]))
        })
        .filter(|&i| fills[i] >= marked_threshold)
        .filter(|&i| !has_strokes(&looks[i], &levels))
        .map(|i| fills[i] - empty)
        .collect();
    marked_tops.sort_by(f32::total_cmp);
    levels.mark_level =
        (marked_tops.len() >= MIN_MARKS_FOR_LEVEL).then(|| percentile(&marked_tops, 0.5));
    let student_number = read_student_number(image, h, layout, ink, levels, misaligned);
    let questions = groups
        .iter()
        .map(|(q, idx)| {
            let l: Vec<Look> = idx.iter().map(|&i| looks[i]).collect();
            let labels: Vec<&str> = idx
                .iter()
                .map(|&i| layout.bubbles[i].choice.as_str())
                .collect();
            let mut r = classify(*q, &l, &labels, &levels);
            if misaligned {
                r.state = AnswerState::Uncertain;
            }
            r
        })
        .collect();
    MarkReading {
        questions,
        empty_level: empty,
        empty_peak,
        empty_texture,
        empty_halo,
        empty_sigma: sigma,
        filled_level: filled,
        marked_threshold,
        empty_threshold,
        grid_fit,
        student_number,
        doubts,
    }
}

/// A sheet's levels, as [`classify`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct Levels {
    /// Fill of an empty bubble.
    pub empty_level: f32,
    /// Peak darkness of an empty bubble.
    pub empty_peak: f32,
    /// Texture of an empty bubble (the printed letter's edges and the scanner's noise).
    pub empty_texture: f32,
    /// Halo of an empty bubble.
    pub empty_halo: f32,
    /// Robust standard deviation of the empty bubbles' fills: the page's noise.
    pub empty_sigma: f32,
    /// At or above: marked.
    pub marked_threshold: f32,
    /// Below: empty; in between: uncertain.
    pub empty_threshold: f32,
    /// The typical darkness this sheet's marks add over the empty level (the median of each
    /// marked question's darkest bubble), when the sheet has enough marks to tell.
    pub mark_level: Option<f32>,
}

impl Levels {
    /// Whether this sheet is marked in pen: its smooth marks are at least [`PEN_HAND`] dark.
    pub fn pen_hand(&self) -> bool {
        self.mark_level.is_some_and(|m| m >= PEN_HAND)
    }
}

/// Reads the student-number grid with the thresholds of the sheet's answer bubbles (the grid's
/// bubbles are printed the same way). A number is only given when every digit is clear.
fn read_student_number(
    image: &GrayImage,
    h: &Homography,
    layout: &PageLayout,
    ink: f32,
    levels: Levels,
    misaligned: bool,
) -> Option<StudentNumberReading> {
    const LABELS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    if layout.student_number_bubbles.is_empty() {
        return None;
    }
    let columns = layout
        .student_number_bubbles
        .iter()
        .map(|b| b.digit)
        .max()
        .unwrap_or(0);
    let digits: Vec<QuestionReading> = (1..=columns)
        .map(|digit| {
            let mut looks = [Look::default(); 10];
            for b in layout
                .student_number_bubbles
                .iter()
                .filter(|b| b.digit == digit)
            {
                let v = b.value as usize;
                if v < looks.len() {
                    looks[v] = bubble_look(image, h, b.x, b.y, b.r, ink);
                }
            }
            let mut r = classify(digit, &looks, &LABELS, &levels);
            if misaligned {
                r.state = AnswerState::Uncertain;
            }
            r
        })
        .collect();
    let value = digits
        .iter()
        .all(|d| d.state == AnswerState::Answered)
        .then(|| digits.iter().map(|d| d.marked_labels.concat()).collect());
    Some(StudentNumberReading { value, digits })
}

/// Share of bubbles whose outline is darker than the paper just outside it, sampled through
/// `h` (a misaligned page puts the samples off the printed rings).
fn grid_fit(image: &GrayImage, h: &Homography, layout: &PageLayout, ink: f32) -> f32 {
    if layout.bubbles.is_empty() {
        return 1.0;
    }
    const ANGLES: usize = 12;
    let ring_mean = |x: f32, y: f32, r: f32| {
        let mut acc = 0.0f32;
        for k in 0..ANGLES {
            let a = k as f32 * std::f32::consts::TAU / ANGLES as f32;
            let (px, py) = h.apply_f32(x + r * a.cos(), y + r * a.sin());
            acc += f32::from(crate::pixels::bilinear(image, px - 0.5, py - 0.5));
        }
        acc / ANGLES as f32
    };
    let mut ok = 0usize;
    for b in &layout.bubbles {
        let outside = ring_mean(b.x, b.y, b.r + 2.2);
        let ring = [b.r - 0.6, b.r, b.r + 0.6]
            .into_iter()
            .map(|r| ring_mean(b.x, b.y, r))
            .fold(f32::MAX, f32::min);
        let span = (outside - ink).max(20.0);
        if (outside - ring) / span > 0.1 {
            ok += 1;
        }
    }
    ok as f32 / layout.bubbles.len() as f32
}

/// What one bubble holds, judged alone against the sheet's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bubble {
    /// Nothing, or what an eraser leaves.
    Empty,
    /// A mark.
    Mark,
    /// Neither clearly: a person looks.
    Doubt,
    /// A smooth smear in erasure residue's range (or spread past the outline as an eraser
    /// drags it): residue, or a light mark. Alone in its question a person decides; beside a
    /// firm answer far darker than it, it is what the student rubbed out.
    Smear,
}

/// Judges one bubble from its fill and peak darkness.
///
/// Erasure residue is a smooth smear (graphite rubbed into the paper, no strokes) that stays
/// below about 0.2 over the empty level; ticks, crosses and partial fills carry strokes of
/// ink, which raise the bubble's darkest quarter far above its mean. So a bubble with strokes
/// is read on its fill alone (as before), while a smooth one is only a mark when it is darker
/// than residue gets, or when this sheet's own marks are that light (a light hand leaves
/// lighter residue still); below [`CLEAR_RESIDUE`] a smooth bubble is empty, and in between
/// it is a [`Bubble::Smear`], which [`classify`] settles only beside a far darker answer.
fn judge_bubble(look: &Look, levels: &Levels) -> Bubble {
    let fill = look.fill;
    if fill < levels.empty_threshold {
        return Bubble::Empty;
    }
    let above = fill - levels.empty_level;
    let strokes = has_strokes(look, levels);
    // On a sheet marked in pen, a smooth grey disc is no mark of this hand: pen ink is dark,
    // so what is grey is a pencil draft rubbed out (or a smudge), however dark the eraser left
    // it. On a pencil sheet a lighter pencil mark is this hand's, and only residue's own range
    // is in doubt.
    let residue_max = if levels.pen_hand() {
        PEN_SHEET_RESIDUE_MAX
    } else {
        RESIDUE_MAX
    } + (RESIDUE_MARGIN_SIGMAS * levels.empty_sigma)
        .clamp(0.0, RESIDUE_MARGIN_MAX);
    if strokes || above >= residue_max {
        // A smooth smear that spreads past the printed outline is what an eraser drags about
        // (no fill of ink or graphite reaches that far evenly); as dark as light pencil, a
        // person decides.
        let spreads = !strokes && above < SPREAD_RESIDUE_MAX && spreads_past_outline(look, levels);
        return if spreads {
            Bubble::Smear
        } else if fill >= levels.marked_threshold {
            Bubble::Mark
        } else {
            Bubble::Doubt
        };
    }
    // A light hand's residue is lighter still (it had less graphite to leave), and its own
    // marks can be lighter than the fixed cutoff: half the hand's mark level is then where
    // residue ends (harsh set: light pencil at 0.14 on a sheet whose marks add 0.19).
    let clear_residue = match levels.mark_level {
        Some(m) if m < LIGHT_HAND => CLEAR_RESIDUE.min(m / 2.0),
        _ => CLEAR_RESIDUE,
    };
    if above < clear_residue {
        // Only a bubble darkened evenly is residue: a faint pencil cross or tick (strokes too
        // light to pass for ink) stays in the old uncertain band.
        let even = look.peak - levels.empty_peak - above < STROKE_CONTRAST / 2.0
            && texture_above(look, levels) < STROKE_TEXTURE / 2.0;
        return if even { Bubble::Empty } else { Bubble::Doubt };
    }
    match levels.mark_level {
        Some(m) if m < LIGHT_HAND && fill >= levels.marked_threshold => Bubble::Mark,
        _ => Bubble::Smear,
    }
}

/// Whether a bubble's halo is darker than an empty bubble's by what an eraser drags past the
/// printed outline (light pencil stays inside it).
fn spreads_past_outline(look: &Look, levels: &Levels) -> bool {
    look.halo - levels.empty_halo >= HALO_RESIDUE
}

/// Whether a bubble holds strokes of ink, by either sign of them: its darkest quarter stands
/// well above its mean (ink concentrated in lines; a smear over the printed letter darkens
/// that quarter too, but no more than the rest), or its texture stands well above an empty
/// bubble's (the edges of pen and pencil lines; a smear is smooth at the scale of pixels).
fn has_strokes(look: &Look, levels: &Levels) -> bool {
    let above = look.fill - levels.empty_level;
    let peak_above = look.peak - levels.empty_peak;
    (peak_above >= STROKE_PEAK && peak_above - above >= STROKE_CONTRAST)
        || texture_above(look, levels) >= STROKE_TEXTURE
}

/// The texture a bubble has beyond an empty one's. The scanner's noise and the printed
/// letter's edges are in every bubble and add to the strokes' in quadrature, not linearly, so
/// a noisy scan neither hides strokes nor invents them.
fn texture_above(look: &Look, levels: &Levels) -> f32 {
    (look.texture.powi(2) - levels.empty_texture.powi(2))
        .max(0.0)
        .sqrt()
}

/// One question's state from its fills: every bubble must be clearly marked or clearly empty,
/// and several marks must be alike, otherwise the question is uncertain.
pub fn classify(
    question: u32,
    bubbles: &[Look],
    labels: &[&str],
    levels: &Levels,
) -> QuestionReading {
    let fills: Vec<f32> = bubbles.iter().map(|b| b.fill).collect();
    let Levels {
        empty_level,
        empty_threshold,
        ..
    } = *levels;
    let looks: Vec<Bubble> = (0..fills.len())
        .map(|i| judge_bubble(&bubbles[i], levels))
        .collect();
    let marked: Vec<u8> = (0..fills.len())
        .filter(|&i| looks[i] == Bubble::Mark)
        .map(|i| i as u8)
        .collect();
    let above = |i: &u8| fills[usize::from(*i)] - empty_level;
    let strongest = marked.iter().map(above).fold(0.0f32, f32::max);
    // A smooth smear beside one firm answer at least twice as dark is the answer the student
    // rubbed out to give this one (issue 10: "a firm answer beside a faint erasure is read as
    // that answer") when it can be nothing else: on a pen sheet (a grey disc is no pen mark:
    // it is a pencil draft rubbed out), or when it spreads past the printed outline as only an
    // eraser drags graphite. On a pencil sheet a smooth grey disc that stays inside is as
    // likely a second answer in lighter pencil (harsh set: light pencil at 0.21 beside a fill
    // at 0.49, a double mark), and a person decides, as for a smear alone.
    let rubbed_out = |i: usize| {
        looks[i] == Bubble::Smear
            && marked.len() == 1
            && fills[i] - empty_level <= FAINT_SECOND_RATIO * strongest
            && (levels.pen_hand() || spreads_past_outline(&bubbles[i], levels))
    };
    let ambiguous = (0..fills.len())
        .any(|i| looks[i] == Bubble::Doubt || (looks[i] == Bubble::Smear && !rubbed_out(i)));
    // A mark far fainter than the other one beside it, and no darker than an erasure can stay,
    // is as likely an erasure gone over several times as a second answer: a person decides.
    // A second mark with strokes is a second answer however faint: residue is smooth.
    let faint_second = marked.len() >= 2
        && marked.iter().any(|i| {
            let f = above(i);
            f < ERASURE_REACH
                && f < FAINT_SECOND_RATIO * strongest
                && !has_strokes(&bubbles[usize::from(*i)], levels)
        });
    let state = if ambiguous || faint_second {
        AnswerState::Uncertain
    } else {
        match marked.len() {
            0 => AnswerState::Blank,
            1 => AnswerState::Answered,
            _ => AnswerState::Multiple,
        }
    };
    let marked = if state == AnswerState::Uncertain {
        // Report the bubbles that look most like marks, for the reviewer.
        (0..fills.len())
            .filter(|&i| fills[i] >= empty_threshold)
            .map(|i| i as u8)
            .collect()
    } else {
        marked
    };
    QuestionReading {
        question,
        marked_labels: marked
            .iter()
            .map(|&i| labels.get(i as usize).copied().unwrap_or("?").to_string())
            .collect(),
        marked,
        state,
        peaks: bubbles.iter().map(|b| b.peak).collect(),
        textures: bubbles.iter().map(|b| b.texture).collect(),
        halos: bubbles.iter().map(|b| b.halo).collect(),
        fills,
    }
}

fn percentile(sorted: &[f32], p: f32) -> f32 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f32 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Gray level of printed black: the centres of the three solid corner marks.
fn ink_level(image: &GrayImage, h: &Homography, layout: &PageLayout) -> f32 {
    let mut levels: Vec<f32> = layout
        .corner_marks
        .iter()
        .filter(|m| !m.hollow)
        .filter_map(|m| {
            // A mark cut off past the image's edge tells nothing about the ink.
            let (cx, cy) = m.center();
            let (px, py) = h.apply_f32(cx, cy);
            let inside =
                px >= 0.0 && py >= 0.0 && px < image.width() as f32 && py < image.height() as f32;
            inside.then(|| disc_mean(image, h, cx, cy, m.size * 0.3))
        })
        .collect();
    levels.sort_by(f32::total_cmp);
    levels.get(levels.len() / 2).copied().unwrap_or(30.0)
}

fn disc_mean(image: &GrayImage, h: &Homography, x: f32, y: f32, r: f32) -> f32 {
    let (cx, cy) = h.apply_f32(x, y);
    let rp = r * h.local_scale(f64::from(x), f64::from(y)) as f32;
    let mut acc = 0.0;
    let mut n = 0.0;
    for_disc(image, cx, cy, rp, |v| {
        acc += f32::from(v);
        n += 1.0;
    });
    if n > 0.0 { acc / n } else { 255.0 }
}

/// Calls `f` with every pixel whose centre lies within `r` of (`cx`, `cy`).
fn for_disc(image: &GrayImage, cx: f32, cy: f32, r: f32, mut f: impl FnMut(u8)) {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let y0 = ((cy - r).floor() as i64).max(0);
    let y1 = ((cy + r).ceil() as i64).min(h - 1);
    for y in y0..=y1 {
        let dy = y as f32 + 0.5 - cy;
        let half = r * r - dy * dy;
        if half < 0.0 {
            continue;
        }
        let half = half.sqrt();
        let x0 = ((cx - half - 0.5).ceil() as i64).max(0);
        let x1 = ((cx + half - 0.5).floor() as i64).min(w - 1);
        for x in x0..=x1 {
            f(raw[(y * w + x) as usize]);
        }
    }
}

/// What one bubble looks like, in darkness (0 = the paper around it, 1 = printed black).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Look {
    /// Mean darkness inside 0.7 of the radius.
    pub fill: f32,
    /// Mean darkness of the darkest [`PEAK_SHARE`] of those pixels.
    pub peak: f32,
    /// Mean absolute darkness step between neighbouring pixels inside 0.7 of the radius.
    pub texture: f32,
    /// Mean darkness of a ring just outside the printed outline (1.2–1.4 radii).
    pub halo: f32,
}

/// Share of a bubble's pixels its peak darkness is taken over: a thin tick or cross covers
/// about a quarter of the disc.
const PEAK_SHARE: f32 = 0.25;

/// One bubble inside 0.7 r, darkness from the local paper level (bright percentile of a box
/// around the bubble) to `ink`.
fn bubble_look(image: &GrayImage, h: &Homography, x: f32, y: f32, r: f32, ink: f32) -> Look {
    let (cx, cy) = h.apply_f32(x, y);
    let s = h.local_scale(f64::from(x), f64::from(y)) as f32;
    let rp = r * s;
    let paper = local_paper(image, cx, cy, rp * 1.45);
    let span = (paper - ink).max(20.0);
    // A histogram of gray levels: the mean and the darkest quarter in one pass.
    let mut hist = [0u32; 256];
    let mut n = 0u32;
    for_disc(image, cx, cy, rp * 0.7, |v| {
        hist[usize::from(v)] += 1;
        n += 1;
    });
    if n == 0 {
        return Look::default();
    }
    let dark = |v: usize| ((paper - v as f32) / span).clamp(0.0, 1.0);
    let mut total = 0.0f32;
    let mut top = 0.0f32;
    let want = ((n as f32 * PEAK_SHARE).ceil() as u32).max(1);
    let mut taken = 0u32;
    for (v, &c) in hist.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let d = dark(v);
        total += d * c as f32;
        if taken < want {
            let k = c.min(want - taken);
            top += d * k as f32;
            taken += k;
        }
    }
    Look {
        fill: total / n as f32,
        peak: top / taken.max(1) as f32,
        texture: texture(image, cx, cy, rp * 0.7) / span,
        halo: ((paper - ring_mean(image, cx, cy, rp * 1.2, rp * 1.4)) / span).max(0.0),
    }
}

/// Mean absolute step in gray level between horizontally and vertically neighbouring pixels
/// whose centres both lie within `r` of (`cx`, `cy`).
fn texture(image: &GrayImage, cx: f32, cy: f32, r: f32) -> f32 {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let r2 = r * r;
    let inside = |x: i64, y: i64| {
        let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
        x >= 0 && y >= 0 && x < w && y < h && dx * dx + dy * dy <= r2
    };
    let x0 = (cx - r).floor() as i64;
    let x1 = (cx + r).ceil() as i64;
    let y0 = (cy - r).floor() as i64;
    let y1 = (cy + r).ceil() as i64;
    let mut acc = 0u32;
    let mut n = 0u32;
    for y in y0..=y1 {
        for x in x0..=x1 {
            if !inside(x, y) {
                continue;
            }
            let v = i32::from(raw[(y * w + x) as usize]);
            if inside(x + 1, y) {
                acc += (v - i32::from(raw[(y * w + x + 1) as usize])).unsigned_abs();
                n += 1;
            }
            if inside(x, y + 1) {
                acc += (v - i32::from(raw[((y + 1) * w + x) as usize])).unsigned_abs();
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { acc as f32 / n as f32 }
}

/// Mean gray level of the pixels between `r0` and `r1` of (`cx`, `cy`).
fn ring_mean(image: &GrayImage, cx: f32, cy: f32, r0: f32, r1: f32) -> f32 {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let (a, b) = (r0 * r0, r1 * r1);
    let x0 = ((cx - r1).floor() as i64).max(0);
    let x1 = ((cx + r1).ceil() as i64).min(w - 1);
    let y0 = ((cy - r1).floor() as i64).max(0);
    let y1 = ((cy + r1).ceil() as i64).min(h - 1);
    let mut acc = 0u64;
    let mut n = 0u64;
    for y in y0..=y1 {
        let dy = y as f32 + 0.5 - cy;
        for x in x0..=x1 {
            let dx = x as f32 + 0.5 - cx;
            let d = dx * dx + dy * dy;
            if d >= a && d <= b {
                acc += u64::from(raw[(y * w + x) as usize]);
                n += 1;
            }
        }
    }
    if n == 0 { 255.0 } else { acc as f32 / n as f32 }
}

/// The paper's gray level near a point: the 90th percentile of a square of half-side `half`.
fn local_paper(image: &GrayImage, cx: f32, cy: f32, half: f32) -> f32 {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let raw = image.as_raw();
    let x0 = ((cx - half) as i64).clamp(0, w - 1);
    let x1 = ((cx + half) as i64).clamp(0, w - 1);
    let y0 = ((cy - half) as i64).clamp(0, h - 1);
    let y1 = ((cy + half) as i64).clamp(0, h - 1);
    let mut hist = [0u32; 256];
    let mut n = 0u32;
    for y in y0..=y1 {
        for &v in &raw[(y * w + x0) as usize..=(y * w + x1) as usize] {
            hist[v as usize] += 1;
            n += 1;
        }
    }
    let target = n - n / 10;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc >= target {
            return v as f32;
        }
    }
    255.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bubbles of these fills and peaks, smooth (no texture, no halo) unless set.
    fn classify(
        question: u32,
        fills: &[f32],
        peaks: &[f32],
        labels: &[&str],
        levels: &Levels,
    ) -> QuestionReading {
        let looks: Vec<Look> = fills
            .iter()
            .zip(peaks)
            .map(|(&fill, &peak)| Look {
                fill,
                peak,
                ..Look::default()
            })
            .collect();
        super::classify(question, &looks, labels, levels)
    }

    fn levels(empty: f32, marked: f32, empty_threshold: f32) -> Levels {
        Levels {
            empty_level: empty,
            empty_peak: empty,
            empty_texture: 0.0,
            empty_halo: 0.0,
            empty_sigma: 0.0,
            marked_threshold: marked,
            empty_threshold,
            mark_level: None,
        }
    }

    #[test]
    fn a_bubble_between_thresholds_makes_the_question_uncertain() {
        let labels = ["A", "B", "C", "D", "E"];
        let q = classify(
            1,
            &[0.05, 0.9, 0.06, 0.05, 0.04],
            &[0.05, 0.9, 0.06, 0.05, 0.04],
            &labels,
            &levels(0.05, 0.4, 0.2),
        );
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["B".into()])
        );
        let q = classify(
            1,
            &[0.05, 0.9, 0.3, 0.05, 0.04],
            &[0.05, 0.9, 0.3, 0.05, 0.04],
            &labels,
            &levels(0.05, 0.4, 0.2),
        );
        assert_eq!(q.state, AnswerState::Uncertain);
        let q = classify(
            1,
            &[0.05, 0.9, 0.8, 0.05, 0.04],
            &[0.05, 0.9, 0.8, 0.05, 0.04],
            &labels,
            &levels(0.05, 0.4, 0.2),
        );
        assert_eq!(q.state, AnswerState::Multiple);
        let q = classify(
            1,
            &[0.05, 0.1, 0.1, 0.05, 0.04],
            &[0.05, 0.1, 0.1, 0.05, 0.04],
            &labels,
            &levels(0.05, 0.4, 0.2),
        );
        assert_eq!(q.state, AnswerState::Blank);
    }

    #[test]
    fn a_second_mark_far_fainter_than_the_first_is_not_a_second_answer() {
        let labels = ["A", "B", "C", "D", "E"];
        // The ambiguous sample: a pencil answer (0.50) beside an erasure gone over three times
        // (0.24), thresholds 0.15 / 0.18 on an empty level of 0.05. Kept inside the outline it
        // may be a second answer in lighter pencil: a person decides.
        let q = classify(
            12,
            &[0.05, 0.06, 0.50, 0.24, 0.05],
            &[0.05, 0.06, 0.50, 0.24, 0.05],
            &labels,
            &levels(0.05, 0.18, 0.15),
        );
        assert_eq!(q.state, AnswerState::Uncertain);
        assert_eq!(q.marked_labels, ["C", "D"]);
        // Dragged past the outline, it is what the eraser left: the answer kept is read.
        let mut looks: Vec<Look> = [0.05, 0.06, 0.50, 0.24, 0.05]
            .iter()
            .map(|&fill| Look {
                fill,
                peak: fill,
                ..Look::default()
            })
            .collect();
        looks[3].halo = 0.05;
        let q = super::classify(12, &looks, &labels, &levels(0.05, 0.18, 0.15));
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["C".into()])
        );
        // Beside an answer hardly darker than it, a person decides which one was meant.
        let q = classify(
            12,
            &[0.05, 0.06, 0.33, 0.24, 0.05],
            &[0.05, 0.06, 0.33, 0.24, 0.05],
            &labels,
            &levels(0.05, 0.18, 0.15),
        );
        assert_eq!(q.state, AnswerState::Uncertain);
        assert_eq!(q.marked_labels, ["C", "D"]);
        // On a light hand's sheet the same smooth 0.19 is a mark: beside a far darker one it
        // is as likely a second answer as an erasure gone over, and a person decides.
        let mut light = levels(0.05, 0.18, 0.15);
        light.mark_level = Some(0.2);
        let q = classify(
            12,
            &[0.05, 0.06, 0.50, 0.24, 0.05],
            &[0.05, 0.06, 0.50, 0.24, 0.05],
            &labels,
            &light,
        );
        assert_eq!(q.state, AnswerState::Uncertain);
        // Two pencil fills of a normal spread stay `multiple`.
        let q = classify(
            1,
            &[0.05, 0.36, 0.53, 0.05, 0.05],
            &[0.05, 0.36, 0.53, 0.05, 0.05],
            &labels,
            &levels(0.05, 0.18, 0.15),
        );
        assert_eq!(q.state, AnswerState::Multiple);
    }

    #[test]
    fn erasure_residue_is_never_a_confident_mark() {
        let labels = ["A", "B", "C", "D", "E"];
        // A pen sheet (marks 0.7 over the empty level), empty 0.05, thresholds 0.15 / 0.18.
        let mut l = levels(0.05, 0.18, 0.15);
        l.mark_level = Some(0.7);
        let smooth = |f: f32| f;
        // Residue alone, clearly fainter than any mark: blank.
        let f = [0.05, 0.17, 0.05, 0.05, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(q.state, AnswerState::Blank);
        // Residue as dark as the lightest pencil: a person decides.
        let f = [0.05, 0.23, 0.05, 0.05, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(q.state, AnswerState::Uncertain);
        // A firm answer beside faint residue reads as that answer, and beside residue as dark
        // as light pencil too (a pen sheet's grey disc is a rubbed-out pencil draft).
        let f = [0.05, 0.26, 0.05, 0.75, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["D".into()])
        );
        let f = [0.05, 0.17, 0.05, 0.75, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["D".into()])
        );
        // A thin cross of the same mean carries strokes: its darkest quarter is far darker.
        let f = [0.05, 0.21, 0.05, 0.05, 0.05];
        let p = [0.05, 0.5, 0.05, 0.05, 0.05];
        let q = classify(1, &f, &p, &labels, &l);
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["B".into()])
        );
        // On a pen sheet a smooth grey disc past residue's usual range is still no pen mark.
        let f = [0.05, 0.05, 0.26, 0.05, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(q.state, AnswerState::Uncertain);
        // On a pencil sheet it is a lighter pencil mark.
        l.mark_level = Some(0.45);
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(q.state, AnswerState::Answered);
        // A light hand's smooth marks are marks.
        l.mark_level = Some(0.2);
        let f = [0.05, 0.05, 0.22, 0.05, 0.05];
        let q = classify(1, &f, &f.map(smooth), &labels, &l);
        assert_eq!(q.state, AnswerState::Answered);
    }

    /// Bubbles of these fills, each with the given texture and halo (empty 0.03 and 0).
    fn textured(fills: &[f32], textures: &[f32], halos: &[f32]) -> Vec<Look> {
        fills
            .iter()
            .zip(textures)
            .zip(halos)
            .map(|((&fill, &texture), &halo)| Look {
                fill,
                peak: fill,
                texture,
                halo,
            })
            .collect()
    }

    #[test]
    fn strokes_are_told_from_a_smear_by_their_texture() {
        let labels = ["A", "B", "C", "D", "E"];
        let mut l = levels(0.05, 0.18, 0.15);
        l.mark_level = Some(0.45);
        l.empty_texture = 0.03;
        let t = 0.03;
        // A light pencil cross whose darkest quarter does not stand out (blurred), but whose
        // edges do: a mark.
        let b = textured(
            &[0.05, 0.24, 0.05, 0.05, 0.05],
            &[t, 0.09, t, t, t],
            &[0.0; 5],
        );
        let q = super::classify(1, &b, &labels, &l);
        assert_eq!(
            (q.state, q.marked_labels.clone()),
            (AnswerState::Answered, vec!["B".into()])
        );
        // The same darkness, smooth: residue or light pencil, a person decides.
        let b = textured(&[0.05, 0.24, 0.05, 0.05, 0.05], &[t; 5], &[0.0; 5]);
        assert_eq!(
            super::classify(1, &b, &labels, &l).state,
            AnswerState::Uncertain
        );
        // Noise raises every bubble's texture alike: strokes are measured in quadrature above
        // it, so a noisy smooth bubble is still smooth.
        l.empty_texture = 0.06;
        let b = textured(&[0.05, 0.24, 0.05, 0.05, 0.05], &[0.07; 5], &[0.0; 5]);
        assert_eq!(
            super::classify(1, &b, &labels, &l).state,
            AnswerState::Uncertain
        );
        l.empty_texture = t;
        // A faint second mark with strokes beside a fill is a second answer, not an erasure.
        let b = textured(
            &[0.05, 0.24, 0.05, 0.6, 0.05],
            &[t, 0.09, t, t, t],
            &[0.0; 5],
        );
        assert_eq!(
            super::classify(1, &b, &labels, &l).state,
            AnswerState::Multiple
        );
        // A smooth smear past the outline, darker than residue usually gets: a person decides.
        let b = textured(
            &[0.05, 0.05, 0.28, 0.05, 0.05],
            &[t; 5],
            &[0.0, 0.0, 0.05, 0.0, 0.0],
        );
        assert_eq!(
            super::classify(1, &b, &labels, &l).state,
            AnswerState::Uncertain
        );
        // The same fill kept within the outline is a mark.
        let b = textured(&[0.05, 0.05, 0.28, 0.05, 0.05], &[t; 5], &[0.0; 5]);
        assert_eq!(
            super::classify(1, &b, &labels, &l).state,
            AnswerState::Answered
        );
    }
}
