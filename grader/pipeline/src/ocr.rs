//! Local OCR of the printed sheet code: the step after the QR decoders and before any cloud OCR.
//!
//! Everything about the text is known in advance: its font ([`model::layout::TEXT_ID_FONT`]),
//! size ([`TEXT_ID_FONT_SIZE`]), fixed pitch, alphabet ([`ALPHABET`] and the dashes between
//! groups) and box ([`PageFrame::text_id`]). So instead of a general OCR engine the reader renders
//! one template per symbol from the font, resamples the text box upright through the page's
//! homography, finds the line (position, pitch and tilt, which absorb what the alignment left
//! over), and scores every template at every character cell by normalised cross-correlation,
//! which ignores the local brightness and contrast of the scan.
//!
//! A reading is never guessed. Each cell keeps the symbols scoring within [`ALTERNATIVE_WITHIN`]
//! of its best; the codes those alternatives spell are tried against the check symbol and then
//! the directory, and the page is identified only when exactly one code passes both, every one
//! of its symbols scores at least [`MIN_SCORE`], and few cells were in doubt. A misread symbol
//! fails the check symbol; two misread symbols that happen to pass it still name no printed
//! sheet (69 random bits), so the directory is what makes another sheet's identity out of reach.

use std::sync::OnceLock;

use image::GrayImage;
use model::SheetCode;
use model::layout::{PageFrame, Rect, TEXT_ID_FONT, TEXT_ID_FONT_SIZE};
use model::sheet_code::{ALPHABET, CODE_LEN, GROUP_LEN, PRINTED_LEN};
use ttf_parser::{Face, OutlineBuilder};

use crate::directory::{SheetDirectory, SheetInfo};
use crate::geometry::Homography;
use crate::pixels::sample_rect;

/// Pixels per point of the crop the OCR reads (216 dpi). The working image is 150–200 dpi;
/// sampling a little finer keeps the cells' sub-pixel positions without costing much.
pub const PX_PER_PT: f32 = 3.0;
/// Margin around the text box in the crop, points: how far the alignment may be off and the
/// line still be found. The QR's quiet zone is above, the page margin right; the header's
/// frame is 12 pt left and the instructions 4 pt below, beyond the box's own 2 pt padding.
const MARGIN_X: f32 = 7.0;
const MARGIN_Y: f32 = 5.0;
/// The lowest correlation a symbol may score and still be read.
pub const MIN_SCORE: f32 = 0.55;
/// Symbols scoring within this of a cell's best are its alternatives.
pub const ALTERNATIVE_WITHIN: f32 = 0.06;
/// At most this many cells may hold alternatives (more is a reading too unsure to resolve).
pub const MAX_DOUBTFUL_CELLS: usize = 4;
/// At most this many alternatives per cell (the best included).
const MAX_ALTERNATIVES: usize = 3;
/// The line is found at 1/`COARSE` of the crop's resolution first, then each cell is read at
/// full resolution around where the line puts it.
const COARSE: usize = 2;
/// Relative pitch errors tried (the homography's scale error along the line).
const PITCH_STEPS: [f32; 9] = [
    0.97, 0.9775, 0.985, 0.9925, 1.0, 1.0075, 1.015, 1.0225, 1.03,
];
/// Vertical drift across the line tried, coarse pixels from the first cell to the last (a
/// residual rotation of up to ~0.6°).
const TILTS: [i32; 5] = [-2, -1, 0, 1, 2];
/// How far each cell may sit from the line's regular grid, coarse pixels (keystone, rounding).
const JITTER: i32 = 1;
/// How far each cell is searched at full resolution around where the coarse line puts it,
/// pixels: the coarse grid's rounding and jitter.
const REFINE: i32 = 2;

/// The templates: one per symbol of the alphabet, then the dash, at [`PX_PER_PT`].
struct Templates {
    /// Character advance, pixels.
    pitch: f32,
    /// Template width and height, pixels.
    width: usize,
    height: usize,
    /// Row of the baseline within a template.
    baseline: usize,
    /// Height of a capital above the baseline, pixels.
    cap: f32,
    /// Zero-mean, unit-norm weights, row-major, [`ALPHABET`] order then the dash.
    weights: Vec<Vec<f32>>,
    /// Ink coverage 0–1 (for drawing test text).
    #[cfg_attr(not(test), allow(dead_code))]
    coverage: Vec<Vec<f32>>,
}

/// Index of the dash template.
const DASH: usize = ALPHABET.len();

/// The templates at the crop's resolution and at the coarse one.
struct TemplateSet {
    fine: Templates,
    coarse: Templates,
}

fn templates() -> Option<&'static TemplateSet> {
    static TEMPLATES: OnceLock<Option<TemplateSet>> = OnceLock::new();
    TEMPLATES
        .get_or_init(|| {
            Some(TemplateSet {
                fine: build_templates(PX_PER_PT)?,
                coarse: build_templates(PX_PER_PT / COARSE as f32)?,
            })
        })
        .as_ref()
}

fn build_templates(px_per_pt: f32) -> Option<Templates> {
    let face = Face::parse(TEXT_ID_FONT, 0).ok()?;
    let scale = TEXT_ID_FONT_SIZE * px_per_pt / f32::from(face.units_per_em());
    let chars: Vec<char> = ALPHABET
        .iter()
        .map(|&b| b as char)
        .chain(std::iter::once('-'))
        .collect();
    let mut top = 0.0f32;
    let mut bottom = 0.0f32;
    let mut advance = 0.0f32;
    for &c in &chars {
        let g = face.glyph_index(c)?;
        let b = face.glyph_bounding_box(g)?;
        top = top.max(f32::from(b.y_max) * scale);
        bottom = bottom.max(-f32::from(b.y_min) * scale);
        advance = advance.max(f32::from(face.glyph_hor_advance(g)?) * scale);
    }
    let cap = face
        .glyph_index('H')
        .and_then(|g| face.glyph_bounding_box(g))
        .map(|b| f32::from(b.y_max) * scale)?;
    // One pixel of paper around the tallest and deepest glyphs: the edge of the ink is part of
    // the shape.
    let baseline = top.ceil() as usize + 1;
    let height = baseline + bottom.ceil() as usize + 1;
    let width = advance.round() as usize;
    let mut weights = Vec::with_capacity(chars.len());
    let mut coverage = Vec::with_capacity(chars.len());
    for &c in &chars {
        let g = face.glyph_index(c)?;
        let mut path = Flatten {
            scale,
            origin: (0.0, baseline as f32),
            edges: Vec::new(),
            start: (0.0, 0.0),
            last: (0.0, 0.0),
        };
        face.outline_glyph(g, &mut path);
        let cov = soften(&fill(&path.edges, width, height), width, height);
        weights.push(normalise(&cov)?);
        coverage.push(cov);
    }
    Some(Templates {
        pitch: advance,
        width,
        height,
        baseline,
        cap,
        weights,
        coverage,
    })
}

/// Zero mean, unit norm; `None` for a blank template (a broken font).
fn normalise(t: &[f32]) -> Option<Vec<f32>> {
    let mean = t.iter().sum::<f32>() / t.len() as f32;
    let norm = t.iter().map(|v| (v - mean).powi(2)).sum::<f32>().sqrt();
    (norm > 1e-3).then(|| t.iter().map(|v| (v - mean) / norm).collect())
}

/// A straight edge of an outline, from its first point to its second (template pixels, y down).
type Edge = ((f32, f32), (f32, f32));

/// A glyph outline as straight edges in template pixels (y down).
struct Flatten {
    scale: f32,
    origin: (f32, f32),
    edges: Vec<Edge>,
    start: (f32, f32),
    last: (f32, f32),
}

impl Flatten {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (
            self.origin.0 + x * self.scale,
            self.origin.1 - y * self.scale,
        )
    }

    fn edge_to(&mut self, p: (f32, f32)) {
        self.edges.push((self.last, p));
        self.last = p;
    }
}

/// Segments per curve: at ~40 px per em a curve spans a few pixels, so 8 chords are exact.
const CURVE_STEPS: usize = 8;

impl OutlineBuilder for Flatten {
    fn move_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.start = p;
        self.last = p;
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.edge_to(p);
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        let (p0, q, p) = (self.last, self.at(x1, y1), self.at(x, y));
        for k in 1..=CURVE_STEPS {
            let t = k as f32 / CURVE_STEPS as f32;
            let u = 1.0 - t;
            let pt = (
                u * u * p0.0 + 2.0 * u * t * q.0 + t * t * p.0,
                u * u * p0.1 + 2.0 * u * t * q.1 + t * t * p.1,
            );
            self.edge_to(pt);
        }
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let (p0, c1, c2, p) = (self.last, self.at(x1, y1), self.at(x2, y2), self.at(x, y));
        for k in 1..=CURVE_STEPS {
            let t = k as f32 / CURVE_STEPS as f32;
            let u = 1.0 - t;
            let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
            let pt = (
                a * p0.0 + b * c1.0 + c * c2.0 + d * p.0,
                a * p0.1 + b * c1.1 + c * c2.1 + d * p.1,
            );
            self.edge_to(pt);
        }
    }

    fn close(&mut self) {
        if self.last != self.start {
            let s = self.start;
            self.edge_to(s);
        }
    }
}

/// Subsamples per pixel side when filling a glyph.
const SUPERSAMPLE: usize = 4;

/// Ink coverage of the polygon `edges` (non-zero winding) in a `w`×`h` grid, by supersampling.
fn fill(edges: &[Edge], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    let weight = 1.0 / (SUPERSAMPLE * SUPERSAMPLE) as f32;
    let mut crossings: Vec<(f32, i32)> = Vec::new();
    for row in 0..h {
        for sy in 0..SUPERSAMPLE {
            let y = row as f32 + (sy as f32 + 0.5) / SUPERSAMPLE as f32;
            crossings.clear();
            for &((x0, y0), (x1, y1)) in edges {
                if (y0 <= y) != (y1 <= y) {
                    let x = x0 + (y - y0) * (x1 - x0) / (y1 - y0);
                    crossings.push((x, if y1 > y0 { 1 } else { -1 }));
                }
            }
            crossings.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut winding = 0;
            for pair in crossings.windows(2) {
                winding += pair[0].1;
                if winding == 0 {
                    continue;
                }
                let (xa, xb) = (pair[0].0, pair[1].0);
                let first = ((xa * SUPERSAMPLE as f32 - 0.5).ceil().max(0.0)) as usize;
                let last = (xb * SUPERSAMPLE as f32 - 0.5).ceil().max(0.0) as usize;
                for sx in first..last.min(w * SUPERSAMPLE) {
                    out[row * w + sx / SUPERSAMPLE] += weight;
                }
            }
        }
    }
    out
}

/// A [1 2 1]/4 blur both ways (σ ≈ 0.7 px): printed and scanned ink never has the outline's
/// sharp edge.
fn soften(t: &[f32], w: usize, h: usize) -> Vec<f32> {
    let at = |v: &[f32], x: isize, y: isize| -> f32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            0.0
        } else {
            v[y as usize * w + x as usize]
        }
    };
    let mut tmp = vec![0.0; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            tmp[y as usize * w + x as usize] =
                (at(t, x - 1, y) + 2.0 * at(t, x, y) + at(t, x + 1, y)) / 4.0;
        }
    }
    let mut out = vec![0.0; w * h];
    for y in 0..h as isize {
        for x in 0..w as isize {
            out[y as usize * w + x as usize] =
                (at(&tmp, x, y - 1) + 2.0 * at(&tmp, x, y) + at(&tmp, x, y + 1)) / 4.0;
        }
    }
    out
}

/// The rectangle the OCR resamples: the text box and its margins, in layout points.
pub fn crop_rect(text_id: &Rect) -> Rect {
    Rect {
        x: text_id.x - MARGIN_X,
        y: text_id.y - MARGIN_Y,
        width: text_id.width + 2.0 * MARGIN_X,
        height: text_id.height + 2.0 * MARGIN_Y,
    }
}

/// The upright crop the OCR reads: [`crop_rect`] at [`PX_PER_PT`] through `h` (layout → image).
pub fn text_id_crop(image: &GrayImage, h: &Homography, text_id: &Rect) -> GrayImage {
    sample_rect(image, h, &crop_rect(text_id), PX_PER_PT)
}

/// One character cell as read: symbol values (indices into [`ALPHABET`]) with their scores,
/// best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Every symbol and its correlation, best first.
    pub scores: Vec<(u8, f32)>,
}

impl Cell {
    /// The best symbol and its score.
    pub fn best(&self) -> (u8, f32) {
        self.scores.first().copied().unwrap_or((0, -1.0))
    }

    /// How far the best symbol is ahead of the runner-up.
    pub fn margin(&self) -> f32 {
        match self.scores.as_slice() {
            [a, b, ..] => a.1 - b.1,
            [a] => a.1,
            [] => 0.0,
        }
    }

    /// The symbols within [`ALTERNATIVE_WITHIN`] of the best (the best first), at most
    /// [`MAX_ALTERNATIVES`].
    pub fn alternatives(&self) -> Vec<u8> {
        let best = self.best().1;
        self.scores
            .iter()
            .take(MAX_ALTERNATIVES)
            .filter(|s| s.1 >= best - ALTERNATIVE_WITHIN)
            .map(|s| s.0)
            .collect()
    }
}

/// What the OCR saw in a crop: where the line is and every cell's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The [`CODE_LEN`] symbol cells, in order (the dashes left out).
    pub cells: Vec<Cell>,
    /// Left edge of the first cell, crop pixels.
    pub x0: f32,
    /// Baseline of the first cell, crop pixels.
    pub baseline: f32,
    /// Character pitch found, pixels.
    pub pitch: f32,
    /// Vertical drift from the first cell to the last, pixels.
    pub tilt: i32,
    /// Mean correlation of the line's cells, dashes included.
    pub line_score: f32,
}

impl Reading {
    /// The best symbol of every cell, grouped as printed (it may fail its check symbol).
    pub fn best_text(&self) -> String {
        let mut s = String::with_capacity(PRINTED_LEN);
        for (i, c) in self.cells.iter().enumerate() {
            if i > 0 && i % GROUP_LEN == 0 {
                s.push('-');
            }
            s.push(ALPHABET[usize::from(c.best().0)] as char);
        }
        s
    }

    /// The lowest best score of any cell.
    pub fn weakest(&self) -> f32 {
        self.cells
            .iter()
            .map(|c| c.best().1)
            .fold(f32::INFINITY, f32::min)
    }
}

/// Why the local OCR named no sheet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OcrMiss {
    /// No line of text where the code should be (or the font failed to load).
    #[error("no printed code found")]
    NoText,
    /// A cell scores too low for any symbol: covered, torn or too faint.
    #[error("cell {cell} unreadable (best score {score:.2})")]
    Unreadable {
        /// Cell, from 0.
        cell: usize,
        /// Its best score.
        score: f32,
    },
    /// Too many cells hold close alternatives to try them.
    #[error("{0} cells in doubt")]
    TooManyDoubts(usize),
    /// No combination of the alternatives passes the check symbol and names a printed sheet.
    #[error("no reading names a printed sheet (best {0})")]
    NoCandidate(String),
    /// The best reading is a valid code that names no printed sheet (another bundle's sheet).
    #[error("read {0}, which is not a sheet of this directory")]
    UnknownCode(String),
    /// Several readings name printed sheets: never choose.
    #[error("{0} readings name printed sheets")]
    Several(usize),
}

/// Reads the cells of the code in an upright crop made by [`text_id_crop`] (the text box centred,
/// margins around it). `None` when no line of text is found there.
pub fn read(crop: &GrayImage) -> Option<Reading> {
    let set = templates()?;
    let (fine, coarse) = (&set.fine, &set.coarse);
    let (w, h) = (crop.width() as usize, crop.height() as usize);
    if w < fine.width * PRINTED_LEN || h < fine.height {
        return None;
    }
    // Ink is positive; the correlation ignores brightness and contrast window by window.
    let ink: Vec<f32> = crop
        .as_raw()
        .iter()
        .map(|&v| 255.0 - f32::from(v))
        .collect();
    let (cw, ch) = (w / COARSE, h / COARSE);
    let small = downsample(&ink, w, cw, ch);
    let line = find_line(&small, cw, ch, coarse)?;

    let integral = Integral::new(&ink, w, h);
    let mut cells = Vec::with_capacity(CODE_LEN);
    let c = COARSE as i32;
    for i in (0..PRINTED_LEN).filter(|&i| !is_dash(i)) {
        // The cell's template origin at full resolution: same pen position, same baseline.
        let (cx, cy) = cell_at(line.x0, line.top, line.pitch, line.tilt, i);
        let fx = cx * c;
        let fy = (cy + coarse.baseline as i32) * c - fine.baseline as i32;
        let (x_lo, x_hi) = (
            (fx - REFINE).max(0),
            (fx + REFINE).min((w - fine.width) as i32),
        );
        let (y_lo, y_hi) = (
            (fy - REFINE).max(0),
            (fy + REFINE).min((h - fine.height) as i32),
        );
        if x_hi < x_lo || y_hi < y_lo {
            return None;
        }
        let maps = Maps::new(fine, &ink, &integral, w, (x_lo, x_hi), (y_lo, y_hi));
        let mut scores: Vec<(u8, f32)> = (0..ALPHABET.len())
            .map(|s| {
                let best = maps.scores[s].iter().copied().fold(-1.0f32, f32::max);
                (s as u8, best)
            })
            .collect();
        scores.sort_by(|a, b| b.1.total_cmp(&a.1));
        cells.push(Cell { scores });
    }
    Some(Reading {
        cells,
        x0: (line.x0 * c) as f32,
        baseline: ((line.top + coarse.baseline as i32) * c) as f32,
        pitch: line.pitch * COARSE as f32,
        tilt: line.tilt * c,
        line_score: line.total / PRINTED_LEN as f32,
    })
}

/// Averages `COARSE`×`COARSE` blocks.
fn downsample(ink: &[f32], w: usize, cw: usize, ch: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; cw * ch];
    let area = (COARSE * COARSE) as f32;
    for y in 0..ch {
        for x in 0..cw {
            let mut sum = 0.0;
            for dy in 0..COARSE {
                let row = &ink[(y * COARSE + dy) * w + x * COARSE..][..COARSE];
                sum += row.iter().sum::<f32>();
            }
            out[y * cw + x] = sum / area;
        }
    }
    out
}

/// Finds the line in the (coarse) ink image: first cell, pitch and tilt that make the cells
/// correlate best with some symbol (the dashes with the dash).
fn find_line(ink: &[f32], w: usize, h: usize, t: &Templates) -> Option<Line> {
    let px_per_pt = PX_PER_PT / COARSE as f32;
    // The line is centred in the crop, as the text is in its box; its baseline sits half a
    // capital below the centre.
    let text_width = t.pitch * PRINTED_LEN as f32;
    let expected_x0 = ((w as f32 - text_width) / 2.0).round() as i32;
    let expected_top = h as f32 / 2.0 + t.cap / 2.0 - t.baseline as f32;
    let slack_x = (MARGIN_X * px_per_pt) as i32;
    let slack_y = (MARGIN_Y * px_per_pt) as i32;

    // Rows first, from the ink's profile: the band one capital high holding the most ink.
    let band = find_band(ink, w, h, t, expected_top, slack_y)?;

    // Correlation maps for every template over the rows the line, its tilt and the cells'
    // jitter can reach.
    let integral = Integral::new(ink, w, h);
    let reach = TILTS.iter().map(|d| d.abs()).max().unwrap_or(0) + JITTER + 2;
    let rows = (
        (band - reach).max(0),
        (band + reach).min((h - t.height) as i32),
    );
    let cols = (
        (expected_x0 - slack_x - JITTER).max(0),
        (expected_x0 + slack_x + JITTER + text_width.ceil() as i32).min((w - t.width) as i32),
    );
    if rows.1 < rows.0 || cols.1 < cols.0 {
        return None;
    }
    let maps = Maps::new(t, ink, &integral, w, cols, rows);

    let mut best: Option<Line> = None;
    for &f in &PITCH_STEPS {
        let pitch = t.pitch * f;
        for &tilt in &TILTS {
            for top in (band - 2)..=(band + 2) {
                for x0 in (expected_x0 - slack_x)..=(expected_x0 + slack_x) {
                    let total: f32 = (0..PRINTED_LEN)
                        .map(|i| {
                            let (cx, cy) = cell_at(x0, top, pitch, tilt, i);
                            maps.best_near(cx, cy, is_dash(i))
                        })
                        .sum();
                    if best.as_ref().is_none_or(|b| total > b.total) {
                        best = Some(Line {
                            total,
                            x0,
                            top,
                            pitch,
                            tilt,
                        });
                    }
                }
            }
        }
    }
    best
}

/// A placement of the line in the crop.
struct Line {
    /// Sum of the cells' best correlations.
    total: f32,
    x0: i32,
    top: i32,
    pitch: f32,
    tilt: i32,
}

fn is_dash(i: usize) -> bool {
    i % (GROUP_LEN + 1) == GROUP_LEN
}

/// Top-left of printed character `i`'s template.
fn cell_at(x0: i32, top: i32, pitch: f32, tilt: i32, i: usize) -> (i32, i32) {
    let along = i as f32 / (PRINTED_LEN - 1) as f32;
    (
        x0 + (i as f32 * pitch).round() as i32,
        top + (tilt as f32 * along).round() as i32,
    )
}

/// Template top row of the text band: the window one capital high, `expected` ± `slack`, with
/// the most ink against the rows just above and below it.
fn find_band(
    ink: &[f32],
    w: usize,
    h: usize,
    t: &Templates,
    expected: f32,
    slack: i32,
) -> Option<i32> {
    let rows: Vec<f32> = (0..h)
        .map(|y| ink[y * w..(y + 1) * w].iter().sum::<f32>())
        .collect();
    let cap = t.cap.round() as i32;
    let edge = 3;
    let lead = t.baseline as i32 - cap; // template rows above the capitals
    let row = |y: i32| -> f32 {
        if y < 0 || y >= h as i32 {
            0.0
        } else {
            rows[y as usize]
        }
    };
    let mut best: Option<(f32, i32)> = None;
    for top in (expected.round() as i32 - slack)..=(expected.round() as i32 + slack) {
        if top < 0 || top as usize + t.height > h {
            continue;
        }
        let cap_top = top + lead;
        let inside: f32 = (cap_top..cap_top + cap).map(row).sum::<f32>() / cap as f32;
        let outside: f32 = (cap_top - edge..cap_top)
            .chain(cap_top + cap..cap_top + cap + edge)
            .map(row)
            .sum::<f32>()
            / (2 * edge) as f32;
        let s = inside - outside;
        if best.is_none_or(|b| s > b.0) {
            best = Some((s, top));
        }
    }
    let (contrast, top) = best?;
    // A blank crop (no line at all): a few grey levels over the width is paper noise.
    (contrast > 8.0 * w as f32).then_some(top)
}

/// Summed-area tables of the ink and its square.
struct Integral {
    w: usize,
    sum: Vec<f64>,
    sq: Vec<f64>,
}

impl Integral {
    fn new(ink: &[f32], w: usize, h: usize) -> Self {
        let stride = w + 1;
        let mut sum = vec![0.0f64; stride * (h + 1)];
        let mut sq = vec![0.0f64; stride * (h + 1)];
        for y in 0..h {
            let (mut rs, mut rq) = (0.0f64, 0.0f64);
            for x in 0..w {
                let v = f64::from(ink[y * w + x]);
                rs += v;
                rq += v * v;
                sum[(y + 1) * stride + x + 1] = sum[y * stride + x + 1] + rs;
                sq[(y + 1) * stride + x + 1] = sq[y * stride + x + 1] + rq;
            }
        }
        Self { w, sum, sq }
    }

    /// Standard deviation × √n of the `tw`×`th` window at (x, y): the norm of its zero-mean
    /// pixels.
    fn centred_norm(&self, x: usize, y: usize, tw: usize, th: usize) -> f32 {
        let s = self.w + 1;
        let rect = |t: &[f64]| {
            t[(y + th) * s + x + tw] - t[y * s + x + tw] - t[(y + th) * s + x] + t[y * s + x]
        };
        let n = (tw * th) as f64;
        let (a, b) = (rect(&self.sum), rect(&self.sq));
        ((b - a * a / n).max(0.0)).sqrt() as f32
    }
}

/// Correlation of every template at every template position in a range of the crop.
struct Maps {
    x_lo: i32,
    y_lo: i32,
    cols: usize,
    rows: usize,
    /// Per template, row-major over the range.
    scores: Vec<Vec<f32>>,
    /// Best symbol (not the dash) score per position.
    best: Vec<f32>,
}

impl Maps {
    /// Every template of `t` at every top-left position in `xs` × `ys` (inclusive ranges).
    fn new(
        t: &Templates,
        ink: &[f32],
        integral: &Integral,
        w: usize,
        (x_lo, x_hi): (i32, i32),
        (y_lo, y_hi): (i32, i32),
    ) -> Self {
        let cols = (x_hi - x_lo + 1) as usize;
        let rows = (y_hi - y_lo + 1) as usize;
        let mut norms = vec![0.0f32; cols * rows];
        for r in 0..rows {
            for c in 0..cols {
                norms[r * cols + c] =
                    integral.centred_norm(x_lo as usize + c, y_lo as usize + r, t.width, t.height);
            }
        }
        let mut scores = Vec::with_capacity(t.weights.len());
        let mut dots = vec![0.0f32; cols];
        for weights in &t.weights {
            let mut map = vec![0.0f32; cols * rows];
            for r in 0..rows {
                dots.iter_mut().for_each(|d| *d = 0.0);
                for v in 0..t.height {
                    let wrow = &weights[v * t.width..(v + 1) * t.width];
                    let y = y_lo as usize + r + v;
                    let irow =
                        &ink[y * w + x_lo as usize..y * w + x_lo as usize + cols + t.width - 1];
                    for (c, d) in dots.iter_mut().enumerate() {
                        *d += dot(wrow, &irow[c..c + t.width]);
                    }
                }
                for c in 0..cols {
                    let n = norms[r * cols + c];
                    map[r * cols + c] = if n > 1.0 { dots[c] / n } else { 0.0 };
                }
            }
            scores.push(map);
        }
        let best = (0..cols * rows)
            .map(|k| {
                scores[..DASH]
                    .iter()
                    .map(|m| m[k])
                    .fold(f32::NEG_INFINITY, f32::max)
            })
            .collect();
        Self {
            x_lo,
            y_lo,
            cols,
            rows,
            scores,
            best,
        }
    }

    fn max_near(&self, map: &[f32], x: i32, y: i32) -> f32 {
        let mut m = -1.0f32;
        for dy in -JITTER..=JITTER {
            let r = y + dy - self.y_lo;
            if r < 0 || r >= self.rows as i32 {
                continue;
            }
            for dx in -JITTER..=JITTER {
                let c = x + dx - self.x_lo;
                if c < 0 || c >= self.cols as i32 {
                    continue;
                }
                m = m.max(map[r as usize * self.cols + c as usize]);
            }
        }
        m
    }

    /// The best symbol's (or the dash's) score around (x, y).
    fn best_near(&self, x: i32, y: i32, dash: bool) -> f32 {
        if dash {
            self.max_near(&self.scores[DASH], x, y)
        } else {
            self.max_near(&self.best, x, y)
        }
    }
}

/// A dot product the compiler can vectorise (independent partial sums).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for k in 0..chunks {
        for j in 0..8 {
            acc[j] += a[k * 8 + j] * b[k * 8 + j];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for k in chunks * 8..a.len() {
        s += a[k] * b[k];
    }
    s
}

/// Turns a reading into a sheet: the alternatives of the doubtful cells are combined, and the
/// page is named only when exactly one combination passes the check symbol and is in the
/// directory.
pub fn resolve(reading: &Reading, directory: &dyn SheetDirectory) -> Result<SheetInfo, OcrMiss> {
    if let Some((cell, c)) = reading
        .cells
        .iter()
        .enumerate()
        .find(|(_, c)| c.best().1 < MIN_SCORE)
    {
        return Err(OcrMiss::Unreadable {
            cell,
            score: c.best().1,
        });
    }
    let options: Vec<Vec<u8>> = reading
        .cells
        .iter()
        .map(|c| {
            c.alternatives()
                .into_iter()
                .filter(|&s| {
                    c.scores
                        .iter()
                        .any(|&(v, score)| v == s && score >= MIN_SCORE)
                })
                .collect()
        })
        .collect();
    let doubtful = options.iter().filter(|o| o.len() > 1).count();
    if doubtful > MAX_DOUBTFUL_CELLS {
        return Err(OcrMiss::TooManyDoubts(doubtful));
    }
    let mut found: Vec<SheetInfo> = Vec::new();
    let mut valid_unknown: Option<SheetCode> = None;
    let mut pick = [0usize; CODE_LEN];
    loop {
        let text: String = pick
            .iter()
            .zip(&options)
            .map(|(&k, o)| ALPHABET[usize::from(o[k])] as char)
            .collect();
        if let Ok(code) = SheetCode::parse(&text) {
            match directory.lookup(&code) {
                Some(sheet) => found.push(sheet),
                None if pick.iter().all(|&k| k == 0) => valid_unknown = Some(code),
                None => {}
            }
        }
        // Next combination (odometer).
        let mut i = 0;
        loop {
            if i == CODE_LEN {
                return match found.len() {
                    1 => found.pop().ok_or(OcrMiss::NoText),
                    0 => Err(match valid_unknown {
                        Some(code) if doubtful == 0 => OcrMiss::UnknownCode(code.printed()),
                        _ => OcrMiss::NoCandidate(reading.best_text()),
                    }),
                    n => Err(OcrMiss::Several(n)),
                };
            }
            pick[i] += 1;
            if pick[i] < options[i].len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
    }
}

/// Reads the printed code of the page aligned by `h` (layout → image) and names its sheet, or
/// says why not.
pub fn identify_text_id(
    image: &GrayImage,
    h: &Homography,
    frame: &PageFrame,
    directory: &dyn SheetDirectory,
) -> Result<SheetInfo, OcrMiss> {
    let crop = text_id_crop(image, h, &frame.text_id);
    let reading = read(&crop).ok_or(OcrMiss::NoText)?;
    resolve(&reading, directory)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::sync::Arc;

    use image::Luma;
    use model::layout::{SheetShape, layout_sheet, page_frame};
    use model::{Exam, Paper};
    use rand::SeedableRng;

    /// A directory of the given codes (one shared page layout).
    struct Codes(HashMap<SheetCode, SheetInfo>);

    impl Codes {
        fn new(codes: &[SheetCode]) -> Self {
            let exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"A"}]}"#).expect("exam");
            let layout = Arc::new(layout_sheet(&SheetShape::of(&exam, false)).remove(0));
            let exam = Arc::new(exam);
            Self(
                codes
                    .iter()
                    .map(|&code| {
                        (
                            code,
                            SheetInfo {
                                code,
                                exam: Arc::clone(&exam),
                                version: "A".into(),
                                student_id: None,
                                sheet_page: 1,
                                layout: Arc::clone(&layout),
                                booklet: None,
                            },
                        )
                    })
                    .collect(),
            )
        }
    }

    impl SheetDirectory for Codes {
        fn lookup(&self, code: &SheetCode) -> Option<SheetInfo> {
            self.0.get(code).cloned()
        }
    }

    fn code(seed: u64) -> SheetCode {
        SheetCode::random_with(&mut rand::rngs::StdRng::seed_from_u64(seed))
    }

    /// `text` (the printed form, any symbols) drawn as the renderer places it in the crop of
    /// an upright page: centred in the text box, capitals centred vertically; then blurred a
    /// little, brightened to a scan's paper and ink, with noise, and shifted by (`dx`, `dy`)
    /// pixels.
    fn crop_showing(text: &str, dx: i32, dy: i32, seed: u64) -> GrayImage {
        let t = &templates().expect("templates").fine;
        let frame = page_frame(Paper::A4);
        let rect = crop_rect(&frame.text_id);
        let (w, h) = (
            (rect.width * PX_PER_PT).round() as usize,
            (rect.height * PX_PER_PT).round() as usize,
        );
        let mut ink = vec![0.0f32; w * h];
        let x0 = (w as f32 - t.pitch * PRINTED_LEN as f32) / 2.0;
        let top = h as f32 / 2.0 + t.cap / 2.0 - t.baseline as f32;
        for (i, c) in text.chars().enumerate() {
            let k = if c == '-' {
                DASH
            } else {
                ALPHABET
                    .iter()
                    .position(|&a| a as char == c)
                    .expect("symbol")
            };
            let ox = (x0 + i as f32 * t.pitch).round() as i32 + dx;
            let oy = top.round() as i32 + dy;
            for v in 0..t.height {
                for u in 0..t.width {
                    let (x, y) = (ox + u as i32, oy + v as i32);
                    if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                        let p = &mut ink[y as usize * w + x as usize];
                        *p = (*p + t.coverage[k][v * t.width + u]).min(1.0);
                    }
                }
            }
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut img = GrayImage::new(w as u32, h as u32);
        for y in 0..h {
            for x in 0..w {
                let noise: f32 = rand::RngExt::random_range(&mut rng, -12.0..12.0);
                let v = 235.0 - 190.0 * ink[y * w + x] + noise;
                img.put_pixel(x as u32, y as u32, Luma([v.clamp(0.0, 255.0) as u8]));
            }
        }
        img
    }

    fn with_symbol(code: &SheetCode, cell: usize, symbol: u8) -> String {
        let mut bare: Vec<u8> = code.qr_payload().into_bytes();
        bare[cell] = ALPHABET[usize::from(symbol)];
        let groups: Vec<String> = bare
            .chunks(GROUP_LEN)
            .map(|g| String::from_utf8_lossy(g).into_owned())
            .collect();
        groups.join("-")
    }

    #[test]
    fn reads_a_clean_code_and_names_its_sheet() {
        for seed in 0..6 {
            let c = code(seed);
            let dir = Codes::new(&[c, code(100 + seed)]);
            let crop = crop_showing(
                &c.printed(),
                (seed as i32 % 5) * 3 - 6,
                seed as i32 % 3 - 1,
                seed,
            );
            let reading = read(&crop).expect("line found");
            assert_eq!(reading.best_text(), c.printed(), "{reading:?}");
            let sheet = resolve(&reading, &dir).expect("identified");
            assert_eq!(sheet.code, c);
        }
    }

    #[test]
    fn a_blank_crop_has_no_line() {
        let frame = page_frame(Paper::A4);
        let rect = crop_rect(&frame.text_id);
        let blank = GrayImage::from_pixel(
            (rect.width * PX_PER_PT) as u32,
            (rect.height * PX_PER_PT) as u32,
            Luma([230]),
        );
        assert_eq!(read(&blank), None);
    }

    /// The symbols most like `s` first (by correlation of their templates): the substitutions
    /// an OCR is most tempted by.
    fn look_alikes(s: usize) -> Vec<u8> {
        let t = &templates().expect("templates").fine;
        let mut v: Vec<(u8, f32)> = (0..ALPHABET.len())
            .filter(|&o| o != s)
            .map(|o| (o as u8, dot(&t.weights[s], &t.weights[o])))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn a_code_one_symbol_off_is_never_accepted() {
        let c = code(7);
        let dir = Codes::new(&[c]);
        let bare = c.qr_payload().into_bytes();
        for (cell, &printed) in bare.iter().enumerate() {
            let s = ALPHABET.iter().position(|&a| a == printed).expect("symbol");
            // The three nearest look-alikes, and one unlike symbol.
            let mut subs = look_alikes(s);
            let unlike = subs.pop().expect("31 symbols");
            subs.truncate(3);
            subs.push(unlike);
            for sub in subs {
                let text = with_symbol(&c, cell, sub);
                let crop = crop_showing(&text, 0, 0, cell as u64);
                let reading = read(&crop).expect("line found");
                let got = resolve(&reading, &dir);
                assert!(got.is_err(), "{text} accepted as {c}: {reading:?}");
            }
        }
    }

    #[test]
    fn a_valid_code_not_in_the_directory_is_never_accepted() {
        // The printed code is valid but not in the directory; the directory holds codes two
        // symbols away from it that pass their check symbol too.
        let printed = code(11);
        let bare = printed.qr_payload().into_bytes();
        let mut near = Vec::new();
        'search: for a in 0..CODE_LEN - 1 {
            for &sa in ALPHABET {
                let mut b = bare.clone();
                if b[a] == sa {
                    continue;
                }
                b[a] = sa;
                // The check symbol fixes the last cell: the nearest valid neighbours.
                for &sl in ALPHABET {
                    b[CODE_LEN - 1] = sl;
                    if let Ok(code) = SheetCode::parse(&String::from_utf8_lossy(&b)) {
                        near.push(code);
                    }
                }
                if near.len() >= 60 {
                    break 'search;
                }
            }
        }
        assert!(near.len() >= 60);
        let dir = Codes::new(&near);
        let crop = crop_showing(&printed.printed(), 2, 1, 3);
        let reading = read(&crop).expect("line found");
        assert_eq!(reading.best_text(), printed.printed());
        assert_eq!(
            resolve(&reading, &dir).map(|s| s.code),
            Err(OcrMiss::UnknownCode(printed.printed()))
        );
    }

    #[test]
    fn doubtful_cells_are_resolved_by_the_check_symbol_and_the_directory_or_not_at_all() {
        let c = code(21);
        let dir = Codes::new(&[c]);
        let crop = crop_showing(&c.printed(), 0, 0, 5);
        let mut reading = read(&crop).expect("line found");
        // Make two cells doubtful: their best symbol becomes a wrong one, the right one close.
        for cell in [2, 9] {
            let scores = &mut reading.cells[cell].scores;
            let right = scores[0].1;
            scores[1].1 = right + 0.01;
            scores.swap(0, 1);
        }
        assert_ne!(reading.best_text(), c.printed());
        assert_eq!(resolve(&reading, &dir).map(|s| s.code), Ok(c));
        // Too many doubtful cells: not tried.
        for cell in 0..CODE_LEN {
            let scores = &mut reading.cells[cell].scores;
            scores[1].1 = scores[0].1 - 0.01;
        }
        assert_eq!(
            resolve(&reading, &dir).map(|s| s.code),
            Err(OcrMiss::TooManyDoubts(CODE_LEN))
        );
        // A cell nobody can read.
        let mut covered = read(&crop).expect("line found");
        covered.cells[4].scores.iter_mut().for_each(|s| s.1 = 0.3);
        assert!(matches!(
            resolve(&covered, &dir),
            Err(OcrMiss::Unreadable { cell: 4, .. })
        ));
    }
}
