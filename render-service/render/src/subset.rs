//! Font subsetting: embedded whole, the three DejaVu faces would cost ≈ 1.8 MB a bundle. The
//! bundle's real text needs only the characters of its names, classes, ids, versions and sheet
//! codes, so each bundle embeds a subset holding just those glyphs (with a Unicode cmap, so that the file is a complete font on its own).

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

/// A font reduced to some glyphs.
pub(crate) struct Subset {
    /// The subset font program (a TrueType file).
    pub program: Vec<u8>,
    /// For each glyph id of the subset, its glyph id in the original font (`.notdef` first).
    pub original_gids: Vec<u16>,
}

/// The font in `bytes` reduced to the glyphs of `chars` (and `.notdef`).
pub(crate) fn subset_font(
    bytes: &[u8],
    chars: &BTreeSet<char>,
    name: &'static str,
) -> Result<Subset, FontError> {
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
    // allsorts numbers the subset's glyphs in the order of `ids`.
    let program = subset(
        &provider,
        &ids,
        &SubsetProfile::Custom(TABLES.to_vec()),
        CmapTarget::Unicode,
    )
    .map_err(|_| FontError(name))?;
    Ok(Subset {
        program,
        original_gids: ids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_keeps_the_characters_and_shrinks() {
        let chars: BTreeSet<char> = "José Conceição 3ºA".chars().collect();
        let out = subset_font(crate::fonts::SANS, &chars, "DejaVuSans").expect("subset");
        assert!(out.program.len() < 40_000, "{} bytes", out.program.len());
        let face = ttf_parser::Face::parse(&out.program, 0).expect("parses");
        let original = ttf_parser::Face::parse(crate::fonts::SANS, 0).expect("parses");
        for c in chars {
            let gid = face.glyph_index(c).unwrap_or_else(|| panic!("{c:?} lost"));
            // The subset's numbering is the one the content streams use.
            assert_eq!(
                Some(out.original_gids[usize::from(gid.0)]),
                original.glyph_index(c).map(|g| g.0),
                "{c:?}"
            );
        }
    }
}
