//! The embedded DejaVu faces, reduced to the glyphs a document uses.
//!
//! printpdf 0.12.8 subsets only with its `text_layout` feature (the azul layout engine and
//! fontconfig); without it, it embeds whatever font program it is given, whole. So the subset
//! is made here, with the same `allsorts` printpdf links, and handed to printpdf as the font:
//! its own `cmap` maps exactly the used characters to the renumbered glyphs, from which printpdf
//! writes the content stream codes, the `/W` widths and the `/ToUnicode` map (text stays
//! extractable). The face is named `TAG+DejaVuSans` as ISO 32000 §9.6.4 asks of subsets, with a
//! tag derived from the glyph set so equal inputs give equal files.

use std::collections::BTreeSet;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{subset as allsorts_subset, CmapTarget, SubsetProfile};
use allsorts::tables::cmap::Cmap;
use allsorts::tables::FontTableProvider;
use allsorts::tag;
use printpdf::ParsedFont;
use sha2::{Digest, Sha256};

use super::PdfError;

/// One embedded face.
pub(super) struct Face {
    /// PostScript name, used after the subset tag.
    pub name: &'static str,
    /// The whole TrueType file.
    pub ttf: &'static [u8],
}

/// DejaVu Sans.
pub(super) const SANS: Face = Face {
    name: "DejaVuSans",
    ttf: include_bytes!("../../assets/fonts/DejaVuSans.ttf"),
};
/// DejaVu Sans Mono.
pub(super) const MONO: Face = Face {
    name: "DejaVuSansMono",
    ttf: include_bytes!("../../assets/fonts/DejaVuSansMono.ttf"),
};

fn err(face: &Face, e: impl std::fmt::Debug) -> PdfError {
    PdfError::Subset {
        font: face.name,
        reason: format!("{e:?}"),
    }
}

/// The glyph ids `chars` map to in `face` (glyph 0 first, as the subsetter requires), sorted.
/// Characters the face lacks are left out: printpdf draws them as `.notdef`, as it would with
/// the whole font.
fn glyph_ids(face: &Face, chars: &BTreeSet<char>) -> Result<Vec<u16>, PdfError> {
    let data = ReadScope::new(face.ttf)
        .read::<FontData<'_>>()
        .map_err(|e| err(face, e))?;
    let provider = data.table_provider(0).map_err(|e| err(face, e))?;
    let cmap_data = provider
        .read_table_data(tag::CMAP)
        .map_err(|e| err(face, e))?;
    let cmap = ReadScope::new(&cmap_data)
        .read::<Cmap<'_>>()
        .map_err(|e| err(face, e))?;
    let (_, table) = allsorts::font::read_cmap_subtable(&cmap)
        .map_err(|e| err(face, e))?
        .ok_or_else(|| err(face, "no Unicode cmap subtable"))?;
    let mut ids = BTreeSet::new();
    for c in chars {
        if let Some(g) = table.map_glyph(u32::from(*c)).map_err(|e| err(face, e))? {
            ids.insert(g);
        }
    }
    ids.remove(&0);
    Ok(std::iter::once(0).chain(ids).collect())
}

/// Six upper-case letters from the glyph set (ISO 32000-1 §9.6.4).
fn subset_tag(face: &Face, ids: &[u16]) -> String {
    let mut h = Sha256::new();
    h.update(face.name.as_bytes());
    for id in ids {
        h.update(id.to_be_bytes());
    }
    h.finalize()[..6]
        .iter()
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

/// `face` reduced to the glyphs of `chars`, parsed for printpdf and named `TAG+Name`.
pub(super) fn subset(face: &Face, chars: &BTreeSet<char>) -> Result<ParsedFont, PdfError> {
    let ids = glyph_ids(face, chars)?;
    let data = ReadScope::new(face.ttf)
        .read::<FontData<'_>>()
        .map_err(|e| err(face, e))?;
    let provider = data.table_provider(0).map_err(|e| err(face, e))?;
    // The PDF profile keeps what a PDF font program needs (glyf, loca, hinting tables, hmtx,
    // cmap, name, post); the Unicode cmap target keeps every used character mapped.
    let bytes = allsorts_subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
        .map_err(|e| err(face, e))?;
    let mut parsed = ParsedFont::from_bytes(&bytes, 0, &mut Vec::new())
        .ok_or_else(|| err(face, "the subset does not parse"))?;
    parsed.font_name = Some(format!("{}+{}", subset_tag(face, &ids), face.name));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> BTreeSet<char> {
        s.chars().collect()
    }

    #[test]
    fn the_subset_maps_every_used_character_and_is_small() {
        let used = chars("Zoë Straße — Page 1 of 4 ABC");
        let f = subset(&SANS, &used).unwrap();
        for c in used.iter().filter(|c| **c != ' ') {
            let g = f.codepoint_to_glyph.get(&u32::from(*c)).copied();
            assert!(matches!(g, Some(g) if g != 0), "{c:?} is not mapped: {g:?}");
        }
        // Unused characters are absent or fall into a cmap range that maps them to .notdef.
        let q = f.codepoint_to_glyph.get(&u32::from('Q')).copied();
        assert!(matches!(q, None | Some(0)), "Q is mapped to {q:?}");
        assert!(
            f.original_bytes.len() < 40_000,
            "{} bytes",
            f.original_bytes.len()
        );
        let name = f.font_name.unwrap();
        let (tag, rest) = name.split_once('+').unwrap();
        assert_eq!(rest, "DejaVuSans");
        assert_eq!(tag.len(), 6);
        assert!(tag.bytes().all(|b| b.is_ascii_uppercase()));
    }

    #[test]
    fn the_tag_depends_on_the_glyph_set() {
        let a = subset(&MONO, &chars("abc")).unwrap().font_name;
        let b = subset(&MONO, &chars("abd")).unwrap().font_name;
        assert_ne!(a, b);
        assert_eq!(a, subset(&MONO, &chars("cba")).unwrap().font_name);
    }
}
