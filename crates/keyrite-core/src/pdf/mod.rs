//! Shared PDF primitives: pages (A4 / US Letter), embedded DejaVu fonts, text lines with
//! wrapping, QR codes drawn from `qrcode` modules, a per-page stamp such as
//! "REHEARSAL — SOFTWARE HSM", and page footers numbered "N of M". Share cards and the signed
//! ceremony record use it.
//!
//! Fonts are embedded as subsets of the glyphs the document uses ([`fonts`]), so a 4-page
//! record carries tens of kilobytes of font instead of two whole DejaVu faces; every reader
//! still shows the same glyphs and the ToUnicode map keeps the text extractable. Document
//! dates are set explicitly by the caller and the trailer `/ID` is derived from the content,
//! so the output depends only on the inputs.

mod fonts;

use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Mm, Op, PdfDocument, PdfFontHandle, PdfPage,
    PdfSaveOptions, Point, Pt, RawImage, RawImageData, RawImageFormat, TextItem, XObjectTransform,
};
use sha2::{Digest, Sha256};

/// Average advance of DejaVu Sans glyphs in em, for wrapping (generous, so lines never overflow).
const SANS_EM: f32 = 0.60;
/// Advance of every DejaVu Sans Mono glyph in em.
const MONO_EM: f32 = 0.602;

/// PDF errors.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The embedded font did not parse (a build problem, not an input problem).
    #[error("the embedded font {0} did not parse")]
    Font(&'static str),
    /// The font could not be reduced to the glyphs the document uses.
    #[error("the embedded font {font} could not be subset: {reason}")]
    Subset {
        /// Which font.
        font: &'static str,
        /// What the subsetter said.
        reason: String,
    },
    /// The QR payload does not fit a QR code.
    #[error("the QR payload ({0} characters) does not fit a QR code: {1}")]
    Qr(usize, String),
    /// Content ran past the bottom of the page.
    #[error("the content does not fit on one page")]
    Overflow,
    /// The finished document could not be written.
    #[error("the PDF could not be written: {0}")]
    Write(String),
}

/// Paper size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PageSize {
    /// 210 × 297 mm.
    A4,
    /// 8.5 × 11 in.
    Letter,
}

impl PageSize {
    /// Width and height in mm.
    pub fn mm(self) -> (f32, f32) {
        match self {
            PageSize::A4 => (210.0, 297.0),
            PageSize::Letter => (215.9, 279.4),
        }
    }
}

/// Which embedded font.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Font {
    /// DejaVu Sans.
    Sans,
    /// DejaVu Sans Mono (shares, hashes).
    Mono,
}

/// The PDF version a document declares in its header.
///
/// What this layer writes needs PDF 1.4: CIDFontType2 fonts with ToUnicode maps (1.2),
/// Flate-compressed streams (1.2) and the XMP `/Metadata` stream (1.4); the cross-reference
/// table is classic (no object or cross-reference streams, which would need 1.5), nothing is
/// encrypted and nothing is transparent. A caller that adds later features afterwards (an
/// incremental update with a PAdES signature or associated files) raises it with
/// [`Document::require_version`] so header and content agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PdfVersion {
    /// PDF 1.4 (ISO 32000 predecessor; Acrobat 5).
    V1_4,
    /// PDF 1.7 (ISO 32000-1).
    V1_7,
    /// PDF 2.0 (ISO 32000-2): `ETSI.CAdES.detached` signatures and `/AF` associated files are
    /// part of the base standard.
    V2_0,
}

impl PdfVersion {
    /// As written after `%PDF-`.
    pub fn as_str(self) -> &'static str {
        match self {
            PdfVersion::V1_4 => "1.4",
            PdfVersion::V1_7 => "1.7",
            PdfVersion::V2_0 => "2.0",
        }
    }
}

/// Document metadata; dates as Unix seconds, set explicitly.
#[derive(Debug, Clone)]
pub struct DocInfo {
    /// Title.
    pub title: String,
    /// Author / producer shown in metadata.
    pub author: String,
    /// Creation and modification date (Unix seconds).
    pub created_unix: i64,
}

/// Footer text of page `n` of `total` (both counted from 1).
type FooterText = Box<dyn Fn(usize, usize) -> String>;

/// A footer printed on every page once the page count is known.
struct Footer {
    size_pt: f32,
    y_mm: f32,
    text: FooterText,
}

/// Resource names of the two fonts. Fixed (printpdf would pick random ones) so that the
/// output depends only on the inputs.
const SANS_ID: &str = "KrSans";
const MONO_ID: &str = "KrMono";

/// A document being built, page by page.
pub struct Document {
    doc: PdfDocument,
    size: PageSize,
    stamp: Option<String>,
    pages: Vec<Page>,
    footer: Option<Footer>,
    version: PdfVersion,
}

impl Document {
    /// A new document; `stamp` is printed at the top of every page. The fonts are embedded
    /// when the document is saved, reduced to the glyphs it uses.
    pub fn new(info: &DocInfo, size: PageSize, stamp: Option<&str>) -> Result<Self, PdfError> {
        let mut doc = PdfDocument::new(&info.title);
        let date = printpdf::OffsetDateTime::from_unix_timestamp(info.created_unix)
            .unwrap_or_else(|_| printpdf::OffsetDateTime::epoch());
        let meta = &mut doc.metadata.info;
        meta.author = info.author.clone();
        meta.creator = "Keyrite".into();
        meta.producer = "Keyrite".into();
        meta.creation_date = date;
        meta.modification_date = date;
        meta.metadata_date = date;
        Ok(Self {
            doc,
            size,
            stamp: stamp.map(str::to_string),
            pages: Vec::new(),
            footer: None,
            version: PdfVersion::V1_4,
        })
    }

    /// Raises the declared PDF version to at least `v` (never lowers it).
    pub fn require_version(&mut self, v: PdfVersion) {
        self.version = self.version.max(v);
    }

    /// Prints `text(n, total)` in DejaVu Sans at `size_pt`, at the left margin with its
    /// baseline `y_mm` from the bottom edge, on every page — drawn when the document is saved,
    /// when the number of pages is known (so "page 2 of 5" is possible).
    pub fn number_pages(
        &mut self,
        size_pt: f32,
        y_mm: f32,
        text: impl Fn(usize, usize) -> String + 'static,
    ) {
        self.footer = Some(Footer {
            size_pt,
            y_mm,
            text: Box::new(text),
        });
    }

    /// Starts a page; fill it, then pass it to [`Document::add_page`].
    pub fn page(&self) -> Page {
        let (w, h) = self.size.mm();
        let mut p = Page {
            ops: Vec::new(),
            width: w,
            height: h,
            y: h - 18.0,
            margin: 18.0,
        };
        if let Some(s) = &self.stamp {
            p.text_at(Font::Sans, 9.0, p.margin, h - 10.0, s);
            p.rule(h - 12.0);
        }
        p
    }

    /// Adds a finished page; its QR images are registered with the document.
    pub fn add_page(&mut self, page: Page) -> Result<(), PdfError> {
        if page.y < 10.0 {
            return Err(PdfError::Overflow);
        }
        self.pages.push(page);
        Ok(())
    }

    /// Registers a QR code and draws it on `page` at the cursor, `side_mm` wide, left-aligned.
    pub fn qr(&mut self, page: &mut Page, payload: &str, side_mm: f32) -> Result<(), PdfError> {
        let (img, px) = crate::timing::phase("pdf", || qr_image(payload))?;
        // Named in order (printpdf's `add_image` picks a random name) so equal inputs give
        // equal files.
        let id = printpdf::XObjectId(format!("KrQr{}", self.doc.resources.xobjects.map.len()));
        self.doc
            .resources
            .xobjects
            .map
            .insert(id.clone(), printpdf::XObject::Image(img));
        // Choose the dpi so the image is `side_mm` wide.
        let dpi = px as f32 / (side_mm / 25.4);
        page.y -= side_mm;
        page.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Mm(page.margin).into_pt()),
                translate_y: Some(Mm(page.y).into_pt()),
                dpi: Some(dpi),
                ..Default::default()
            },
        });
        page.y -= 4.0;
        Ok(())
    }

    /// The PDF bytes: footers stamped, fonts subset and embedded, the declared version in the
    /// header, a trailer `/ID` derived from the content.
    pub fn save(self) -> Result<Vec<u8>, PdfError> {
        crate::timing::phase("pdf", || self.save_untimed())
    }

    fn save_untimed(mut self) -> Result<Vec<u8>, PdfError> {
        let (w, h) = self.size.mm();
        let total = self.pages.len();
        let mut pages = std::mem::take(&mut self.pages);
        if let Some(f) = &self.footer {
            for (i, p) in pages.iter_mut().enumerate() {
                let m = p.margin;
                p.text_at(Font::Sans, f.size_pt, m, f.y_mm, &(f.text)(i + 1, total));
            }
        }
        for (font, chars) in used_chars(&pages) {
            let (id, parsed) = match font {
                Font::Sans => (SANS_ID, fonts::subset(&fonts::SANS, &chars)?),
                Font::Mono => (MONO_ID, fonts::subset(&fonts::MONO, &chars)?),
            };
            self.doc
                .resources
                .fonts
                .map
                .insert(FontId(id.to_string()), printpdf::font::PdfFont::new(parsed));
        }
        let pages = pages
            .into_iter()
            .map(|p| PdfPage::new(Mm(w), Mm(h), p.ops))
            .collect();
        let opts = PdfSaveOptions {
            // The fonts are subset above; printpdf can only embed them whole without its
            // `text_layout` feature, which is what it then does with the subsets.
            subset_fonts: false,
            ..Default::default()
        };
        let mut doc = self
            .doc
            .with_pages(pages)
            .to_lopdf_document(&opts, &mut Vec::new());
        doc.version = self.version.as_str().to_string();
        doc.compress();
        finish_id(doc)
    }
}

/// Every character drawn with each font, over all pages.
fn used_chars(
    pages: &[Page],
) -> std::collections::BTreeMap<Font, std::collections::BTreeSet<char>> {
    let mut used: std::collections::BTreeMap<Font, std::collections::BTreeSet<char>> =
        Default::default();
    for p in pages {
        let mut current = None;
        for op in &p.ops {
            match op {
                Op::SetFont {
                    font: PdfFontHandle::External(id),
                    ..
                } => {
                    current = match id.0.as_str() {
                        SANS_ID => Some(Font::Sans),
                        MONO_ID => Some(Font::Mono),
                        _ => None,
                    }
                }
                Op::ShowText { items } => {
                    if let Some(f) = current {
                        let set = used.entry(f).or_default();
                        for item in items {
                            if let TextItem::Text(t) = item {
                                set.extend(t.chars());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    used
}

/// Length of the trailer `/ID` strings in bytes (as most writers use: an MD5's worth).
const ID_LEN: usize = 16;

/// Saves `doc` with a trailer `/ID` equal to the first bytes of the SHA-256 of the file as
/// written with an all-zero `/ID`: unique per content, and the same content gives the same
/// bytes (printpdf's own `/ID` is random).
fn finish_id(mut doc: lopdf::Document) -> Result<Vec<u8>, PdfError> {
    let zero = lopdf::Object::String(vec![0; ID_LEN], lopdf::StringFormat::Hexadecimal);
    doc.trailer
        .set("ID", lopdf::Object::Array(vec![zero.clone(), zero]));
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| PdfError::Write(e.to_string()))?;
    let digest = Sha256::digest(&out);
    let id = hex::encode_upper(&digest[..ID_LEN]);
    let placeholder = format!("<{}>", "00".repeat(ID_LEN));
    let trailer = out
        .windows(b"trailer".len())
        .rposition(|w| w == b"trailer")
        .ok_or_else(|| PdfError::Write("no trailer was written".into()))?;
    let mut replaced = 0;
    let mut at = trailer;
    while let Some(i) = out[at..]
        .windows(placeholder.len())
        .position(|w| w == placeholder.as_bytes())
    {
        let start = at + i + 1;
        out[start..start + 2 * ID_LEN].copy_from_slice(id.as_bytes());
        at = start + 2 * ID_LEN;
        replaced += 1;
    }
    if replaced != 2 {
        return Err(PdfError::Write(format!(
            "the trailer /ID was written {replaced} times instead of twice"
        )));
    }
    Ok(out)
}

/// One page's content, laid out top to bottom from a cursor (mm from the bottom edge).
pub struct Page {
    ops: Vec<Op>,
    width: f32,
    height: f32,
    y: f32,
    margin: f32,
}

impl Page {
    fn handle(&self, font: Font) -> PdfFontHandle {
        PdfFontHandle::External(FontId(
            match font {
                Font::Sans => SANS_ID,
                Font::Mono => MONO_ID,
            }
            .to_string(),
        ))
    }

    /// Draws one line of text with its baseline at (x, y) mm.
    pub fn text_at(&mut self, font: Font, size_pt: f32, x: f32, y: f32, text: &str) {
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: self.handle(font),
                size: Pt(size_pt),
            },
            Op::SetFillColor {
                col: Color::Greyscale(Greyscale::new(0.0, None)),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Mm(x).into_pt(),
                    y: Mm(y).into_pt(),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(text.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Text at the cursor, wrapped at word boundaries to the page width.
    pub fn text(&mut self, font: Font, size_pt: f32, text: &str) {
        let em = if font == Font::Mono { MONO_EM } else { SANS_EM };
        let char_mm = size_pt * em * 25.4 / 72.0;
        let max = (((self.width - 2.0 * self.margin) / char_mm) as usize).max(10);
        let line_mm = size_pt * 1.35 * 25.4 / 72.0;
        for line in wrap(text, max) {
            self.y -= line_mm;
            let m = self.margin;
            let y = self.y;
            self.text_at(font, size_pt, m, y, &line);
        }
    }

    /// Vertical space in mm.
    pub fn gap(&mut self, mm: f32) {
        self.y -= mm;
    }

    /// A horizontal rule across the text width at height `y` mm.
    pub fn rule(&mut self, y: f32) {
        let (a, b) = (self.margin, self.width - self.margin);
        self.line(a, y, b, y);
    }

    /// A signature line with a caption under it, at the cursor.
    pub fn signature_line(&mut self, caption: &str) {
        self.y -= 16.0;
        let (m, y) = (self.margin, self.y);
        self.line(m, y, m + 90.0, y);
        self.text_at(Font::Sans, 9.0, m, y - 4.5, caption);
        self.y -= 8.0;
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        let pt = |x: f32, y: f32| LinePoint {
            p: Point {
                x: Mm(x).into_pt(),
                y: Mm(y).into_pt(),
            },
            bezier: false,
        };
        self.ops.extend([
            Op::SetOutlineColor {
                col: Color::Greyscale(Greyscale::new(0.0, None)),
            },
            Op::SetOutlineThickness { pt: Pt(0.6) },
            Op::DrawLine {
                line: Line {
                    points: vec![pt(x1, y1), pt(x2, y2)],
                    is_closed: false,
                },
            },
        ]);
    }

    /// Cursor height in mm from the bottom edge.
    pub fn cursor(&self) -> f32 {
        self.y
    }

    /// Page height in mm.
    pub fn height(&self) -> f32 {
        self.height
    }
}

/// Greedy word wrap to `max` characters; words longer than a line are split.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut cur = String::new();
        for word in para.split(' ') {
            let mut word = word.to_string();
            while word.chars().count() > max {
                if !cur.is_empty() {
                    lines.push(std::mem::take(&mut cur));
                }
                let head: String = word.chars().take(max).collect();
                word = word.chars().skip(max).collect();
                lines.push(head);
            }
            let need = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
            if need > max && !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
            }
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(&word);
        }
        lines.push(cur);
    }
    lines
}

/// Pixels per QR module in the embedded image (crisp at any print or render resolution).
const PX_PER_MODULE: usize = 8;
/// Quiet zone in modules (ISO/IEC 18004 asks for 4).
const QUIET: usize = 4;

/// Renders `payload` as a QR code (ECC level M) into a greyscale image; returns it and its
/// width in pixels.
pub fn qr_image(payload: &str) -> Result<(RawImage, usize), PdfError> {
    let (modules, width) = qr_modules(payload)?;
    let side = (width + 2 * QUIET) * PX_PER_MODULE;
    let mut px = vec![255u8; side * side];
    for (i, dark) in modules.iter().enumerate() {
        if !dark {
            continue;
        }
        let (mx, my) = (i % width + QUIET, i / width + QUIET);
        for dy in 0..PX_PER_MODULE {
            let row = (my * PX_PER_MODULE + dy) * side;
            let start = row + mx * PX_PER_MODULE;
            px[start..start + PX_PER_MODULE].fill(0);
        }
    }
    let img = RawImage {
        pixels: RawImageData::U8(px),
        width: side,
        height: side,
        data_format: RawImageFormat::R8,
        tag: Vec::new(),
    };
    Ok((img, side))
}

/// The QR modules (true = dark), row-major, and the symbol's width in modules.
pub fn qr_modules(payload: &str) -> Result<(Vec<bool>, usize), PdfError> {
    let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| PdfError::Qr(payload.len(), e.to_string()))?;
    let colors = code.to_colors();
    Ok((
        colors.iter().map(|c| *c == qrcode::Color::Dark).collect(),
        code.width(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_keeps_words() {
        let lines = wrap("aaaa bbbb cccc dddddddddddd", 9);
        assert_eq!(lines, vec!["aaaa bbbb", "cccc", "ddddddddd", "ddd"]);
    }

    fn sample(qr: &str) -> Vec<u8> {
        let info = DocInfo {
            title: "t".into(),
            author: "a".into(),
            created_unix: 1_780_000_000,
        };
        let mut d = Document::new(&info, PageSize::A4, Some("STAMP")).unwrap();
        for _ in 0..3 {
            let mut p = d.page();
            p.text(Font::Sans, 10.0, "Zoë");
            d.qr(&mut p, qr, 30.0).unwrap();
            d.add_page(p).unwrap();
        }
        d.number_pages(8.0, 9.0, |n, m| format!("Page {n} of {m}"));
        d.save().unwrap()
    }

    #[test]
    fn equal_inputs_give_equal_bytes_and_the_id_follows_the_content() {
        let a = sample("abc");
        assert_eq!(a, sample("abc"));
        let id = |pdf: &[u8]| {
            let t = String::from_utf8_lossy(pdf).into_owned();
            let i = t.rfind("/ID").unwrap();
            t[i..i + 80].to_string()
        };
        assert_ne!(id(&a), id(&sample("abd")));
        assert!(!id(&a).contains(&"00".repeat(ID_LEN)), "{}", id(&a));
        assert!(a.starts_with(b"%PDF-1.4\n"));
    }

    #[test]
    fn qr_image_decodes_with_rqrr() {
        let payload = "KEYRITE-SHARE:0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let (img, side) = qr_image(payload).unwrap();
        let RawImageData::U8(px) = img.pixels else {
            panic!("grey image expected")
        };
        let mut prepared =
            rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| px[y * side + x]);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, payload);
    }
}
