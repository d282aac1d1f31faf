//! The fonts of the per-page text (names, classes, ids, versions, printed sheet codes) as
//! embedded in the PDF: a subset of each face, written as a Type 0 font with Identity-H
//! encoding, so that a content stream shows text as the subset's glyph ids.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Chunk, Filter, Finish, Name, Rect, Ref, Str};
use ttf_parser::Face;

use crate::fonts::FontError;
use crate::pdf::PdfStream;
use crate::subset::subset_font;

/// One face, subset to what a bundle prints with it.
pub(crate) struct EmbeddedFont {
    /// `/BaseFont`: the face's name with a subset tag.
    base_font: String,
    /// The subset font program.
    program: Vec<u8>,
    /// The subset glyph id of each character the bundle may print.
    glyphs: BTreeMap<char, u16>,
    /// The glyph printed for a character the face lacks (`?`, as [`crate::fonts::Fonts`]
    /// measures it), or `.notdef`.
    fallback: u16,
    /// Advance of each subset glyph, in thousandths of an em.
    widths: Vec<f32>,
    metrics: Metrics,
}

/// What a font descriptor says of the face, in thousandths of an em.
struct Metrics {
    ascent: f32,
    descent: f32,
    cap_height: f32,
    bbox: Rect,
    italic_angle: f32,
    stem_v: f32,
}

/// The objects of one embedded font, in the order [`EmbeddedFont::write`] fills them.
#[derive(Clone, Copy)]
pub(crate) struct FontRefs {
    /// The Type 0 font: what page resources name.
    pub type0: Ref,
    pub cid_font: Ref,
    pub descriptor: Ref,
    pub program: Ref,
    pub to_unicode: Ref,
}

impl EmbeddedFont {
    /// `bytes` (a vendored face called `name`) subset to `chars`.
    pub(crate) fn new(
        bytes: &'static [u8],
        chars: &BTreeSet<char>,
        name: &'static str,
    ) -> Result<Self, FontError> {
        let face = Face::parse(bytes, 0).map_err(|_| FontError(name))?;
        let subset = subset_font(bytes, chars, name)?;
        let by_original: BTreeMap<u16, u16> = subset
            .original_gids
            .iter()
            .enumerate()
            .filter_map(|(new, &old)| Some((old, u16::try_from(new).ok()?)))
            .collect();
        let glyphs: BTreeMap<char, u16> = chars
            .iter()
            .filter_map(|&c| Some((c, *by_original.get(&face.glyph_index(c)?.0)?)))
            .filter(|&(_, g)| g != 0)
            .collect();
        let fallback = face
            .glyph_index('?')
            .and_then(|g| by_original.get(&g.0).copied())
            .unwrap_or(0);
        let em = f32::from(face.units_per_em());
        let thousandths = |units: f32| (units * 1000.0 / em).round();
        let widths = subset
            .original_gids
            .iter()
            .map(|&g| {
                thousandths(f32::from(
                    face.glyph_hor_advance(ttf_parser::GlyphId(g)).unwrap_or(0),
                ))
            })
            .collect();
        let b = face.global_bounding_box();
        let weight = f32::from(face.weight().to_number());
        let metrics = Metrics {
            ascent: thousandths(f32::from(face.ascender())),
            descent: thousandths(f32::from(face.descender())),
            // DejaVu's OS/2 table predates sCapHeight: the top of "H", as Fonts measures it.
            cap_height: thousandths(f32::from(
                face.glyph_index('H')
                    .and_then(|g| face.glyph_bounding_box(g))
                    .map_or(face.ascender(), |r| r.y_max),
            )),
            bbox: Rect::new(
                thousandths(f32::from(b.x_min)),
                thousandths(f32::from(b.y_min)),
                thousandths(f32::from(b.x_max)),
                thousandths(f32::from(b.y_max)),
            ),
            italic_angle: face.italic_angle(),
            // No table holds the stem width; the usual estimate from the weight class.
            stem_v: (50.0 + (weight / 65.0).powi(2)).round(),
        };
        Ok(Self {
            // The "six capitals +" prefix tells readers the embedded program is a subset.
            base_font: format!("GBRTSB+{name}"),
            program: subset.program,
            glyphs,
            fallback,
            widths,
            metrics,
        })
    }

    /// The glyph ids that show `text`, appended to `out`.
    pub(crate) fn encode(&self, text: &str, out: &mut Vec<u16>) {
        out.extend(
            text.chars()
                .map(|c| self.glyphs.get(&c).copied().unwrap_or(self.fallback)),
        );
    }

    /// Writes the font's five objects to `pdf`.
    pub(crate) fn write<W: Write>(&self, refs: FontRefs, pdf: &mut PdfStream<W>) -> io::Result<()> {
        let name = Name(self.base_font.as_bytes());
        let system_info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };

        let mut c = Chunk::new();
        c.type0_font(refs.type0)
            .base_font(name)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(refs.cid_font)
            .to_unicode(refs.to_unicode);
        pdf.object(&c)?;

        let mut c = Chunk::new();
        let mut cid = c.cid_font(refs.cid_font);
        cid.subtype(CidFontType::Type2)
            .base_font(name)
            .system_info(system_info)
            .font_descriptor(refs.descriptor)
            .default_width(1000.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cid.widths().consecutive(0, self.widths.iter().copied());
        cid.finish();
        pdf.object(&c)?;

        let m = &self.metrics;
        let mut c = Chunk::new();
        c.font_descriptor(refs.descriptor)
            .name(name)
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(m.bbox)
            .italic_angle(m.italic_angle)
            .ascent(m.ascent)
            .descent(m.descent)
            .cap_height(m.cap_height)
            .stem_v(m.stem_v)
            .font_file2(refs.program);
        pdf.object(&c)?;

        let compressed = crate::pdf::deflate(&self.program);
        let mut c = Chunk::new();
        c.stream(refs.program, &compressed)
            .filter(Filter::FlateDecode)
            .pair(
                Name(b"Length1"),
                i32::try_from(self.program.len()).unwrap_or(i32::MAX),
            );
        pdf.object(&c)?;

        let mut cmap = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), system_info);
        let mut mapped = BTreeSet::new();
        for (&c, &g) in &self.glyphs {
            // A glyph shared by several characters reads back as the first.
            if mapped.insert(g) {
                cmap.pair(g, c);
            }
        }
        let cmap = crate::pdf::deflate(&cmap.finish());
        let mut c = Chunk::new();
        let mut stream = c.cmap(refs.to_unicode, &cmap);
        stream.name(Name(b"Custom")).system_info(system_info);
        stream.filter(Filter::FlateDecode);
        stream.finish();
        pdf.object(&c)
    }
}
