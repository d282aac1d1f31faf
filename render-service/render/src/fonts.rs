//! The vendored DejaVu fonts (Bitstream Vera licence: free to embed and redistribute): metrics
//! for fitting text, and glyph outlines for the text of the shared sheet artwork.
//!
//! Text inside the Form XObject is drawn as filled outlines rather than font text: the form then
//! needs no font resources of its own, and the glyphs it uses need not be in the subset the pages
//! embed for the per-student text.

use ttf_parser::{Face, GlyphId, OutlineBuilder};

use crate::content::Content;

/// DejaVu Sans: labels and names.
pub(crate) const SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold: titles, names, question numbers.
pub(crate) const SANS_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");
/// DejaVu Sans Mono Bold: the printed sheet code (fixed pitch, OCR-friendly). Its home is the
/// model, because the grader's local OCR reads the code with templates from the same bytes.
pub(crate) const MONO_BOLD: &[u8] = model::layout::TEXT_ID_FONT;

/// One of the vendored faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// DejaVu Sans.
    Regular,
    /// DejaVu Sans Bold.
    Bold,
    /// DejaVu Sans Mono Bold.
    MonoBold,
}

/// The parsed faces.
pub(crate) struct Fonts {
    regular: Face<'static>,
    bold: Face<'static>,
    mono_bold: Face<'static>,
}

/// A vendored font file did not parse (a broken build, not bad input).
#[derive(Debug, thiserror::Error)]
#[error("embedded font {0} does not parse")]
pub struct FontError(pub &'static str);

impl Fonts {
    /// Parses the vendored faces.
    pub(crate) fn load() -> Result<Self, FontError> {
        let parse = |bytes: &'static [u8], name: &'static str| {
            Face::parse(bytes, 0).map_err(|_| FontError(name))
        };
        Ok(Self {
            regular: parse(SANS, "DejaVuSans")?,
            bold: parse(SANS_BOLD, "DejaVuSans-Bold")?,
            mono_bold: parse(MONO_BOLD, "DejaVuSansMono-Bold")?,
        })
    }

    fn face(&self, style: Style) -> &Face<'static> {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
            Style::MonoBold => &self.mono_bold,
        }
    }

    fn glyph(face: &Face<'_>, c: char) -> GlyphId {
        face.glyph_index(c)
            .or_else(|| face.glyph_index('?'))
            .unwrap_or(GlyphId(0))
    }

    /// Advance of `c` in font units.
    fn advance(face: &Face<'_>, c: char) -> u64 {
        u64::from(face.glyph_hor_advance(Self::glyph(face, c)).unwrap_or(0))
    }

    /// `units` font units in points at `size`.
    fn points(face: &Face<'_>, units: u64, size: f32) -> f32 {
        units as f32 * size / f32::from(face.units_per_em())
    }

    /// Width of `text` at `size` points, without kerning (the pages place glyphs the same way: by their advances, in the font's /W).
    pub(crate) fn width(&self, style: Style, text: &str, size: f32) -> f32 {
        let face = self.face(style);
        let units: u64 = text.chars().map(|c| Self::advance(face, c)).sum();
        Self::points(face, units, size)
    }

    /// Height of a capital letter at `size` points: used to centre text on a line.
    pub(crate) fn cap_height(&self, style: Style, size: f32) -> f32 {
        let face = self.face(style);
        // DejaVu's OS/2 table predates sCapHeight: measure the top of "H" instead.
        let cap = face
            .glyph_index('H')
            .and_then(|g| face.glyph_bounding_box(g))
            .map(|b| b.y_max)
            .or_else(|| face.capital_height())
            .unwrap_or(0);
        f32::from(cap) * size / f32::from(face.units_per_em())
    }

    /// The largest size ≤ `size` (and ≥ `min`) at which `text` fits in `max_width`; the text is
    /// cut with an ellipsis when it does not fit even at `min` (the longest prefix that fits, its
    /// trailing spaces dropped).
    ///
    /// Linear in the length of `text`: each glyph is measured once, and a cut's width is read off
    /// the running sums instead of measuring every candidate again.
    pub(crate) fn fit(
        &self,
        style: Style,
        text: &str,
        size: f32,
        min: f32,
        max_width: f32,
    ) -> (String, f32) {
        let face = self.face(style);
        let chars: Vec<char> = text.chars().collect();
        // prefix[k]: advance of the first k characters; kept[k]: how many of them remain once
        // trailing whitespace is trimmed.
        let mut prefix = Vec::with_capacity(chars.len() + 1);
        let mut kept = Vec::with_capacity(chars.len() + 1);
        prefix.push(0_u64);
        kept.push(0_usize);
        for (i, &c) in chars.iter().enumerate() {
            prefix.push(prefix[i] + Self::advance(face, c));
            kept.push(if c.is_whitespace() { kept[i] } else { i + 1 });
        }
        let natural = Self::points(face, prefix[chars.len()], size);
        if natural <= max_width {
            return (text.to_string(), size);
        }
        let scaled = size * max_width / natural;
        if scaled >= min {
            return (text.to_string(), scaled);
        }
        let ellipsis = Self::advance(face, '…');
        (0..chars.len())
            .rev()
            .map(|k| kept[k])
            .find(|&k| Self::points(face, prefix[k] + ellipsis, min) <= max_width)
            .map_or((String::new(), min), |k| {
                let mut cut: String = chars[..k].iter().collect();
                cut.push('…');
                (cut, min)
            })
    }

    /// Draws `text` as filled glyph outlines in the current fill colour, its baseline's left end
    /// at layout point (`x`, `baseline`).
    ///
    /// Each glyph is drawn in its own translated coordinate system, so every occurrence of a
    /// letter at a given size is the same run of bytes: the stream's deflate compression stores
    /// the 450 "A".."E" of a sheet almost for free.
    pub(crate) fn draw(
        &self,
        out: &mut Content,
        style: Style,
        text: &str,
        size: f32,
        x: f32,
        baseline: f32,
    ) {
        let face = self.face(style);
        let scale = size / f32::from(face.units_per_em());
        let mut pen = x;
        for c in text.chars() {
            let glyph = Self::glyph(face, c);
            if face.glyph_bounding_box(glyph).is_some() {
                out.push_translate(pen, baseline);
                let mut builder = GlyphPath {
                    out: &mut *out,
                    scale,
                    last: (0.0, 0.0),
                };
                face.outline_glyph(glyph, &mut builder);
                out.fill();
                out.pop();
            }
            pen += f32::from(face.glyph_hor_advance(glyph).unwrap_or(0)) * scale;
        }
    }
}

/// Feeds one glyph's outline into a content stream, scaled, in the glyph's own (translated)
/// coordinate system.
struct GlyphPath<'a> {
    out: &'a mut Content,
    scale: f32,
    /// Current point in PDF space (for converting quadratic curves).
    last: (f32, f32),
}

impl GlyphPath<'_> {
    fn at(&self, x: f32, y: f32) -> (f32, f32) {
        (x * self.scale, y * self.scale)
    }
}

impl OutlineBuilder for GlyphPath<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.out.pdf_move_to(p.0, p.1);
        self.last = p;
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.out.pdf_line_to(p.0, p.1);
        self.last = p;
    }

    fn quad_to(&mut self, x1: f32, y1: f32, x: f32, y: f32) {
        // A quadratic with control q is the cubic with controls p0 + ⅔(q − p0), p + ⅔(q − p).
        let q = self.at(x1, y1);
        let p = self.at(x, y);
        let p0 = self.last;
        let c1 = (
            p0.0 + 2.0 / 3.0 * (q.0 - p0.0),
            p0.1 + 2.0 / 3.0 * (q.1 - p0.1),
        );
        let c2 = (p.0 + 2.0 / 3.0 * (q.0 - p.0), p.1 + 2.0 / 3.0 * (q.1 - p.1));
        self.out.pdf_curve_to(c1, c2, p);
        self.last = p;
    }

    fn curve_to(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, x: f32, y: f32) {
        let c1 = self.at(x1, y1);
        let c2 = self.at(x2, y2);
        let p = self.at(x, y);
        self.out.pdf_curve_to(c1, c2, p);
        self.last = p;
    }

    fn close(&mut self) {
        self.out.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_advance_matches_the_layout_constant() {
        let fonts = Fonts::load().expect("fonts");
        let w = fonts.width(Style::MonoBold, "M", 1.0);
        assert!(
            (w - model::layout::TEXT_ID_ADVANCE_EM).abs() < 0.002,
            "advance {w}"
        );
    }

    #[test]
    fn cap_height_is_that_of_dejavu() {
        let fonts = Fonts::load().expect("fonts");
        for style in [Style::Regular, Style::Bold, Style::MonoBold] {
            let cap = fonts.cap_height(style, 1.0);
            assert!((0.70..0.75).contains(&cap), "{style:?}: {cap}");
        }
    }

    /// The fitting as it was first written (re-measuring every candidate cut): the reference
    /// the linear one must agree with.
    fn fit_by_remeasuring(
        fonts: &Fonts,
        style: Style,
        text: &str,
        size: f32,
        min: f32,
        max_width: f32,
    ) -> (String, f32) {
        let natural = fonts.width(style, text, size);
        if natural <= max_width {
            return (text.to_string(), size);
        }
        let scaled = size * max_width / natural;
        if scaled >= min {
            return (text.to_string(), scaled);
        }
        let mut cut: Vec<char> = text.chars().collect();
        while !cut.is_empty() {
            cut.pop();
            let candidate: String = cut.iter().collect::<String>().trim_end().to_string() + "…";
            if fonts.width(style, &candidate, min) <= max_width {
                return (candidate, min);
            }
        }
        (String::new(), min)
    }

    #[test]
    fn fit_agrees_with_remeasuring_every_cut() {
        let fonts = Fonts::load().expect("fonts");
        let texts = [
            "Maria Conceição Gonçalves de Albuquerque Cavalcanti",
            "Ana",
            "",
            "     ",
            "a   b   c   d   e   f   g   h   i   j   k   l   m   n   o   p",
            "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW",
            "日本語のテキスト 😀 mixed with Latin and spaces   ",
        ];
        for text in texts {
            for style in [Style::Regular, Style::Bold, Style::MonoBold] {
                for width in [0.0, 3.0, 10.0, 40.0, 150.0, 400.0] {
                    assert_eq!(
                        fonts.fit(style, text, 11.0, 7.0, width),
                        fit_by_remeasuring(&fonts, style, text, 11.0, 7.0, width),
                        "{text:?} {style:?} {width}"
                    );
                }
            }
        }
    }

    #[test]
    fn fitting_is_linear_in_the_length_of_the_text() {
        // Re-measuring every cut took 14.5 s for 20,000 characters and never finished 100,000.
        let fonts = Fonts::load().expect("fonts");
        let long = "Simulado de Matemática ".repeat(870);
        let start = std::time::Instant::now();
        let (text, size) = fonts.fit(Style::Bold, &long, 13.0, 6.0, 480.0);
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs_f32() < 1.0, "{elapsed:?}");
        assert_eq!(size, 6.0);
        assert!(text.ends_with('…') && fonts.width(Style::Bold, &text, size) <= 480.0);
    }

    #[test]
    fn fit_shrinks_then_cuts() {
        let fonts = Fonts::load().expect("fonts");
        let long = "Maria Conceição Gonçalves de Albuquerque Cavalcanti";
        let (text, size) = fonts.fit(Style::Bold, long, 11.0, 7.0, 150.0);
        assert!(fonts.width(Style::Bold, &text, size) <= 150.0);
        assert!(text.ends_with('…'));
        let (same, size) = fonts.fit(Style::Bold, "Ana", 11.0, 7.0, 150.0);
        assert_eq!((same.as_str(), size), ("Ana", 11.0));
    }
}
