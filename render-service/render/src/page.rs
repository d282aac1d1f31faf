//! What each page draws for itself, as printpdf operations: the shared artwork (one `Do`), the
//! page's QR code (one filled path), its printed sheet code, and the student's details as real
//! text in the embedded font (searchable, copyable, and what `pdftotext` reads).

use model::layout::{PageLayout, TEXT_ID_FONT_SIZE};
use model::{SheetCode, Student};
use printpdf::{
    Color, FontId, Greyscale, LinePoint, Op, PaintMode, PdfFontHandle, Point, Polygon, PolygonRing,
    Pt, TextItem, WindingOrder, XObjectId, XObjectTransform,
};

use crate::fonts::{Fonts, Style};
use crate::qr::{QrError, qr_runs};
use crate::template::HeaderCells;

/// printpdf's handles of the embedded fonts.
pub(crate) struct FontIds {
    pub regular: FontId,
    pub bold: FontId,
    pub mono_bold: FontId,
}

impl FontIds {
    fn get(&self, style: Style) -> &FontId {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
            Style::MonoBold => &self.mono_bold,
        }
    }
}

/// Who a page belongs to.
pub(crate) struct PageIdentity<'a> {
    pub code: &'a SheetCode,
    pub student: Option<&'a Student>,
    pub version: &'a str,
}

/// The operations of one page.
pub(crate) fn page_ops(
    fonts: &Fonts,
    ids: &FontIds,
    form: &XObjectId,
    layout: &PageLayout,
    who: &PageIdentity<'_>,
) -> Result<Vec<Op>, QrError> {
    let height = layout.paper.height;
    let mut ops = Vec::with_capacity(48);
    ops.push(Op::UseXobject {
        id: form.clone(),
        transform: XObjectTransform::default(),
    });
    ops.push(Op::SetFillColor {
        col: Color::Greyscale(Greyscale::new(0.0, None)),
    });

    let rings = qr_runs(who.code, &layout.qr)?
        .into_iter()
        .map(|r| {
            let (top, bottom) = (height - r.y, height - r.y - r.height);
            let corner = |x: f32, y: f32| LinePoint {
                p: Point { x: Pt(x), y: Pt(y) },
                bezier: false,
            };
            PolygonRing {
                points: vec![
                    corner(r.x, bottom),
                    corner(r.x + r.width, bottom),
                    corner(r.x + r.width, top),
                    corner(r.x, top),
                ],
            }
        })
        .collect();
    ops.push(Op::DrawPolygon {
        polygon: Polygon {
            rings,
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        },
    });

    let mut writer = TextWriter {
        ids,
        ops: &mut ops,
        height,
    };
    let id_box = &layout.text_id;
    let printed = who.code.printed();
    let id_width = fonts.width(Style::MonoBold, &printed, TEXT_ID_FONT_SIZE);
    let cap = fonts.cap_height(Style::MonoBold, TEXT_ID_FONT_SIZE);
    writer.text(
        Style::MonoBold,
        TEXT_ID_FONT_SIZE,
        id_box.x + (id_box.width - id_width) / 2.0,
        id_box.y + (id_box.height + cap) / 2.0,
        printed,
    );

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
                    value,
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
        version,
    );
    Ok(ops)
}

struct TextWriter<'a> {
    ids: &'a FontIds,
    ops: &'a mut Vec<Op>,
    height: f32,
}

impl TextWriter<'_> {
    /// One run of text, its baseline's left end at layout point (`x`, `baseline`).
    fn text(&mut self, style: Style, size: f32, x: f32, baseline: f32, text: String) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(self.ids.get(style).clone()),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(x),
                    y: Pt(self.height - baseline),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(text)],
            },
            Op::EndTextSection,
        ]);
    }
}
