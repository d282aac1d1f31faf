//! Scanner PDFs: one scanned image per page, extracted rather than rendered, one page at a
//! time.
//!
//! The document is parsed once with its image streams left out (a load filter keeps each image
//! XObject's dictionary in place of the stream), so the structure held costs kilobytes whatever
//! the file's size. A page's image is parsed from the caller's bytes only when that page is
//! decoded, and dropped before the next one: memory does not grow with the page count, and the
//! file is never copied whole.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use image::GrayImage;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId, Reader, Stream};

use super::{
    DecodeError, DecodedPage, Limits, check_dims, decode_jpeg, luma, read_bounded, to_working,
};
use crate::guard::guarded;

/// The pages of a PDF, decoded one at a time (see the module comment).
pub struct PdfPages<'a> {
    /// The document without its image streams, and the bytes to read them from.
    reader: Reader<'a>,
    pages: std::vec::IntoIter<(u32, ObjectId)>,
    limits: Limits,
    /// Source pixels of the page images decoded so far, against [`Limits::max_file_pixels`].
    pixels: u64,
}

/// Opens a PDF held in memory: reads its cross-reference tables (classic or streams, following
/// `/Prev`) and page tree, and refuses up front a password-protected file or one with more
/// pages than [`Limits::max_pages`].
pub fn open<'a>(bytes: &'a [u8], limits: &Limits) -> Result<PdfPages<'a>, DecodeError> {
    // Offsets in the file count from `%PDF-`, as lopdf counts them.
    let start = bytes.windows(5).position(|w| w == b"%PDF-").unwrap_or(0);
    let bytes = &bytes[start..];
    let options = LoadOptions {
        filter: Some(defer_images),
        // Object and cross-reference streams are inflated while loading: bound them too.
        max_decompressed_size: Some(structure_limit(limits)),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(doc) => doc,
        Err(_) if mentions_encryption(bytes) => return Err(DecodeError::Encrypted),
        Err(e) => return Err(DecodeError::Corrupt("PDF", e.to_string())),
    };
    // lopdf removes `/Encrypt` from the trailer once it has decrypted the file with the empty
    // user password; still there, the file needs a password the grader does not have.
    if doc.trailer.get(b"Encrypt").is_ok() {
        return Err(DecodeError::Encrypted);
    }
    let pages: Vec<(u32, ObjectId)> = doc.get_pages().into_iter().collect();
    if pages.is_empty() {
        return Err(DecodeError::Corrupt("PDF", "no pages".into()));
    }
    if pages.len() > limits.max_pages {
        return Err(DecodeError::TooManyPages(pages.len(), limits.max_pages));
    }
    let reader = Reader {
        buffer: bytes,
        document: doc,
        encryption_state: None,
        raw_objects: BTreeMap::new(),
        password: None,
        strict: false,
        max_decompressed_size: Some(structure_limit(limits)),
    };
    Ok(PdfPages {
        reader,
        pages: pages.into_iter(),
        limits: *limits,
        pixels: 0,
    })
}

impl PdfPages<'_> {
    /// Pages in the file.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// Whether no page is left to decode.
    pub fn is_empty(&self) -> bool {
        self.pages.len() == 0
    }

    /// The largest image drawn on the page, decoded, within the file's pixel budget.
    fn page_image(&mut self, page: ObjectId) -> Result<GrayImage, DecodeError> {
        let doc = &self.reader.document;
        let image = largest_image(doc, page)?;
        let stream = match image {
            PageImage::Loaded(stream) => Cow::Borrowed(stream),
            PageImage::Deferred(id) => Cow::Owned(self.load_stream(id)?),
        };
        let w = int(doc, &stream.dict, b"Width").unwrap_or(0).max(0) as u64;
        let h = int(doc, &stream.dict, b"Height").unwrap_or(0).max(0) as u64;
        let pixels = self.pixels.saturating_add(w.saturating_mul(h));
        if pixels > self.limits.max_file_pixels {
            return Err(DecodeError::FilePixelBudget(self.limits.max_file_pixels));
        }
        self.pixels = pixels;
        decode_image_stream(doc, &stream, &self.limits)
    }

    /// Parses one image stream from the file's bytes.
    fn load_stream(&self, id: ObjectId) -> Result<Stream, DecodeError> {
        let corrupt = |e: lopdf::Error| DecodeError::Corrupt("PDF image", e.to_string());
        let object = self
            .reader
            .get_object(id, &mut HashSet::new())
            .map_err(corrupt)?;
        let Object::Stream(mut stream) = object else {
            return Err(DecodeError::Corrupt(
                "PDF image",
                format!("object {} {} is not a stream", id.0, id.1),
            ));
        };
        // A `/Length` lopdf could not resolve while parsing leaves the content empty and its
        // start noted (as its own loader then does, read it now that the length is known).
        if stream.content.is_empty()
            && let Some(start) = stream.start_position
        {
            let length = int(&self.reader.document, &stream.dict, b"Length").unwrap_or(0);
            let end = usize::try_from(length)
                .ok()
                .and_then(|l| start.checked_add(l))
                .filter(|&end| end <= self.reader.buffer.len())
                .ok_or_else(|| {
                    DecodeError::Corrupt("PDF image", "stream extends after the file's end".into())
                })?;
            stream.set_content(self.reader.buffer[start..end].to_vec());
        }
        Ok(stream)
    }
}

impl Iterator for PdfPages<'_> {
    type Item = DecodedPage;

    fn next(&mut self) -> Option<DecodedPage> {
        let (number, id) = self.pages.next()?;
        let image = guarded(|| self.page_image(id)).unwrap_or(Err(DecodeError::Crashed));
        Some(DecodedPage {
            page: number,
            image,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pages.size_hint()
    }
}

/// The bound on any one object or cross-reference stream inflated while loading: such
/// streams hold small objects, far less than a page image.
fn structure_limit(limits: &Limits) -> usize {
    usize::try_from(limits.max_pixels).unwrap_or(usize::MAX)
}

/// A load filter: an image XObject keeps its dictionary (what a page's image is chosen by) and
/// drops its data, read again from the file when its page is decoded. Every other object is
/// kept as it is.
fn defer_images(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object
        && is_image(&stream.dict)
    {
        // A dictionary rather than an emptied stream: lopdf re-reads empty streams' content.
        *object = Object::Dictionary(std::mem::take(&mut stream.dict));
    }
    // lopdf keeps the object as changed in place; within object streams it takes this copy.
    Some((id, object.clone()))
}

fn is_image(dict: &Dictionary) -> bool {
    dict.get(b"Subtype")
        .and_then(Object::as_name)
        .is_ok_and(|n| n == b"Image")
}

/// Whether the file names an `/Encrypt` dictionary (its trailer does, when it is encrypted):
/// asked only when lopdf could not load the file, to say why.
fn mentions_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// An image XObject of a page: in memory (a decrypted document is loaded whole), or deferred to
/// the file (see [`defer_images`]).
enum PageImage<'d> {
    Loaded(&'d Stream),
    Deferred(ObjectId),
}

/// The largest image drawn on the page, by its declared width × height.
fn largest_image(doc: &Document, page: ObjectId) -> Result<PageImage<'_>, DecodeError> {
    let mut best: Option<(PageImage<'_>, i64)> = None;
    let (own, inherited) = doc
        .get_page_resources(page)
        .map_err(|e| DecodeError::Corrupt("PDF", e.to_string()))?;
    let mut dicts: Vec<&Dictionary> = own.into_iter().collect();
    dicts.extend(
        inherited
            .iter()
            .filter_map(|id| doc.get_dictionary(*id).ok()),
    );
    for resources in dicts {
        let Ok(xobjects) = resources
            .get(b"XObject")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_dict())
        else {
            continue;
        };
        for (_, value) in xobjects.iter() {
            let (image, dict) = match doc.dereference(value) {
                Ok((_, Object::Stream(stream))) => (PageImage::Loaded(stream), &stream.dict),
                Ok((Some(id), Object::Dictionary(dict))) => (PageImage::Deferred(id), dict),
                _ => continue,
            };
            if !is_image(dict) {
                continue;
            }
            let w = int(doc, dict, b"Width").unwrap_or(0);
            let h = int(doc, dict, b"Height").unwrap_or(0);
            let area = w.saturating_mul(h);
            if best.as_ref().is_none_or(|(_, a)| area > *a) {
                best = Some((image, area));
            }
        }
    }
    best.map(|(image, _)| image)
        .ok_or(DecodeError::NoImageOnPage)
}

fn int(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<i64> {
    let o = dict.get(key).ok()?;
    doc.dereference(o).ok()?.1.as_i64().ok()
}

fn filters(doc: &Document, dict: &Dictionary) -> Vec<Vec<u8>> {
    let Ok(o) = dict.get(b"Filter") else {
        return Vec::new();
    };
    match doc.dereference(o).map(|(_, o)| o) {
        Ok(Object::Name(n)) => vec![n.clone()],
        Ok(Object::Array(a)) => a
            .iter()
            .filter_map(|o| o.as_name().ok().map(<[u8]>::to_vec))
            .collect(),
        _ => Vec::new(),
    }
}

fn decode_image_stream(
    doc: &Document,
    stream: &Stream,
    limits: &Limits,
) -> Result<GrayImage, DecodeError> {
    let dict = &stream.dict;
    let w = int(doc, dict, b"Width").unwrap_or(0);
    let h = int(doc, dict, b"Height").unwrap_or(0);
    if w <= 0 || h <= 0 {
        return Err(DecodeError::Corrupt(
            "PDF image",
            "no width or height".into(),
        ));
    }
    let (w, h) = (w as u64, h as u64);
    check_dims(w, h, limits)?;
    let filters = filters(doc, dict);
    let bpc = int(doc, dict, b"BitsPerComponent").unwrap_or(8);
    let components = color_components(doc, dict);
    let mut data: Vec<u8> = stream.content.clone();
    for (i, f) in filters.iter().enumerate() {
        let last = i + 1 == filters.len();
        match f.as_slice() {
            b"DCTDecode" | b"DCT" if last => return decode_jpeg(&data, limits),
            b"FlateDecode" | b"Fl" => {
                let raw_limit = w * h * 4 + 1024;
                data = read_bounded(
                    flate2::read::ZlibDecoder::new(data.as_slice()),
                    raw_limit,
                    "PDF image",
                )?;
                if predictor(doc, dict) >= 10 {
                    data = undo_png_predictor(&data, w as usize, components.max(1), bpc)?;
                }
            }
            b"CCITTFaxDecode" | b"CCF" if last => return ccitt(doc, dict, &data, w, h),
            other => {
                return Err(DecodeError::Unsupported(format!(
                    " (PDF image filter {})",
                    String::from_utf8_lossy(other)
                )));
            }
        }
    }
    raw_to_gray(&data, w as u32, h as u32, components, bpc)
}

fn color_components(doc: &Document, dict: &Dictionary) -> usize {
    if dict
        .get(b"ImageMask")
        .and_then(Object::as_bool)
        .unwrap_or(false)
    {
        return 1;
    }
    let Ok(cs) = dict.get(b"ColorSpace") else {
        return 1;
    };
    let cs = doc.dereference(cs).map(|(_, o)| o);
    let name = match cs {
        Ok(Object::Name(n)) => n.clone(),
        Ok(Object::Array(a)) => a
            .first()
            .and_then(|o| o.as_name().ok())
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    match name.as_slice() {
        b"DeviceRGB" | b"CalRGB" => 3,
        b"DeviceCMYK" => 4,
        _ => 1,
    }
}

fn predictor(doc: &Document, dict: &Dictionary) -> i64 {
    dict.get(b"DecodeParms")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok())
        .and_then(|d| int(doc, d, b"Predictor"))
        .unwrap_or(1)
}

fn undo_png_predictor(
    data: &[u8],
    w: usize,
    components: usize,
    bpc: i64,
) -> Result<Vec<u8>, DecodeError> {
    let bpp = (components * bpc.max(1) as usize).div_ceil(8).max(1);
    let row = (w * components * bpc.max(1) as usize).div_ceil(8);
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        if chunk.len() < row + 1 {
            break;
        }
        let kind = chunk[0];
        let mut cur = chunk[1..].to_vec();
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            let add = match kind {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => {
                    return Err(DecodeError::Corrupt(
                        "PDF image",
                        "bad PNG predictor".into(),
                    ));
                }
            };
            cur[i] = cur[i].wrapping_add(add);
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn raw_to_gray(
    data: &[u8],
    w: u32,
    h: u32,
    components: usize,
    bpc: i64,
) -> Result<GrayImage, DecodeError> {
    let (wu, hu) = (w as usize, h as usize);
    let short = || DecodeError::Corrupt("PDF image", "pixel data shorter than declared".into());
    let gray: Vec<u8> = match (components, bpc) {
        (1, 8) => data.get(..wu * hu).ok_or_else(short)?.to_vec(),
        (3, 8) => data
            .get(..wu * hu * 3)
            .ok_or_else(short)?
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect(),
        (4, 8) => data
            .get(..wu * hu * 4)
            .ok_or_else(short)?
            .chunks_exact(4)
            .map(|p| {
                let k = 255 - u32::from(p[3]);
                let c = |v: u8| ((255 - u32::from(v)) * k / 255) as u8;
                luma(c(p[0]), c(p[1]), c(p[2]))
            })
            .collect(),
        (1, 1) => {
            let row = wu.div_ceil(8);
            let data = data.get(..row * hu).ok_or_else(short)?;
            let mut out = Vec::with_capacity(wu * hu);
            for r in data.chunks_exact(row) {
                out.extend((0..wu).map(|x| {
                    if r[x / 8] & (0x80 >> (x % 8)) != 0 {
                        255
                    } else {
                        0
                    }
                }));
            }
            out
        }
        _ => {
            return Err(DecodeError::Unsupported(format!(
                " (PDF image with {components} components of {bpc} bits)"
            )));
        }
    };
    let image = GrayImage::from_raw(w, h, gray).ok_or_else(short)?;
    Ok(to_working(image))
}

fn ccitt(
    doc: &Document,
    dict: &Dictionary,
    data: &[u8],
    w: u64,
    h: u64,
) -> Result<GrayImage, DecodeError> {
    let parms = dict
        .get(b"DecodeParms")
        .ok()
        .and_then(|o| doc.dereference(o).ok())
        .and_then(|(_, o)| o.as_dict().ok());
    let k = parms.and_then(|d| int(doc, d, b"K")).unwrap_or(0);
    if k >= 0 {
        return Err(DecodeError::Unsupported(
            " (CCITT Group 3 PDF images; Group 4 is read)".into(),
        ));
    }
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(DecodeError::TooManyPixels(w, h));
    };
    let mut out: Vec<u8> = Vec::with_capacity((w * h) as usize);
    let ok = fax::decoder::decode_g4(data.iter().copied(), w16, Some(h16), |line| {
        out.extend(
            fax::decoder::pels(line, w16).map(|c| if c == fax::Color::Black { 0 } else { 255 }),
        );
    });
    if ok.is_none() || out.len() < (w * h) as usize {
        return Err(DecodeError::Corrupt("PDF image", "bad CCITT data".into()));
    }
    out.truncate((w * h) as usize);
    let image = GrayImage::from_raw(w as u32, h as u32, out)
        .ok_or_else(|| DecodeError::Corrupt("PDF image", "bad CCITT data".into()))?;
    Ok(to_working(image))
}
