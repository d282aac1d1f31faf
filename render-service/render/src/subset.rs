//! Font subsetting: printpdf 0.12 without its heavy `text_layout` feature embeds fonts whole
//! (≈ 1.8 MB for the three DejaVu faces). The bundle's real text needs only the characters of
//! its names, classes, ids, versions and sheet codes, so each bundle embeds a subset holding
//! just those glyphs (with a Unicode cmap, so printpdf maps characters as usual).

use std::collections::BTreeSet;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile, subset};
use allsorts::tag;

use crate::fonts::FontError;

/// Tables kept: what a valid font needs, plus the hinting programs the glyphs may call.
const TABLES: &[u32] = &[
    tag::CMAP,
    tag::HEAD,
    tag::HHEA,
    tag::HMTX,
    tag::MAXP,
    tag::NAME,
    tag::OS_2,
    tag::POST,
    tag::CVT,
    tag::FPGM,
    tag::PREP,
];

/// The font in `bytes` reduced to the glyphs of `chars` (and `.notdef`).
pub(crate) fn subset_font(
    bytes: &[u8],
    chars: &BTreeSet<char>,
    name: &'static str,
) -> Result<Vec<u8>, FontError> {
    let face = ttf_parser::Face::parse(bytes, 0).map_err(|_| FontError(name))?;
    let glyphs: BTreeSet<u16> = chars
        .iter()
        .filter_map(|&c| face.glyph_index(c))
        .map(|g| g.0)
        .filter(|&g| g != 0)
        .collect();
    // `.notdef` must come first.
    let ids: Vec<u16> = std::iter::once(0).chain(glyphs).collect();
    let font = ReadScope::new(bytes)
        .read::<FontData<'_>>()
        .map_err(|_| FontError(name))?;
    let provider = font.table_provider(0).map_err(|_| FontError(name))?;
    subset(
        &provider,
        &ids,
        &SubsetProfile::Custom(TABLES.to_vec()),
        CmapTarget::Unicode,
    )
    .map_err(|_| FontError(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_keeps_the_characters_and_shrinks() {
        let chars: BTreeSet<char> = "José Conceição 3ºA".chars().collect();
        let out = subset_font(crate::fonts::SANS, &chars, "DejaVuSans").expect("subset");
        assert!(out.len() < 40_000, "{} bytes", out.len());
        let face = ttf_parser::Face::parse(&out, 0).expect("parses");
        for c in chars {
            assert!(face.glyph_index(c).is_some(), "{c:?} lost");
        }
    }
}
