//! Identification: the sheet code, from the QR code in its expected place first, then from
//! fallbacks in order of cost, then from the local OCR of the printed text id ([`crate::ocr`]),
//! then from an external OCR. A code that fails its check symbol, or that the directory does not
//! know, is never an identity.
//!
//! Decoders only ever see a small upright crop resampled through the homography (never a whole
//! page: rqrr once took 71 s on one), and every call is guarded against panics.

use image::GrayImage;
use model::SheetCode;
use model::layout::Rect;

use crate::align::{Alignment, homography_for};
use crate::directory::{PageFrame, SheetDirectory, SheetInfo};
use crate::geometry::Homography;
use crate::guard::guarded;
use crate::ocr;
use crate::pixels::{binarise, close, sample_rect};
use crate::report::{IdentifiedBy, Unidentified};

/// Reads the printed sheet code from a crop of the page (an OCR engine, e.g. Cloud Vision).
pub trait TextIdReader: Send + Sync {
    /// The text found in `crop` (an upright crop around the printed code), if any.
    fn read_text(&self, crop: &GrayImage) -> Option<String>;
}

/// A sheet that was identified, and how.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The sheet, from the directory.
    pub sheet: SheetInfo,
    /// The step that read its code.
    pub by: IdentifiedBy,
    /// Corner-mark centres in layout order, as confirmed by the code's position (they differ
    /// from the alignment's when the hollow mark was misjudged and a rotated search found the
    /// code).
    pub marks: [(f32, f32); 4],
}

/// Pixels per QR module in the crops handed to decoders.
const MODULE_PX: f32 = 6.0;

/// Identifies the page aligned by `alignment`. `local_ocr` turns the grader's own OCR of the
/// printed id on (after the QR decoders); `ocr` is an external one, tried last. The error says
/// why it could not.
pub fn identify(
    image: &GrayImage,
    alignment: &Alignment,
    frames: &[PageFrame],
    directory: &dyn SheetDirectory,
    local_ocr: bool,
    ocr: Option<&dyn TextIdReader>,
) -> Result<Identity, Unidentified> {
    let Some(frame) = frames.get(alignment.frame) else {
        return Err(Unidentified::NoPageFrame);
    };
    let h = alignment.homography;
    let found = |sheet: SheetInfo, by| {
        Ok(Identity {
            sheet,
            by,
            marks: alignment.marks,
        })
    };
    let mut rejected: Option<String> = None;
    let mut check = |payload: Option<String>| -> Option<SheetInfo> {
        let payload = payload?;
        match accept(&payload, directory) {
            Some(sheet) => Some(sheet),
            None => {
                rejected = Some(payload);
                None
            }
        }
    };

    // 1–2. The expected region, upright, at a comfortable module size.
    let crop = qr_crop(image, &h, frame, MODULE_PX, 1.0);
    // rxing first: on crops it reads more codes than rqrr and in a fraction of the time.
    if let Some(s) = check(rxing_decode(&crop)) {
        return found(s, IdentifiedBy::QrRxing);
    }
    if let Some(s) = check(rqrr_decode(&crop)) {
        return found(s, IdentifiedBy::QrRqrr);
    }
    // 3. Variants: a global (Otsu) binarisation, other scales, upside down.
    let fine = qr_crop(image, &h, frame, 9.0, 1.0);
    let variants = [
        binarise(&crop),
        // A pen stroke across the code: closing (max then min) removes dark lines thinner
        // than the window while modules, wider, survive.
        close(&crop, 2),
        close(&fine, 3),
        qr_crop(image, &h, frame, 4.0, 1.0),
        fine,
        image::imageops::rotate180(&crop),
    ];
    for v in &variants {
        if let Some(s) = check(rqrr_decode(v)).or_else(|| check(rxing_decode(v))) {
            return found(s, IdentifiedBy::QrVariant);
        }
    }
    // 4. Wider search: a larger crop (alignment a little off), then the code's place under the
    // other three rotations (the hollow mark misjudged).
    let wide = qr_crop(image, &h, frame, MODULE_PX, 1.8);
    if let Some(s) = check(rxing_decode(&wide)).or_else(|| check(rqrr_decode(&wide))) {
        return found(s, IdentifiedBy::QrSearch);
    }
    for turn in 1..4 {
        let marks: [(f32, f32); 4] = std::array::from_fn(|j| alignment.marks[(j + turn) % 4]);
        let Some(hr) = homography_for(&marks, &frame.corner_marks) else {
            continue;
        };
        let c = qr_crop(image, &hr, frame, MODULE_PX, 1.0);
        if let Some(s) = check(rxing_decode(&c)).or_else(|| check(rqrr_decode(&c))) {
            return Ok(Identity {
                sheet: s,
                by: IdentifiedBy::QrSearch,
                marks,
            });
        }
    }
    // 5. The local OCR of the printed code (known font, size and place), validated by its
    // check symbol and the directory; like the QR, also where the code would be under the other
    // three rotations (a destroyed QR code and a misjudged hollow mark together).
    if local_ocr {
        for turn in 0..4 {
            let marks: [(f32, f32); 4] = std::array::from_fn(|j| alignment.marks[(j + turn) % 4]);
            let hr = if turn == 0 {
                h
            } else if let Some(hr) = homography_for(&marks, &frame.corner_marks) {
                hr
            } else {
                continue;
            };
            if let Ok(Ok(sheet)) = guarded(|| ocr::identify_text_id(image, &hr, frame, directory)) {
                return Ok(Identity {
                    sheet,
                    by: IdentifiedBy::OcrLocal,
                    marks,
                });
            }
        }
    }
    // 6. An external OCR (the cloud), validated the same way.
    if let Some(reader) = ocr {
        let crop = text_crop(image, &h, &frame.text_id);
        let text = guarded(|| reader.read_text(&crop)).ok().flatten();
        if let Some(s) = text.as_deref().and_then(|t| ocr_candidates(t, directory)) {
            return found(s, IdentifiedBy::OcrVision);
        }
    }
    Err(match rejected {
        Some(p) => Unidentified::UnknownCode(p),
        None => Unidentified::QrUnreadable,
    })
}

/// Accepts a decoded payload only if it parses (check symbol) and names a printed sheet.
pub fn accept(payload: &str, directory: &dyn SheetDirectory) -> Option<SheetInfo> {
    let code = SheetCode::parse(payload.trim()).ok()?;
    directory.lookup(&code)
}

/// OCR output may carry other text: try the whole, then every line, then every run of
/// code-like characters.
fn ocr_candidates(text: &str, directory: &dyn SheetDirectory) -> Option<SheetInfo> {
    ocr_text_candidates(text, directory).ok()
}

/// The sheet named by what an OCR engine read in the crop of a printed id (other text, line
/// breaks and spaces around it allowed), or why none. Letters the code's alphabet leaves out
/// because they look like digits (`O`, `I`, `L`) are read as those digits, and lower case as
/// upper case, as an OCR engine that knows no font may write them; the check symbol and the
/// directory then decide. Several different sheets in one text name none.
pub fn ocr_text_candidates(
    text: &str,
    directory: &dyn SheetDirectory,
) -> Result<SheetInfo, Unidentified> {
    let normal: String = text
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            u => u,
        })
        .collect();
    let mut candidates: Vec<&str> = vec![normal.as_str()];
    candidates.extend(normal.lines());
    candidates.extend(normal.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')));
    // A code split over words (`K7QM4 - X2…`): the code-like characters of each line together.
    let squeezed: Vec<String> = normal
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        })
        .collect();
    candidates.extend(squeezed.iter().map(String::as_str));
    let mut found: Option<SheetInfo> = None;
    let mut unknown: Option<String> = None;
    for c in candidates {
        let Ok(code) = SheetCode::parse(c.trim()) else {
            continue;
        };
        match directory.lookup(&code) {
            Some(sheet) => match &found {
                Some(f) if f.code != sheet.code => return Err(Unidentified::QrUnreadable),
                Some(_) => {}
                None => found = Some(sheet),
            },
            None => unknown = Some(code.printed()),
        }
    }
    match (found, unknown) {
        (Some(sheet), _) => Ok(sheet),
        (None, Some(code)) => Err(Unidentified::UnknownCode(code)),
        (None, None) => Err(Unidentified::QrUnreadable),
    }
}

/// An upright crop of the QR region (plus `grow`× its size, centred, quiet zone included) at
/// `module_px` pixels per module.
pub fn qr_crop(
    image: &GrayImage,
    h: &Homography,
    frame: &PageFrame,
    module_px: f32,
    grow: f32,
) -> GrayImage {
    let module = frame.qr.size / model::layout::QR_MODULES as f32;
    let quiet = model::layout::QR_QUIET_MODULES as f32 * module;
    let side = (frame.qr.size + 2.0 * quiet) * grow;
    let cx = frame.qr.x + frame.qr.size / 2.0;
    let cy = frame.qr.y + frame.qr.size / 2.0;
    let rect = Rect {
        x: cx - side / 2.0,
        y: cy - side / 2.0,
        width: side,
        height: side,
    };
    sample_rect(image, h, &rect, module_px / module)
}

/// An upright crop of the printed text id at 4 pixels per point (~290 dpi), with a margin.
pub fn text_crop(image: &GrayImage, h: &Homography, text_id: &Rect) -> GrayImage {
    let m = 4.0;
    let rect = Rect {
        x: text_id.x - m,
        y: text_id.y - m,
        width: text_id.width + 2.0 * m,
        height: text_id.height + 2.0 * m,
    };
    sample_rect(image, h, &rect, 4.0)
}

/// rqrr on a crop; `None` on failure or panic.
pub fn rqrr_decode(crop: &GrayImage) -> Option<String> {
    guarded(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            crop.width() as usize,
            crop.height() as usize,
            |x, y| crop.get_pixel(x as u32, y as u32).0[0],
        );
        prepared
            .detect_grids()
            .into_iter()
            .take(4)
            .find_map(|g| g.decode().ok().map(|(_, text)| text))
    })
    .ok()
    .flatten()
}

/// rxing (ZXing) on a crop; `None` on failure or panic.
pub fn rxing_decode(crop: &GrayImage) -> Option<String> {
    guarded(|| {
        rxing::helpers::detect_in_luma(
            crop.as_raw().clone(),
            crop.width(),
            crop.height(),
            Some(rxing::BarcodeFormat::QR_CODE),
        )
        .ok()
        .map(|r| r.getText().to_string())
    })
    .ok()
    .flatten()
}
