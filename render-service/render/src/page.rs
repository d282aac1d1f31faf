//! What each page draws for itself: the shared artwork (one `Do`), the page's QR code (one
//! filled path), its printed sheet code, and the student's details as real text in the
//! embedded fonts (searchable, copyable, and what `pdftotext` reads).

use model::layout::{BookletFrame, PageFrame, PageLayout, TEXT_ID_FONT_SIZE};
use model::{SheetCode, Student};

use crate::content::Content;
use crate::embed::EmbeddedFont;
use crate::fonts::{Fonts, Style};
use crate::labels::Labels;
use crate::qr::{QrError, qr_runs};
use crate::template::HeaderCells;

/// The embedded fonts of the per-page text, by face.
pub(crate) struct PageFonts {
    pub regular: EmbeddedFont,
    pub bold: EmbeddedFont,
    pub mono_bold: EmbeddedFont,
}

impl PageFonts {
    /// The font of `style` and its name in the page resources.
    pub(crate) fn get(&self, style: Style) -> (&EmbeddedFont, &'static str) {
        match style {
            Style::Regular => (&self.regular, "F0"),
            Style::Bold => (&self.bold, "F1"),
            Style::MonoBold => (&self.mono_bold, "F2"),
        }
    }
}

/// Who a page belongs to.
pub(crate) struct PageIdentity<'a> {
    pub code: &'a SheetCode,
    pub student: Option<&'a Student>,
    pub version: &'a str,
}

/// The content stream of one page, uncompressed; `form` names its shared artwork.
pub(crate) fn page_content(
    fonts: &Fonts,
    embedded: &PageFonts,
    form: &str,
    layout: &PageLayout,
    who: &PageIdentity<'_>,
) -> Result<Vec<u8>, QrError> {
    let mut c = Content::small(layout.paper.height);
    c.draw_form(form);
    let mut writer = TextWriter {
        embedded,
        c: &mut c,
        glyphs: Vec::with_capacity(64),
    };
    draw_identity(fonts, &mut writer, &PageFrame::of(layout), who.code)?;

    let cells = HeaderCells::of(&layout.header);
    if let Some(student) = who.student {
        for (cell, value, style, size) in [
            (&cells.name, &student.name, Style::Bold, 11.0),
            (&cells.class, &student.class, Style::Regular, 10.0),
            (&cells.student_id, &student.student_id, Style::Regular, 10.0),
        ] {
            let (value, size) = fonts.fit(style, value, size, 6.0, cell.width - 6.0);
            if !value.is_empty() {
                writer.text(
                    style,
                    size,
                    cell.x + 3.0,
                    HeaderCells::value_baseline(cell),
                    &value,
                );
            }
        }
    }
    let v = &cells.version;
    let (version, size) = fonts.fit(Style::Bold, who.version, 20.0, 6.0, v.width - 6.0);
    let w = fonts.width(Style::Bold, &version, size);
    writer.text(
        Style::Bold,
        size,
        v.x + (v.width - w) / 2.0,
        v.y + 9.0 + (v.height - 9.0 + fonts.cap_height(Style::Bold, size)) / 2.0,
        &version,
    );
    Ok(c.into_bytes())
}

/// The page's QR code (one filled path) and its printed text id under it: the same codec and
/// geometry on answer-sheet and booklet pages.
fn draw_identity(
    fonts: &Fonts,
    writer: &mut TextWriter<'_>,
    frame: &PageFrame,
    code: &SheetCode,
) -> Result<(), QrError> {
    writer.c.fill_gray(0.0);
    for r in qr_runs(code, &frame.qr)? {
        writer.c.rect(r.x, r.y, r.width, r.height);
    }
    writer.c.fill();
    let id_box = &frame.text_id;
    let printed = code.printed();
    let id_width = fonts.width(Style::MonoBold, &printed, TEXT_ID_FONT_SIZE);
    let cap = fonts.cap_height(Style::MonoBold, TEXT_ID_FONT_SIZE);
    writer.text(
        Style::MonoBold,
        TEXT_ID_FONT_SIZE,
        id_box.x + (id_box.width - id_width) / 2.0,
        id_box.y + (id_box.height + cap) / 2.0,
        &printed,
    );
    Ok(())
}

/// A booklet page of one student.
pub(crate) struct BookletPage<'a> {
    /// The typeset page's Form XObject name, and its media box origin.
    pub form: &'a str,
    pub origin: (f32, f32),
    pub frame: &'a BookletFrame,
    /// The frame as a layout (corner marks).
    pub layout: &'a PageLayout,
    pub labels: &'a Labels,
    /// Page of the booklet and pages in it.
    pub page: u32,
    pub pages: u32,
}

/// The content stream of one student's booklet page, uncompressed: the typeset page (one
/// `Do`), then the overlay: corner marks, QR code and text id, and the student's name, class
/// and id in the personal band.
pub(crate) fn booklet_content(
    fonts: &Fonts,
    embedded: &PageFonts,
    page: &BookletPage<'_>,
    who: &PageIdentity<'_>,
) -> Result<Vec<u8>, QrError> {
    let mut c = Content::small(page.layout.paper.height);
    if page.origin == (0.0, 0.0) {
        c.draw_form(page.form);
    } else {
        c.push_translate(-page.origin.0, page.layout.paper.height + page.origin.1);
        c.draw_form(page.form);
        c.pop();
    }
    crate::template::corner_marks(&mut c, page.layout);
    let mut writer = TextWriter {
        embedded,
        c: &mut c,
        glyphs: Vec::with_capacity(64),
    };
    draw_identity(fonts, &mut writer, &page.frame.frame, who.code)?;

    let band = &page.frame.personal;
    let labels = page.labels;
    let (x, width) = (band.x, band.width);
    let first = band.y + 12.0;
    let second = first + 14.0;
    writer.c.fill_gray(0.0);
    if let Some(student) = who.student {
        let line = format!("{}: {}", labels.name, student.name);
        let (line, size) = fonts.fit(Style::Bold, &line, 11.0, 6.0, width);
        writer.text(Style::Bold, size, x, first, &line);
    }
    let mut parts = Vec::with_capacity(4);
    if let Some(student) = who.student {
        if !student.class.is_empty() {
            parts.push(format!("{}: {}", labels.class, student.class));
        }
        parts.push(format!("{}: {}", labels.student_id, student.student_id));
    }
    parts.push(format!("{}: {}", labels.version, who.version));
    parts.push(format!(
        "{} {}/{}",
        labels.booklet_page, page.page, page.pages
    ));
    let line = parts.join("   ");
    let (line, size) = fonts.fit(Style::Regular, &line, 9.0, 6.0, width);
    writer.text(Style::Regular, size, x, second, &line);
    Ok(c.into_bytes())
}

struct TextWriter<'a> {
    embedded: &'a PageFonts,
    c: &'a mut Content,
    glyphs: Vec<u16>,
}

impl TextWriter<'_> {
    /// One run of text, its baseline's left end at layout point (`x`, `baseline`).
    fn text(&mut self, style: Style, size: f32, x: f32, baseline: f32, text: &str) {
        let (font, name) = self.embedded.get(style);
        self.glyphs.clear();
        font.encode(text, &mut self.glyphs);
        self.c.text(name, size, x, baseline, &self.glyphs);
    }
}
