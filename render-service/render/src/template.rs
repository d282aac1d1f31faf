//! The artwork every sheet of an exam shares, for one sheet page layout: corner marks, header
//! labels, instructions with example marks, question numbers, bubbles with their faint letters,
//! the student-number grid. Written once per bundle as a Form XObject and drawn on every page
//! with a single `Do`, so each extra sheet costs only its own QR code and names.

use model::Exam;
use model::layout::{MARK_HOLE, PageLayout, Rect};

use crate::content::Content;
use crate::fonts::{Fonts, Style};
use crate::labels::{Labels, format_date};

/// Grey of the letters printed inside bubbles: light enough (≈ 28% dark where the ink is) that
/// an empty bubble never reads as marked, dark enough to read.
pub(crate) const LETTER_GRAY: f32 = 0.72;
/// Size of the letters inside bubbles.
pub(crate) const LETTER_SIZE: f32 = 5.5;
/// Stroke of a bubble's outline.
pub(crate) const BUBBLE_STROKE: f32 = 0.6;
/// Size of the question numbers.
pub(crate) const NUMBER_SIZE: f32 = 8.0;
/// Grey of the small labels naming each header field.
const LABEL_GRAY: f32 = 0.35;
/// Size of those labels.
const LABEL_SIZE: f32 = 5.5;
/// Grey of frame lines.
const FRAME_GRAY: f32 = 0.55;

/// The header band of a page, cut into the fields a person reads: exam lines at the top, then a
/// box of student fields (name; class, student id, signature) with the version at its right.
pub(crate) struct HeaderCells {
    /// Left edge and width of the exam lines.
    pub x: f32,
    /// Width available to the exam lines.
    pub width: f32,
    /// Baselines of the school, title and subject/date lines.
    pub school_baseline: f32,
    pub title_baseline: f32,
    pub subject_baseline: f32,
    pub name: Rect,
    pub class: Rect,
    pub student_id: Rect,
    pub signature: Rect,
    pub version: Rect,
}

/// Width of the version cell.
const VERSION_WIDTH: f32 = 58.0;
/// Height of the exam lines above the student box.
const EXAM_LINES_HEIGHT: f32 = 44.0;

impl HeaderCells {
    /// Cuts `header` (from the shared layout) into cells.
    pub(crate) fn of(header: &Rect) -> Self {
        let top = header.y + EXAM_LINES_HEIGHT;
        let row = (header.height - EXAM_LINES_HEIGHT) / 2.0;
        let left_width = header.width - VERSION_WIDTH;
        let class_width = 72.0;
        let id_width = 100.0;
        let cell = |x: f32, y: f32, width: f32, height: f32| Rect {
            x,
            y,
            width,
            height,
        };
        Self {
            x: header.x,
            width: header.width,
            school_baseline: header.y + 10.0,
            title_baseline: header.y + 25.0,
            subject_baseline: header.y + 37.0,
            name: cell(header.x, top, left_width, row),
            class: cell(header.x, top + row, class_width, row),
            student_id: cell(header.x + class_width, top + row, id_width, row),
            signature: cell(
                header.x + class_width + id_width,
                top + row,
                left_width - class_width - id_width,
                row,
            ),
            version: cell(header.x + left_width, top, VERSION_WIDTH, 2.0 * row),
        }
    }

    /// Baseline of a value written in `cell` (below its label).
    pub(crate) fn value_baseline(cell: &Rect) -> f32 {
        cell.y + cell.height - 5.5
    }
}

/// What the shared artwork of one page depends on besides its geometry.
pub(crate) struct TemplateInput<'a> {
    pub exam: &'a Exam,
    pub layout: &'a PageLayout,
    /// Page of the answer sheet, from 1.
    pub sheet_page: usize,
    /// Pages of the answer sheet.
    pub sheet_pages: usize,
}

/// The content stream of the Form XObject for one sheet page layout.
pub(crate) fn template_stream(fonts: &Fonts, input: &TemplateInput<'_>) -> Vec<u8> {
    let layout = input.layout;
    let labels = Labels::of(input.exam.language);
    let mut c = Content::new(layout.paper.height);
    corner_marks(&mut c, layout);
    header(&mut c, fonts, input.exam, labels, &layout.header);
    instructions(&mut c, fonts, labels, &layout.instructions);
    student_number_grid(&mut c, fonts, labels, layout);
    questions(&mut c, fonts, layout);
    footer(&mut c, fonts, labels, input);
    c.into_bytes()
}

pub(crate) fn corner_marks(c: &mut Content, layout: &PageLayout) {
    c.fill_gray(0.0);
    for mark in &layout.corner_marks {
        c.rect(mark.x, mark.y, mark.size, mark.size);
        if mark.hollow {
            let inset = (mark.size - MARK_HOLE) / 2.0;
            c.rect(mark.x + inset, mark.y + inset, MARK_HOLE, MARK_HOLE);
        }
    }
    // Even-odd: the hole of the ring stays white; the solid marks have no inner path.
    c.fill_even_odd();
}

fn header(c: &mut Content, fonts: &Fonts, exam: &Exam, labels: &Labels, rect: &Rect) {
    let cells = HeaderCells::of(rect);
    let lines = [
        (
            Style::Bold,
            exam.school.clone(),
            9.0,
            0.25,
            cells.school_baseline,
        ),
        (
            Style::Bold,
            exam.title.clone(),
            13.0,
            0.0,
            cells.title_baseline,
        ),
        (
            Style::Regular,
            [
                exam.subject.clone(),
                exam.date
                    .as_deref()
                    .map(|d| format_date(d, exam.language))
                    .unwrap_or_default(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("  ·  "),
            9.0,
            0.15,
            cells.subject_baseline,
        ),
    ];
    for (style, line, size, gray, baseline) in lines {
        if line.is_empty() {
            continue;
        }
        let (line, size) = fonts.fit(style, &line, size, 6.0, cells.width);
        c.fill_gray(gray);
        fonts.draw(c, style, &line, size, cells.x, baseline);
    }

    c.stroke_gray(FRAME_GRAY);
    c.line_width(0.6);
    for cell in [
        &cells.name,
        &cells.class,
        &cells.student_id,
        &cells.signature,
        &cells.version,
    ] {
        c.rect(cell.x, cell.y, cell.width, cell.height);
    }
    c.stroke();
    c.fill_gray(LABEL_GRAY);
    for (cell, label) in [
        (&cells.name, labels.name),
        (&cells.class, labels.class),
        (&cells.student_id, labels.student_id),
        (&cells.signature, labels.signature),
        (&cells.version, labels.version),
    ] {
        fonts.draw(
            c,
            Style::Regular,
            label,
            LABEL_SIZE,
            cell.x + 3.0,
            cell.y + 2.5 + LABEL_SIZE,
        );
    }
}

/// One example bubble: its outline and the pen mark `kind` on it.
#[derive(Clone, Copy)]
enum Example {
    Filled,
    Cross,
    Tick,
    Half,
}

fn instructions(c: &mut Content, fonts: &Fonts, labels: &Labels, rect: &Rect) {
    let r = model::layout::BUBBLE_R;
    let pitch = model::layout::CHOICE_PITCH;
    let size = 7.0;
    let cy = rect.y + rect.height / 2.0;
    let correct_w = fonts.width(Style::Bold, labels.correct, size);
    let wrong_w = fonts.width(Style::Bold, labels.wrong, size);
    let examples_w = correct_w + 4.0 + pitch + 10.0 + wrong_w + 4.0 + 3.0 * pitch;
    let examples_x = rect.x + rect.width - 6.0 - examples_w;

    c.stroke_gray(FRAME_GRAY);
    c.line_width(0.5);
    c.rect(rect.x, rect.y, rect.width, rect.height);
    c.stroke();

    let text_width = examples_x - 12.0 - (rect.x + 6.0);
    c.fill_gray(0.1);
    let cap = fonts.cap_height(Style::Regular, size);
    for (i, line) in labels.instructions.iter().enumerate() {
        let (line, line_size) = fonts.fit(Style::Regular, line, size, 5.0, text_width);
        let baseline = cy + cap / 2.0 + (i as f32 - 0.5) * 10.0;
        fonts.draw(c, Style::Regular, &line, line_size, rect.x + 6.0, baseline);
    }
    let baseline = cy + fonts.cap_height(Style::Bold, size) / 2.0;
    fonts.draw(c, Style::Bold, labels.correct, size, examples_x, baseline);
    let wrong_x = examples_x + correct_w + 4.0 + pitch + 10.0;
    fonts.draw(c, Style::Bold, labels.wrong, size, wrong_x, baseline);

    let first = examples_x + correct_w + 4.0 + pitch / 2.0;
    let wrong_first = wrong_x + wrong_w + 4.0 + pitch / 2.0;
    let examples = [
        (first, Example::Filled),
        (wrong_first, Example::Cross),
        (wrong_first + pitch, Example::Tick),
        (wrong_first + 2.0 * pitch, Example::Half),
    ];
    // Bubble outlines and faint letters, as on the real bubbles.
    c.stroke_gray(0.0);
    c.line_width(BUBBLE_STROKE);
    for &(x, _) in &examples {
        c.circle(x, cy, r);
    }
    c.stroke();
    c.fill_gray(LETTER_GRAY);
    for (i, &(x, _)) in examples.iter().enumerate() {
        let letter = ["A", "B", "C", "D"][i];
        letter_in_bubble(c, fonts, letter, x, cy);
    }
    // The pen marks.
    c.fill_gray(0.08);
    c.stroke_gray(0.08);
    c.round_caps();
    c.line_width(1.1);
    for &(x, kind) in &examples {
        match kind {
            Example::Filled => {
                c.circle(x, cy, r + 0.3);
                c.fill();
            }
            Example::Half => {
                c.half_disc(x, cy, r + 0.2);
                c.fill();
            }
            Example::Cross => {
                let d = r * 0.85;
                c.move_to(x - d, cy - d);
                c.line_to(x + d, cy + d);
                c.move_to(x - d, cy + d);
                c.line_to(x + d, cy - d);
                c.stroke();
            }
            Example::Tick => {
                c.move_to(x - r * 0.75, cy);
                c.line_to(x - r * 0.15, cy + r * 0.65);
                c.line_to(x + r * 0.95, cy - r * 0.9);
                c.stroke();
            }
        }
    }
}

fn letter_in_bubble(c: &mut Content, fonts: &Fonts, letter: &str, x: f32, y: f32) {
    let w = fonts.width(Style::Regular, letter, LETTER_SIZE);
    let cap = fonts.cap_height(Style::Regular, LETTER_SIZE);
    fonts.draw(
        c,
        Style::Regular,
        letter,
        LETTER_SIZE,
        x - w / 2.0,
        y + cap / 2.0,
    );
}

fn student_number_grid(c: &mut Content, fonts: &Fonts, labels: &Labels, layout: &PageLayout) {
    let (Some(first_box), Some(_)) = (
        layout.student_number_boxes.first(),
        layout.student_number_bubbles.first(),
    ) else {
        return;
    };
    let title_baseline = first_box.y - 4.0;
    c.fill_gray(0.0);
    let title_w = fonts.width(Style::Bold, labels.student_number, 7.0);
    fonts.draw(
        c,
        Style::Bold,
        labels.student_number,
        7.0,
        first_box.x,
        title_baseline,
    );
    c.fill_gray(LABEL_GRAY);
    fonts.draw(
        c,
        Style::Regular,
        labels.student_number_hint,
        6.0,
        first_box.x + title_w + 6.0,
        title_baseline,
    );

    c.stroke_gray(FRAME_GRAY);
    c.line_width(0.6);
    for b in &layout.student_number_boxes {
        c.rect(b.x, b.y, b.width, b.height);
    }
    c.stroke();
    c.stroke_gray(0.0);
    c.line_width(BUBBLE_STROKE);
    for b in &layout.student_number_bubbles {
        c.stroke_circle_at(b.x, b.y, b.r);
    }
    c.fill_gray(LETTER_GRAY);
    for b in &layout.student_number_bubbles {
        letter_in_bubble(c, fonts, &b.value.to_string(), b.x, b.y);
    }
}

fn questions(c: &mut Content, fonts: &Fonts, layout: &PageLayout) {
    c.fill_gray(0.0);
    let cap = fonts.cap_height(Style::Bold, NUMBER_SIZE);
    for label in &layout.question_labels {
        let number = label.question.to_string();
        let w = fonts.width(Style::Bold, &number, NUMBER_SIZE);
        fonts.draw(
            c,
            Style::Bold,
            &number,
            NUMBER_SIZE,
            label.x - w,
            label.y + cap / 2.0,
        );
    }
    c.stroke_gray(0.0);
    c.line_width(BUBBLE_STROKE);
    for b in &layout.bubbles {
        c.stroke_circle_at(b.x, b.y, b.r);
    }
    c.fill_gray(LETTER_GRAY);
    for b in &layout.bubbles {
        letter_in_bubble(c, fonts, &b.choice, b.x, b.y);
    }
}

fn footer(c: &mut Content, fonts: &Fonts, labels: &Labels, input: &TemplateInput<'_>) {
    let layout = input.layout;
    let line = format!(
        "{} {} {} {}",
        labels.page, input.sheet_page, labels.of, input.sheet_pages
    );
    let size = 6.5;
    let w = fonts.width(Style::Regular, &line, size);
    let mark = &layout.corner_marks[3];
    let baseline = mark.y + mark.size / 2.0 + fonts.cap_height(Style::Regular, size) / 2.0;
    c.fill_gray(0.4);
    fonts.draw(
        c,
        Style::Regular,
        &line,
        size,
        (layout.paper.width - w) / 2.0,
        baseline,
    );
}
