//! Scanner PDFs: one scanned image per page, extracted rather than rendered.

use image::GrayImage;
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use super::{
    DecodeError, DecodedPage, Limits, check_dims, decode_jpeg, luma, read_bounded, to_working,
};

/// Decodes every page of a PDF (up to [`Limits::max_pages`]).
pub fn decode_pdf(bytes: &[u8], limits: &Limits) -> Result<Vec<DecodedPage>, DecodeError> {
    let doc = Document::load_mem(bytes).map_err(|e| DecodeError::Corrupt("PDF", e.to_string()))?;
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(DecodeError::Corrupt("PDF", "no pages".into()));
    }
    if pages.len() > limits.max_pages {
        return Err(DecodeError::Corrupt(
            "PDF",
            format!("{} pages (limit {})", pages.len(), limits.max_pages),
        ));
    }
    Ok(pages
        .into_iter()
        .map(|(number, id)| DecodedPage {
            page: number,
            image: page_image(&doc, id, limits),
        })
        .collect())
}

/// The largest image drawn on the page, decoded.
fn page_image(doc: &Document, page: ObjectId, limits: &Limits) -> Result<GrayImage, DecodeError> {
    let mut best: Option<(&Stream, i64)> = None;
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
            let Ok((_, Object::Stream(stream))) = doc.dereference(value) else {
                continue;
            };
            let is_image = stream
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Image");
            if !is_image {
                continue;
            }
            let w = int(doc, &stream.dict, b"Width").unwrap_or(0);
            let h = int(doc, &stream.dict, b"Height").unwrap_or(0);
            if best.is_none_or(|(_, area)| w.saturating_mul(h) > area) {
                best = Some((stream, w.saturating_mul(h)));
            }
        }
    }
    let (stream, _) = best.ok_or(DecodeError::NoImageOnPage)?;
    decode_image_stream(doc, stream, limits)
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
