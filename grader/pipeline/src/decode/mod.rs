//! Decoding: file bytes → grayscale pages at a working resolution.
//!
//! Limits are checked from headers before any pixel buffer is allocated, so a decompression bomb
//! is refused rather than decoded. JPEGs are decoded with the IDCT scaled down (1/2, 1/4, 1/8)
//! when the scan is finer than the grader needs, which is most of the decode cost saved.
//! Scanner PDFs are not rasterised: the image embedded in each page is extracted, one page at a
//! time ([`pages`]), so memory does not grow with the page count.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{GrayImage, ImageFormat};

/// Input limits. The defaults admit a 600-dpi A3 scan, and a PDF of 500 pages scanned at 300
/// dpi on A4 or Letter, and refuse anything much larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file accepted, bytes.
    pub max_file_bytes: u64,
    /// Largest width or height of one image, pixels.
    pub max_side: u32,
    /// Largest pixel count of one image.
    pub max_pixels: u64,
    /// Most pages read from one PDF: a file with more is refused whole, before any page is
    /// decoded (split it into smaller files).
    pub max_pages: usize,
    /// Most pixels decoded from one file, all its pages' images together (as declared by each
    /// image, before decoding). Pages past the budget are refused one by one with
    /// [`DecodeError::FilePixelBudget`]; the pages before them are graded. This bounds the time
    /// a small file can cost (one image drawn on thousands of pages).
    pub max_file_pixels: u64,
}

/// Pages of a 300-dpi A4 scan (2480 × 3508 pixels) the default [`Limits::max_file_pixels`]
/// admits, with room to spare: the default page limit.
const DEFAULT_MAX_PAGES: usize = 500;

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 200 * 1024 * 1024,
            max_side: 12_000,
            max_pixels: 80_000_000,
            max_pages: DEFAULT_MAX_PAGES,
            max_file_pixels: 5_000_000_000,
        }
    }
}

/// The long side of the working image is brought down towards this (≈ 128 dpi on A4): bubbles
/// stay ~8 px in radius and QR modules ~5 px, plenty for both, at a quarter of the pixels of a
/// 300-dpi scan.
pub const WORKING_LONG_SIDE: u32 = 1500;

/// Why a file or page cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The file is larger than [`Limits::max_file_bytes`].
    #[error("file too large: {0} bytes (limit {1})")]
    FileTooLarge(u64, u64),
    /// The header announces an image beyond the limits (a decompression bomb, or a mistake).
    #[error("image too large: {0}×{1} pixels (refused before decoding)")]
    TooManyPixels(u64, u64),
    /// Not an image or PDF format the grader reads.
    #[error("unsupported file format{0}")]
    Unsupported(String),
    /// The data is damaged.
    #[error("corrupt {0}: {1}")]
    Corrupt(&'static str, String),
    /// The PDF is encrypted with a password the grader does not have.
    #[error(
        "PDF is password-protected (encrypted): save or scan it again without a password, then grade it"
    )]
    Encrypted,
    /// The PDF has more pages than [`Limits::max_pages`]; refused before any page is read.
    #[error(
        "PDF has {0} pages, more than the {1} graded from one file: split it into smaller files"
    )]
    TooManyPages(usize, usize),
    /// The page would take the file past [`Limits::max_file_pixels`].
    #[error(
        "page refused: the file's page images add up to more than {} megapixels, the limit for one file: split it into smaller files",
        .0 / 1_000_000
    )]
    FilePixelBudget(u64),
    /// The decoder panicked on this input (a bug in a decoder, caught).
    #[error("decoder crashed")]
    Crashed,
    /// A PDF page without an embedded image (a born-digital PDF, not a scan).
    #[error("PDF page holds no scanned image (born-digital PDFs are not rasterised)")]
    NoImageOnPage,
    /// The file could not be read.
    #[error("cannot read file: {0}")]
    Io(String),
}

/// One decoded page.
#[derive(Debug)]
pub struct DecodedPage {
    /// Page number in the file, from 1.
    pub page: u32,
    /// The page in grayscale at working resolution, or why not.
    pub image: Result<GrayImage, DecodeError>,
}

/// Reads a file, refusing one beyond the size limit before reading it.
pub fn read_file_limited(path: &Path, limits: &Limits) -> Result<Vec<u8>, DecodeError> {
    let meta = std::fs::metadata(path).map_err(|e| DecodeError::Io(e.to_string()))?;
    if meta.len() > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge(meta.len(), limits.max_file_bytes));
    }
    std::fs::read(path).map_err(|e| DecodeError::Io(e.to_string()))
}

/// The pages of a file, decoded one at a time as they are asked for.
pub struct Pages<'a>(PagesInner<'a>);

enum PagesInner<'a> {
    /// A raster image: one page, decoded already.
    Image(Option<GrayImage>),
    /// A PDF: each page's image is read and decoded when the page is reached.
    Pdf(Box<pdf::PdfPages<'a>>),
}

impl Iterator for Pages<'_> {
    type Item = DecodedPage;

    fn next(&mut self) -> Option<DecodedPage> {
        match &mut self.0 {
            PagesInner::Image(image) => image.take().map(|image| DecodedPage {
                page: 1,
                image: Ok(image),
            }),
            PagesInner::Pdf(pdf) => pdf.next(),
        }
    }
}

/// Opens an image or a PDF held in memory for decoding page by page. What is wrong with the
/// file as a whole (too large, not a format read, a damaged or password-protected PDF, too many
/// pages) is an error here; what is wrong with one page is that page's error.
pub fn pages<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Pages<'a>, DecodeError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(DecodeError::FileTooLarge(
            bytes.len() as u64,
            limits.max_file_bytes,
        ));
    }
    if bytes.starts_with(b"%PDF") {
        return Ok(Pages(PagesInner::Pdf(Box::new(pdf::open(bytes, limits)?))));
    }
    Ok(Pages(PagesInner::Image(Some(decode_image(bytes, limits)?))))
}

/// Decodes every page of an image or a PDF at once (see [`pages`] to hold one at a time).
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Vec<DecodedPage>, DecodeError> {
    Ok(pages(bytes, limits)?.collect())
}

/// Decodes one raster image (JPEG, PNG, TIFF) to working resolution.
pub fn decode_image(bytes: &[u8], limits: &Limits) -> Result<GrayImage, DecodeError> {
    let format = image::guess_format(bytes)
        .map_err(|_| DecodeError::Unsupported(" (not JPEG, PNG, TIFF or PDF)".into()))?;
    match format {
        ImageFormat::Jpeg => decode_jpeg(bytes, limits),
        ImageFormat::Png | ImageFormat::Tiff => decode_other(bytes, format, limits),
        other => Err(DecodeError::Unsupported(format!(" {other:?}"))),
    }
}

fn check_dims(w: u64, h: u64, limits: &Limits) -> Result<(), DecodeError> {
    if w == 0 || h == 0 {
        return Err(DecodeError::Corrupt("image", "zero width or height".into()));
    }
    if w > u64::from(limits.max_side) || h > u64::from(limits.max_side) || w * h > limits.max_pixels
    {
        return Err(DecodeError::TooManyPixels(w, h));
    }
    Ok(())
}

/// JPEG to a grayscale page at working size: through libjpeg-turbo where the system has it
/// (the `turbojpeg` crate), otherwise through [`decode_jpeg_pure`], which also decides (and
/// words) what is wrong with a file libjpeg-turbo does not decode cleanly.
pub fn decode_jpeg(bytes: &[u8], limits: &Limits) -> Result<GrayImage, DecodeError> {
    decode_jpeg_with(bytes, limits, true)
}

/// [`decode_jpeg`] with the pure-Rust decoders only (zune-jpeg, jpeg-decoder), as on a machine
/// without libjpeg-turbo.
pub fn decode_jpeg_pure(bytes: &[u8], limits: &Limits) -> Result<GrayImage, DecodeError> {
    decode_jpeg_with(bytes, limits, false)
}

/// Whether [`decode_jpeg`] decodes through libjpeg-turbo in this process.
pub fn jpeg_through_libjpeg_turbo() -> bool {
    turbojpeg::available()
}

fn decode_jpeg_with(bytes: &[u8], limits: &Limits, turbo: bool) -> Result<GrayImage, DecodeError> {
    let corrupt = |e: jpeg_decoder::Error| DecodeError::Corrupt("JPEG", e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::Corrupt("JPEG", "no frame header".into()))?;
    let (w, h) = (u64::from(info.width), u64::from(info.height));
    check_dims(w, h, limits)?;
    decoder.set_max_decoding_buffer_size((limits.max_pixels * 4) as usize);
    let long = w.max(h);
    // libjpeg-turbo, where the system has it: the page decoded straight to working size
    // (BENCHMARKS.md, grading throughput). Otherwise, or on any error, the pure-Rust paths.
    if turbo
        && let Some(image) = turbojpeg::decode_gray_scaled(
            bytes,
            info.width.into(),
            info.height.into(),
            idct_denominator(long),
        )
        .and_then(|s| GrayImage::from_raw(s.width, s.height, s.pixels))
    {
        return Ok(to_working(image));
    }
    // A grayscale scan twice the working size (300 dpi on A4 or Letter): zune-jpeg decodes it
    // whole and a 2×2 box brings it down in less CPU than jpeg-decoder's half-scale IDCT
    // (Huffman decoding, paid at every scale, dominates; zune's is faster). On any error the
    // page goes through jpeg-decoder as before, whose messages the reports quote.
    if info.pixel_format == jpeg_decoder::PixelFormat::L8
        && long / u64::from(WORKING_LONG_SIDE) == 2
        && let Some(image) = decode_gray_zune(bytes, w, h)
    {
        return Ok(to_working(image));
    }
    if long > u64::from(WORKING_LONG_SIDE) {
        // Ask for the smallest scale that keeps the long side at or above the working size.
        let f = long as f64 / f64::from(WORKING_LONG_SIDE);
        let rw = ((w as f64 / f).ceil() as u64).clamp(1, u64::from(u16::MAX)) as u16;
        let rh = ((h as f64 / f).ceil() as u64).clamp(1, u64::from(u16::MAX)) as u16;
        decoder.scale(rw, rh).map_err(corrupt)?;
    }
    let pixels = decoder.decode().map_err(corrupt)?;
    let info = decoder
        .info()
        .ok_or_else(|| DecodeError::Corrupt("JPEG", "no frame header".into()))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let n = w as usize * h as usize;
    let gray: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => pixels,
        jpeg_decoder::PixelFormat::L16 => pixels.chunks_exact(2).map(|p| p[0]).collect(),
        jpeg_decoder::PixelFormat::RGB24 => pixels
            .chunks_exact(3)
            .map(|p| luma(p[0], p[1], p[2]))
            .collect(),
        jpeg_decoder::PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .map(|p| {
                // jpeg-decoder hands back inverted (Adobe) CMYK: 255 = no ink.
                let k = u32::from(p[3]);
                let c = |v: u8| (u32::from(v) * k / 255) as u8;
                luma(c(p[0]), c(p[1]), c(p[2]))
            })
            .collect(),
    };
    if gray.len() < n {
        return Err(DecodeError::Corrupt("JPEG", "truncated pixel data".into()));
    }
    let image = GrayImage::from_raw(w, h, gray)
        .ok_or_else(|| DecodeError::Corrupt("JPEG", "pixel buffer size".into()))?;
    Ok(to_working(image))
}

/// The IDCT scale (1/1, 1/2, 1/4 or 1/8) that keeps an image's long side at or above the
/// working size: the smallest image the grader can use, decoded for the least work.
fn idct_denominator(long: u64) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&d| long.div_ceil(u64::from(d)) >= u64::from(WORKING_LONG_SIDE))
        .unwrap_or(1)
}

/// A single-component 8-bit JPEG through zune-jpeg, when it decodes to the size its header
/// declared (`w`×`h`, already checked against the limits); `None` otherwise.
fn decode_gray_zune(bytes: &[u8], w: u64, h: u64) -> Option<GrayImage> {
    let options = zune_core::options::DecoderOptions::default()
        .jpeg_set_out_colorspace(zune_core::colorspace::ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    let pixels = decoder.decode().ok()?;
    let (dw, dh) = decoder.dimensions()?;
    if dw as u64 != w || dh as u64 != h || pixels.len() != dw * dh {
        return None;
    }
    GrayImage::from_raw(u32::try_from(dw).ok()?, u32::try_from(dh).ok()?, pixels)
}

/// PNG and TIFF through the `image` crate, with its limits set from ours.
fn decode_other(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<GrayImage, DecodeError> {
    let name = if format == ImageFormat::Png {
        "PNG"
    } else {
        "TIFF"
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| DecodeError::Corrupt(name, e.to_string()))?;
    check_dims(u64::from(w), u64::from(h), limits)?;
    reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 8);
    reader.limits(l);
    let image = reader
        .decode()
        .map_err(|e| DecodeError::Corrupt(name, e.to_string()))?;
    Ok(to_working(image.into_luma8()))
}

/// ITU-R BT.601 luma, integer.
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// Box-filters the image down by an integer factor while its long side is at least twice the
/// working size (the JPEG path has usually done this already in the IDCT).
pub fn to_working(image: GrayImage) -> GrayImage {
    let long = image.width().max(image.height());
    let factor = long / WORKING_LONG_SIDE;
    if factor < 2 {
        return image;
    }
    box_down(&image, factor)
}

/// Averages `f`×`f` blocks.
pub fn box_down(image: &GrayImage, f: u32) -> GrayImage {
    if f == 2 {
        return box_down_2(image);
    }
    let (w, h) = (image.width() / f, image.height() / f);
    let src = image.as_raw();
    let sw = image.width() as usize;
    let mut out = vec![0u8; w as usize * h as usize];
    let area = f * f;
    let mut acc = vec![0u32; w as usize];
    for y in 0..h as usize {
        acc.iter_mut().for_each(|a| *a = 0);
        for dy in 0..f as usize {
            let row = &src[(y * f as usize + dy) * sw..][..sw];
            for (x, a) in acc.iter_mut().enumerate() {
                let s = &row[x * f as usize..][..f as usize];
                *a += s.iter().map(|&v| u32::from(v)).sum::<u32>();
            }
        }
        for (x, a) in acc.iter().enumerate() {
            out[y * w as usize + x] = ((a + area / 2) / area) as u8;
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// [`box_down`] by 2, the common case (a 300-dpi scan), written so the compiler can vectorise it.
fn box_down_2(image: &GrayImage) -> GrayImage {
    let (w, h) = (image.width() / 2, image.height() / 2);
    let sw = image.width() as usize;
    let src = image.as_raw();
    let mut out = vec![0u8; w as usize * h as usize];
    if w > 0 {
        for (y, o) in out.chunks_exact_mut(w as usize).enumerate() {
            let top = &src[2 * y * sw..][..2 * w as usize];
            let bottom = &src[(2 * y + 1) * sw..][..2 * w as usize];
            for ((o, t), b) in o
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                let sum = u16::from(t[0]) + u16::from(t[1]) + u16::from(b[0]) + u16::from(b[1]);
                *o = ((sum + 2) / 4) as u8;
            }
        }
    }
    GrayImage::from_raw(w, h, out).unwrap_or_else(|| GrayImage::new(1, 1))
}

/// Reads at most `limit` bytes from `r`; more is an error (a bomb).
pub(crate) fn read_bounded(
    r: impl Read,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    r.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt(what, e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(DecodeError::Corrupt(
            what,
            "stream larger than its declared image".into(),
        ));
    }
    Ok(out)
}

pub mod pdf;
