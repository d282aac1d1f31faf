//! Sheet geometry: where every mark of an answer sheet is, computed in one place so that the
//! renderer draws exactly what the grader looks for.
//!
//! All lengths are PDF points (1/72 in), measured from the page's **top-left** corner, y down.
//! The layout of a sheet depends only on its [`SheetShape`] (paper, choices per question,
//! anonymous or not) and on [`LAYOUT_VERSION`]; it is also written out with every page in
//! `bundle.json`, so a sheet printed today still grades after this code changes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exam::{Choices, Exam, Language, Paper};

/// Bumped whenever the geometry below changes.
pub const LAYOUT_VERSION: u32 = 1;

/// Points per millimetre.
pub const PT_PER_MM: f32 = 72.0 / 25.4;

/// Distance from each page edge to the outer side of a corner mark (10 mm: survives scanner
/// cropping and printer margins).
pub const MARK_INSET: f32 = 10.0 * PT_PER_MM;
/// Side of a corner mark (5 mm).
pub const MARK_SIZE: f32 = 5.0 * PT_PER_MM;
/// The top-left mark is a ring, so that rotation shows even when the QR code is destroyed:
/// side of its white centre.
pub const MARK_HOLE: f32 = MARK_SIZE * 0.5;
/// Side of one QR module. 3 pt ≈ 1.06 mm: 6 px at 150 dpi, 12 px at 300 dpi.
pub const QR_MODULE: f32 = 3.0;
/// Modules per side of the version-1 QR code that holds a sheet code.
pub const QR_MODULES: u32 = 21;
/// White margin around the QR code, in modules (the QR standard asks for 4).
pub const QR_QUIET_MODULES: u32 = 4;
/// Font size of the printed sheet code under the QR.
pub const TEXT_ID_FONT_SIZE: f32 = 13.0;
/// The font of the printed sheet code, DejaVu Sans Mono Bold (Bitstream Vera licence, see
/// `fonts/LICENSE-DejaVu.txt`): the renderer embeds it, the grader's local OCR renders its
/// templates from it, so both read the same bytes.
pub const TEXT_ID_FONT: &[u8] = include_bytes!("../fonts/DejaVuSansMono-Bold.ttf");
/// Advance width of one monospaced character of the text id, in em.
pub const TEXT_ID_ADVANCE_EM: f32 = 0.602;
/// Radius of an answer bubble (diameter ≈ 3.2 mm).
pub const BUBBLE_R: f32 = 4.6;
/// Horizontal distance between the centres of neighbouring bubbles.
pub const CHOICE_PITCH: f32 = 13.5;
/// Vertical distance between the centres of neighbouring question rows.
pub const ROW_PITCH: f32 = 12.5;
/// Extra space after every block of [`BLOCK_ROWS`] rows.
pub const BLOCK_GAP: f32 = 4.5;
/// Rows per block (questions are grouped in fives).
pub const BLOCK_ROWS: usize = 5;
/// Width reserved left of the bubbles for the question number.
pub const NUMBER_WIDTH: f32 = 20.0;
/// Space between question columns.
pub const COLUMN_GAP: f32 = 10.0;
/// Most questions on one page; more go on further pages of the same sheet.
pub const MAX_QUESTIONS_PER_PAGE: usize = 200;
/// Height of the header band (school, exam, student) below the top corner marks.
pub const HEADER_HEIGHT: f32 = 96.0;
/// Height of the instructions band (with the example of a correct mark).
pub const INSTRUCTIONS_HEIGHT: f32 = 30.0;
/// Height of the student-number block on anonymous sheets: title, written-digit boxes, 10 rows.
pub const STUDENT_NUMBER_HEIGHT: f32 = 12.0 + 16.0 + 10.0 * ROW_PITCH + 10.0;

/// A rectangle, top-left origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Rect {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// Page size in points.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PageSize {
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
}

/// A square registration mark. `x`, `y` are its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CornerMark {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Side.
    pub size: f32,
    /// A ring (white centre of side [`MARK_HOLE`]) rather than a filled square: only the
    /// top-left mark, which tells the sheet's rotation.
    pub hollow: bool,
}

impl CornerMark {
    /// Centre of the mark.
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.size / 2.0, self.y + self.size / 2.0)
    }
}

/// Where the QR code is: `x`, `y` the top-left of its modules (quiet zone outside), `size` the
/// side of the module area.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QrPlacement {
    /// Left edge of the modules.
    pub x: f32,
    /// Top edge of the modules.
    pub y: f32,
    /// Side of the module area.
    pub size: f32,
}

/// One answer bubble: centre and radius.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Bubble {
    /// Question number as printed, from 1.
    pub question: u32,
    /// The choice's printed label ("A", "B", … or "C"/"E", "T"/"F").
    pub choice: String,
    /// Centre, x.
    pub x: f32,
    /// Centre, y.
    pub y: f32,
    /// Radius.
    pub r: f32,
}

/// One bubble of the student-number grid of an anonymous sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DigitBubble {
    /// Position of the digit in the number, from 1 (leftmost).
    pub digit: u32,
    /// The value this bubble stands for, 0–9.
    pub value: u32,
    /// Centre, x.
    pub x: f32,
    /// Centre, y.
    pub y: f32,
    /// Radius.
    pub r: f32,
}

/// Where a question number is printed: right-aligned at `x`, vertically centred on `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuestionLabel {
    /// Question number, from 1.
    pub question: u32,
    /// Right edge of the number.
    pub x: f32,
    /// Vertical centre of the row.
    pub y: f32,
}

/// The geometry of one page of an answer sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PageLayout {
    /// Page size.
    pub paper: PageSize,
    /// Registration marks: top-left (hollow), top-right, bottom-right, bottom-left.
    pub corner_marks: [CornerMark; 4],
    /// The QR code holding the sheet code.
    pub qr: QrPlacement,
    /// The box of the printed sheet code under the QR code.
    pub text_id: Rect,
    /// Band for school, exam and student (left of the QR code).
    pub header: Rect,
    /// Band for the instructions and the example marks.
    pub instructions: Rect,
    /// Answer bubbles, question by question, choice by choice.
    pub bubbles: Vec<Bubble>,
    /// Where question numbers are printed.
    pub question_labels: Vec<QuestionLabel>,
    /// The student-number grid, on the first page of anonymous sheets only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub student_number_bubbles: Vec<DigitBubble>,
    /// Boxes above the student-number grid where the student writes the digits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub student_number_boxes: Vec<Rect>,
}

/// The part of a page's geometry that does not depend on the questions: what the grader needs
/// to align a page and find its identity before it knows which sheet it is. Every page printed
/// on one paper size has the same frame ([`page_frame`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageFrame {
    /// Page size.
    pub paper: PageSize,
    /// Registration marks: top-left (hollow), top-right, bottom-right, bottom-left.
    pub corner_marks: [CornerMark; 4],
    /// The QR code.
    pub qr: QrPlacement,
    /// The printed text id.
    pub text_id: Rect,
}

impl PageFrame {
    /// The frame of a laid-out page.
    pub fn of(layout: &PageLayout) -> Self {
        Self {
            paper: layout.paper,
            corner_marks: layout.corner_marks,
            qr: layout.qr,
            text_id: layout.text_id,
        }
    }

    /// Centres of the corner marks, in layout order.
    pub fn mark_centres(&self) -> [(f32, f32); 4] {
        self.corner_marks.map(|m| m.center())
    }
}

/// The frame of every page laid out on `paper` (the same [`Frame`] [`layout_sheet`] draws on).
pub fn page_frame(paper: Paper) -> PageFrame {
    let (width, height) = paper.size_pt();
    Frame::new(width, height).page_frame()
}

/// Where a booklet page's parts go. A booklet page carries the same frame as an answer sheet
/// (corner marks, QR code, printed text id), so the grader aligns and identifies a scanned
/// booklet page exactly as it does a sheet; the typesetter fills only [`BookletFrame::body`],
/// and the per-student overlay draws the frame and the [`BookletFrame::personal`] band.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BookletFrame {
    /// The marks, QR and text id, as on every answer sheet page of this paper size.
    pub frame: PageFrame,
    /// The student's name, class and id: the band left of the QR code, drawn per student.
    pub personal: Rect,
    /// Where the typeset content (running header, questions, page footer) goes; the
    /// typesetter leaves everything outside it blank.
    pub body: Rect,
}

/// The frame of every booklet page printed on `paper`.
pub fn booklet_frame(paper: Paper) -> BookletFrame {
    let (width, height) = paper.size_pt();
    Frame::new(width, height).booklet_frame()
}

/// The geometry registered for a booklet page printed on `paper`: the answer sheet's frame
/// (corner marks, QR code, text id) with no bubbles, and the personal band as its header. The
/// grader aligns and identifies a scanned booklet page with it, and finds nothing to read.
pub fn booklet_page_layout(paper: Paper) -> PageLayout {
    let (width, height) = paper.size_pt();
    let frame = Frame::new(width, height);
    let booklet = frame.booklet_frame();
    let mut page = frame.empty_page();
    page.header = booklet.personal;
    page.instructions = Rect {
        x: booklet.body.x,
        y: booklet.body.y,
        width: 0.0,
        height: 0.0,
    };
    page
}

/// What a sheet's geometry depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetShape {
    /// Paper size.
    pub paper: Paper,
    /// Label language (true/false bubbles print C/E or T/F).
    pub language: Language,
    /// Choices of every question, in order.
    pub choices: Vec<Choices>,
    /// Digits of the student-number grid, for anonymous sheets; `None` when a roster names the
    /// student.
    pub student_number_digits: Option<u8>,
}

impl SheetShape {
    /// The shape of an exam's sheets, anonymous (with a student-number grid) or not.
    pub fn of(exam: &Exam, anonymous: bool) -> Self {
        Self {
            paper: exam.paper,
            language: exam.language,
            choices: exam.questions.iter().map(|q| q.choices).collect(),
            student_number_digits: anonymous.then_some(exam.student_number_digits),
        }
    }
}

/// The pages of one answer sheet: one page up to [`MAX_QUESTIONS_PER_PAGE`] questions (fewer for
/// many choices or anonymous sheets), then further pages.
pub fn layout_sheet(shape: &SheetShape) -> Vec<PageLayout> {
    let (width, height) = shape.paper.size_pt();
    let max_choices = shape.choices.iter().map(|c| c.count()).max().unwrap_or(2);
    let column_width = NUMBER_WIDTH + f32::from(max_choices) * CHOICE_PITCH + COLUMN_GAP;
    let frame = Frame::new(width, height);
    let mut pages = Vec::new();
    let mut next_question = 0usize;
    while next_question < shape.choices.len() || pages.is_empty() {
        let first_page = pages.is_empty();
        let mut page = frame.empty_page();
        let mut area = frame.question_area();
        if first_page && let Some(digits) = shape.student_number_digits {
            let (bubbles, boxes) = student_number_grid(area.x, area.y, digits);
            page.student_number_bubbles = bubbles;
            page.student_number_boxes = boxes;
            area.y += STUDENT_NUMBER_HEIGHT + 8.0;
            area.height -= STUDENT_NUMBER_HEIGHT + 8.0;
        }
        let columns_fit = (((area.width + COLUMN_GAP) / column_width).floor() as usize).max(1);
        let block_height = BLOCK_ROWS as f32 * ROW_PITCH + BLOCK_GAP;
        let blocks_fit = (((area.height + BLOCK_GAP) / block_height).floor() as usize).max(1);
        let rows_fit = blocks_fit * BLOCK_ROWS;
        let capacity = (columns_fit * rows_fit).min(MAX_QUESTIONS_PER_PAGE);
        let here = (shape.choices.len() - next_question).min(capacity);
        if here > 0 {
            let columns = columns_fit.min(here.div_ceil(BLOCK_ROWS));
            let rows = here.div_ceil(columns).div_ceil(BLOCK_ROWS) * BLOCK_ROWS;
            let used_width = columns as f32 * column_width - COLUMN_GAP;
            let x_start = area.x + (area.width - used_width) / 2.0;
            for i in 0..here {
                let q = next_question + i;
                let (col, row) = (i / rows, i % rows);
                let left = x_start + col as f32 * column_width;
                let cy = area.y
                    + (row / BLOCK_ROWS) as f32 * block_height
                    + (row % BLOCK_ROWS) as f32 * ROW_PITCH
                    + ROW_PITCH / 2.0;
                let number = q as u32 + 1;
                page.question_labels.push(QuestionLabel {
                    question: number,
                    x: left + NUMBER_WIDTH - 4.0,
                    y: cy,
                });
                for (k, label) in shape.choices[q]
                    .labels(shape.language)
                    .into_iter()
                    .enumerate()
                {
                    page.bubbles.push(Bubble {
                        question: number,
                        choice: label,
                        x: left + NUMBER_WIDTH + CHOICE_PITCH / 2.0 + k as f32 * CHOICE_PITCH,
                        y: cy,
                        r: BUBBLE_R,
                    });
                }
            }
        }
        next_question += here;
        pages.push(page);
    }
    pages
}

fn student_number_grid(x: f32, y: f32, digits: u8) -> (Vec<DigitBubble>, Vec<Rect>) {
    let mut bubbles = Vec::new();
    let mut boxes = Vec::new();
    let left = x + NUMBER_WIDTH;
    let boxes_top = y + 12.0;
    let grid_top = boxes_top + 16.0;
    for d in 0..u32::from(digits) {
        let cx = left + CHOICE_PITCH / 2.0 + d as f32 * CHOICE_PITCH;
        boxes.push(Rect {
            x: cx - CHOICE_PITCH / 2.0 + 1.0,
            y: boxes_top,
            width: CHOICE_PITCH - 2.0,
            height: 14.0,
        });
        for value in 0..10 {
            bubbles.push(DigitBubble {
                digit: d + 1,
                value,
                x: cx,
                y: grid_top + value as f32 * ROW_PITCH + ROW_PITCH / 2.0,
                r: BUBBLE_R,
            });
        }
    }
    (bubbles, boxes)
}

/// The parts of a page that do not depend on the questions.
struct Frame {
    width: f32,
    height: f32,
}

impl Frame {
    fn new(width: f32, height: f32) -> Self {
        Self { width, height }
    }

    fn left(&self) -> f32 {
        MARK_INSET
    }

    fn right(&self) -> f32 {
        self.width - MARK_INSET
    }

    fn qr(&self) -> QrPlacement {
        let size = QR_MODULES as f32 * QR_MODULE;
        QrPlacement {
            x: self.right() - size,
            y: MARK_INSET + MARK_SIZE + QR_QUIET_MODULES as f32 * QR_MODULE + 2.0,
            size,
        }
    }

    fn text_id(&self) -> Rect {
        let qr = self.qr();
        let width =
            crate::sheet_code::PRINTED_LEN as f32 * TEXT_ID_ADVANCE_EM * TEXT_ID_FONT_SIZE + 4.0;
        Rect {
            x: self.right() - width,
            y: qr.y + qr.size + QR_QUIET_MODULES as f32 * QR_MODULE,
            width,
            height: TEXT_ID_FONT_SIZE + 4.0,
        }
    }

    fn header(&self) -> Rect {
        let y = MARK_INSET + MARK_SIZE + 6.0;
        let right = self.text_id().x - 12.0;
        Rect {
            x: self.left(),
            y,
            width: right - self.left(),
            height: HEADER_HEIGHT,
        }
    }

    fn instructions(&self) -> Rect {
        let header = self.header();
        let top = (header.y + header.height).max(self.text_id().y + self.text_id().height) + 4.0;
        Rect {
            x: self.left(),
            y: top,
            width: self.right() - self.left(),
            height: INSTRUCTIONS_HEIGHT,
        }
    }

    fn question_area(&self) -> Rect {
        let instructions = self.instructions();
        let top = instructions.y + instructions.height + 8.0;
        let bottom = self.height - MARK_INSET - MARK_SIZE - 8.0;
        Rect {
            x: self.left(),
            y: top,
            width: self.right() - self.left(),
            height: bottom - top,
        }
    }

    fn corner_marks(&self) -> [CornerMark; 4] {
        let near = MARK_INSET;
        let far_x = self.width - MARK_INSET - MARK_SIZE;
        let far_y = self.height - MARK_INSET - MARK_SIZE;
        let mark = |x, y, hollow| CornerMark {
            x,
            y,
            size: MARK_SIZE,
            hollow,
        };
        [
            mark(near, near, true),
            mark(far_x, near, false),
            mark(far_x, far_y, false),
            mark(near, far_y, false),
        ]
    }

    fn page_frame(&self) -> PageFrame {
        PageFrame {
            paper: PageSize {
                width: self.width,
                height: self.height,
            },
            corner_marks: self.corner_marks(),
            qr: self.qr(),
            text_id: self.text_id(),
        }
    }

    fn booklet_frame(&self) -> BookletFrame {
        let header = self.header();
        let text_id = self.text_id();
        let personal_bottom = text_id.y + text_id.height;
        let body_top = personal_bottom + 8.0;
        // Below the bottom corner marks' top edge, nothing typeset: the marks need a clear
        // margin to be found.
        let body_bottom = self.height - MARK_INSET - MARK_SIZE - 6.0;
        BookletFrame {
            frame: self.page_frame(),
            personal: Rect {
                x: header.x,
                y: header.y,
                width: header.width,
                height: personal_bottom - header.y,
            },
            body: Rect {
                x: self.left(),
                y: body_top,
                width: self.right() - self.left(),
                height: body_bottom - body_top,
            },
        }
    }

    fn empty_page(&self) -> PageLayout {
        let frame = self.page_frame();
        PageLayout {
            paper: frame.paper,
            corner_marks: frame.corner_marks,
            qr: frame.qr,
            text_id: frame.text_id,
            header: self.header(),
            instructions: self.instructions(),
            bubbles: Vec::new(),
            question_labels: Vec::new(),
            student_number_bubbles: Vec::new(),
            student_number_boxes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(paper: Paper, n: usize, choices: Choices, digits: Option<u8>) -> SheetShape {
        SheetShape {
            paper,
            language: Language::PtBr,
            choices: vec![choices; n],
            student_number_digits: digits,
        }
    }

    fn inside(r: &Rect, x: f32, y: f32) -> bool {
        x >= r.x && x <= r.x + r.width && y >= r.y && y <= r.y + r.height
    }

    fn overlaps(a: &Rect, b: &Rect) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn a_booklet_body_leaves_the_frame_and_the_personal_band_clear() {
        for paper in [Paper::A4, Paper::Letter] {
            let b = booklet_frame(paper);
            assert_eq!(b.frame, page_frame(paper));
            let qr = Rect {
                x: b.frame.qr.x,
                y: b.frame.qr.y,
                width: b.frame.qr.size,
                height: b.frame.qr.size,
            };
            for clear in [qr, b.frame.text_id, b.personal] {
                assert!(!overlaps(&b.body, &clear), "{paper:?}: body over {clear:?}");
            }
            for m in b.frame.corner_marks {
                let mark = Rect {
                    x: m.x,
                    y: m.y,
                    width: m.size,
                    height: m.size,
                };
                assert!(
                    !overlaps(&b.body, &mark),
                    "{paper:?}: body over a corner mark"
                );
                assert!(
                    !overlaps(&b.personal, &mark),
                    "{paper:?}: personal band over a mark"
                );
            }
            assert!(!overlaps(&b.personal, &qr));
            assert!(
                b.body.height > 0.7 * b.frame.paper.height,
                "{paper:?}: {:?}",
                b.body
            );
        }
    }

    #[test]
    fn two_hundred_five_choice_questions_fit_one_page_on_both_papers() {
        for paper in [Paper::A4, Paper::Letter] {
            let pages = layout_sheet(&shape(paper, 200, Choices::Count(5), None));
            assert_eq!(pages.len(), 1, "{paper:?}");
            assert_eq!(pages[0].bubbles.len(), 1000);
        }
    }

    #[test]
    fn long_exams_continue_on_further_pages() {
        let pages = layout_sheet(&shape(Paper::A4, 450, Choices::Count(5), None));
        assert_eq!(pages.len(), 3);
        let last = pages[2].bubbles.last().expect("bubbles");
        assert_eq!(last.question, 450);
        assert_eq!(last.choice, "E");
    }

    #[test]
    fn bubbles_stay_clear_of_marks_qr_and_each_other() {
        for paper in [Paper::A4, Paper::Letter] {
            for (n, choices, digits) in [
                (200, Choices::Count(5), None),
                (90, Choices::Count(5), Some(8)),
                (135, Choices::Count(10), Some(12)),
                (
                    60,
                    Choices::TrueFalse(crate::exam::TrueFalse::TrueFalse),
                    None,
                ),
            ] {
                for page in layout_sheet(&shape(paper, n, choices, digits)) {
                    let q = page.qr;
                    let quiet = QR_QUIET_MODULES as f32 * QR_MODULE;
                    let qr_zone = Rect {
                        x: q.x - quiet,
                        y: q.y - quiet,
                        width: q.size + 2.0 * quiet,
                        height: q.size + 2.0 * quiet,
                    };
                    assert!(
                        page.text_id.y >= qr_zone.y + qr_zone.height,
                        "text id in the QR quiet zone"
                    );
                    let mut centres: Vec<(f32, f32, f32)> =
                        page.bubbles.iter().map(|b| (b.x, b.y, b.r)).collect();
                    centres.extend(page.student_number_bubbles.iter().map(|b| (b.x, b.y, b.r)));
                    for &(x, y, r) in &centres {
                        assert!(
                            x - r > MARK_INSET && x + r < page.paper.width - MARK_INSET,
                            "{paper:?} x {x}"
                        );
                        assert!(
                            y + r < page.paper.height - MARK_INSET - MARK_SIZE,
                            "{paper:?} y {y}"
                        );
                        assert!(!inside(&qr_zone, x, y) && !inside(&page.text_id, x, y));
                        assert!(y - r > page.instructions.y + page.instructions.height);
                    }
                    for (i, a) in centres.iter().enumerate() {
                        for b in &centres[i + 1..] {
                            let d = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
                            assert!(d > a.2 + b.2 + 2.0, "bubbles overlap at {a:?} {b:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn only_the_top_left_mark_is_hollow() {
        let page = &layout_sheet(&shape(Paper::A4, 10, Choices::Count(5), None))[0];
        let hollow: Vec<bool> = page.corner_marks.iter().map(|m| m.hollow).collect();
        assert_eq!(hollow, vec![true, false, false, false]);
    }

    #[test]
    fn every_page_of_a_paper_has_its_page_frame() {
        for paper in [Paper::A4, Paper::Letter] {
            for digits in [None, Some(8)] {
                for page in layout_sheet(&shape(paper, 450, Choices::Count(4), digits)) {
                    assert_eq!(PageFrame::of(&page), page_frame(paper));
                }
            }
        }
    }
}
