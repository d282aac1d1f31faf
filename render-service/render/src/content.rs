//! A minimal PDF content-stream writer, for the shared sheet artwork (the Form XObject) and
//! each page's own marks and text.
//!
//! Every method takes layout coordinates (points from the page's top-left corner, y down) and writes
//! PDF coordinates (bottom-left origin, y up): the page height is the only conversion.

use std::io::Write;

/// Bézier handle length for a quarter circle of radius 1.
pub(crate) const CIRCLE_K: f32 = 0.552_284_8;

/// Bytes of a content stream under construction.
pub(crate) struct Content {
    buf: Vec<u8>,
    page_height: f32,
}

impl Content {
    /// An empty stream for a page `page_height` points tall.
    pub(crate) fn new(page_height: f32) -> Self {
        Self {
            buf: Vec::with_capacity(64 * 1024),
            page_height,
        }
    }

    /// An empty stream for a page `page_height` points tall, expected to stay small.
    pub(crate) fn small(page_height: f32) -> Self {
        Self {
            buf: Vec::with_capacity(2 * 1024),
            page_height,
        }
    }

    /// The finished stream.
    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Converts a layout y (down from the top) to a PDF y (up from the bottom).
    pub(crate) fn pdf_y(&self, y: f32) -> f32 {
        self.page_height - y
    }

    fn num(&mut self, v: f32) {
        // Two decimals are 0.0035 mm: far below print and scan resolution, and short.
        let scaled = (v * 100.0).round() as i64;
        let (sign, abs) = if scaled < 0 {
            ("-", -scaled)
        } else {
            ("", scaled)
        };
        let (int, frac) = (abs / 100, abs % 100);
        // Writing into a Vec cannot fail.
        let _ = match frac {
            0 => write!(self.buf, "{sign}{int} "),
            f if f % 10 == 0 => write!(self.buf, "{sign}{int}.{} ", f / 10),
            f => write!(self.buf, "{sign}{int}.{f:02} "),
        };
    }

    /// Writes a PDF-space point.
    fn pdf_point(&mut self, x: f32, y: f32) {
        self.num(x);
        self.num(y);
    }

    fn op(&mut self, op: &str) {
        self.buf.extend_from_slice(op.as_bytes());
        self.buf.push(b'\n');
    }

    /// Starts a subpath at a PDF-space point.
    pub(crate) fn pdf_move_to(&mut self, x: f32, y: f32) {
        self.pdf_point(x, y);
        self.op("m");
    }

    /// Straight segment to a PDF-space point.
    pub(crate) fn pdf_line_to(&mut self, x: f32, y: f32) {
        self.pdf_point(x, y);
        self.op("l");
    }

    /// Cubic Bézier to a PDF-space point.
    pub(crate) fn pdf_curve_to(&mut self, c1: (f32, f32), c2: (f32, f32), end: (f32, f32)) {
        self.pdf_point(c1.0, c1.1);
        self.pdf_point(c2.0, c2.1);
        self.pdf_point(end.0, end.1);
        self.op("c");
    }

    /// Saves the graphics state and moves the origin to layout point (`x`, `y`): until
    /// [`Content::pop`], `pdf_*` coordinates are relative to it (y still up).
    pub(crate) fn push_translate(&mut self, x: f32, y: f32) {
        self.buf.extend_from_slice(b"q 1 0 0 1 ");
        self.num(x);
        self.num(self.pdf_y(y));
        self.op("cm");
    }

    /// Restores the graphics state saved by [`Content::push_translate`].
    pub(crate) fn pop(&mut self) {
        self.op("Q");
    }

    /// Strokes a circle (four cubic Béziers) centred on layout point (`cx`, `cy`), drawn in
    /// its own translated coordinates so that equal circles are equal bytes (see
    /// [`crate::fonts::Fonts::draw`]).
    pub(crate) fn stroke_circle_at(&mut self, cx: f32, cy: f32, r: f32) {
        self.push_translate(cx, cy);
        self.pdf_circle(0.0, 0.0, r);
        self.stroke();
        self.pop();
    }

    /// Starts a subpath at a layout point.
    pub(crate) fn move_to(&mut self, x: f32, y: f32) {
        self.pdf_move_to(x, self.pdf_y(y));
    }

    /// Straight segment to a layout point.
    pub(crate) fn line_to(&mut self, x: f32, y: f32) {
        self.pdf_line_to(x, self.pdf_y(y));
    }

    /// Closes the current subpath.
    pub(crate) fn close(&mut self) {
        self.op("h");
    }

    /// Appends a rectangle subpath; `x`, `y` its top-left corner in layout coordinates.
    pub(crate) fn rect(&mut self, x: f32, y: f32, width: f32, height: f32) {
        self.pdf_point(x, self.pdf_y(y + height));
        self.num(width);
        self.num(height);
        self.op("re");
    }

    /// Appends a circle subpath of four cubic Béziers, counter-clockwise in PDF space.
    pub(crate) fn circle(&mut self, cx: f32, cy: f32, r: f32) {
        self.pdf_circle(cx, self.pdf_y(cy), r);
    }

    /// [`Content::circle`] with a PDF-space centre.
    fn pdf_circle(&mut self, cx: f32, cy: f32, r: f32) {
        let k = CIRCLE_K * r;
        self.pdf_move_to(cx + r, cy);
        self.pdf_curve_to((cx + r, cy + k), (cx + k, cy + r), (cx, cy + r));
        self.pdf_curve_to((cx - k, cy + r), (cx - r, cy + k), (cx - r, cy));
        self.pdf_curve_to((cx - r, cy - k), (cx - k, cy - r), (cx, cy - r));
        self.pdf_curve_to((cx + k, cy - r), (cx + r, cy - k), (cx + r, cy));
        self.close();
    }

    /// Appends the right half of a circle (a half-filled bubble), closed along its diameter.
    pub(crate) fn half_disc(&mut self, cx: f32, cy: f32, r: f32) {
        let cy = self.pdf_y(cy);
        let k = CIRCLE_K * r;
        self.pdf_move_to(cx, cy + r);
        self.pdf_curve_to((cx + k, cy + r), (cx + r, cy + k), (cx + r, cy));
        self.pdf_curve_to((cx + r, cy - k), (cx + k, cy - r), (cx, cy - r));
        self.close();
    }

    /// Fills the current path (non-zero winding).
    pub(crate) fn fill(&mut self) {
        self.op("f");
    }

    /// Fills the current path with the even-odd rule (rings).
    pub(crate) fn fill_even_odd(&mut self) {
        self.op("f*");
    }

    /// Strokes the current path.
    pub(crate) fn stroke(&mut self) {
        self.op("S");
    }

    /// Sets the fill grey level (0 black, 1 white).
    pub(crate) fn fill_gray(&mut self, g: f32) {
        self.num(g);
        self.op("g");
    }

    /// Sets the stroke grey level (0 black, 1 white).
    pub(crate) fn stroke_gray(&mut self, g: f32) {
        self.num(g);
        self.op("G");
    }

    /// Sets the stroke width.
    pub(crate) fn line_width(&mut self, w: f32) {
        self.num(w);
        self.op("w");
    }

    /// Draws the Form XObject named `name` in the page's resources.
    pub(crate) fn draw_form(&mut self, name: &str) {
        let _ = writeln!(self.buf, "/{name} Do");
    }

    /// Shows `glyphs` (2-byte codes of an Identity-H font named `font` in the page's
    /// resources) at `size`, the baseline's left end at layout point (`x`, `baseline`).
    pub(crate) fn text(&mut self, font: &str, size: f32, x: f32, baseline: f32, glyphs: &[u16]) {
        let _ = write!(
            self.buf,
            "BT
/{font} "
        );
        self.num(size);
        self.op("Tf");
        self.pdf_point(x, self.pdf_y(baseline));
        self.op("Td");
        self.buf.push(b'<');
        for g in glyphs {
            let _ = write!(self.buf, "{g:04X}");
        }
        self.buf.extend_from_slice(
            b"> Tj
ET
",
        );
    }

    /// Round line caps and joins (pen-like example marks).
    pub(crate) fn round_caps(&mut self) {
        self.op("1 J 1 j");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_and_exact_to_the_hundredth() {
        let mut c = Content::new(100.0);
        for v in [0.0, 1.0, -2.5, 7.12345, 0.05, -0.004, 12.999] {
            c.num(v);
        }
        let s = String::from_utf8(c.into_bytes()).expect("ascii");
        assert_eq!(s, "0 1 -2.5 7.12 0.05 0 13 ");
    }

    #[test]
    fn text_is_glyph_codes_at_a_pdf_point() {
        let mut c = Content::new(100.0);
        c.text("F1", 10.5, 3.0, 20.0, &[1, 0x2a, 0x1234]);
        assert_eq!(
            String::from_utf8(c.into_bytes()).expect("ascii"),
            "BT\n/F1 10.5 Tf\n3 80 Td\n<0001002A1234> Tj\nET\n"
        );
    }

    #[test]
    fn rect_converts_to_bottom_left() {
        let mut c = Content::new(100.0);
        c.rect(10.0, 20.0, 5.0, 6.0);
        assert_eq!(
            String::from_utf8(c.into_bytes()).expect("ascii"),
            "10 74 5 6 re\n"
        );
    }
}
