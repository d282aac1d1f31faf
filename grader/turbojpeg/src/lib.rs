//! JPEG decoding through libjpeg-turbo's TurboJPEG API, when the system has it.
//!
//! A 300-dpi page is decoded straight to half size with libjpeg-turbo's scaled IDCT: the
//! full-resolution page (8.7 MB on A4) is never written, zeroed or read back. That is the
//! decode the grader's throughput target is measured against (BENCHMARKS.md, grading
//! throughput).
//!
//! The library is opened at run time (`libturbojpeg.so.0`, Debian's `libturbojpeg0`, in the
//! container image): no build needs a C toolchain or headers, and a machine without it gets
//! `None` here and decodes with the pure-Rust decoders. `GABARITO_TURBOJPEG=off` makes it absent
//! on purpose (for comparisons). Any error or warning from libjpeg-turbo is `None` too: the
//! caller's own decoder then decides, and words, what is wrong with the file.

use std::ffi::{c_int, c_ulong, c_void};
use std::sync::OnceLock;

type Handle = *mut c_void;
type InitFn = unsafe extern "C" fn() -> Handle;
type DecompressFn = unsafe extern "C" fn(
    Handle,
    *const u8,
    c_ulong,
    *mut u8,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
) -> c_int;
type HeaderFn = unsafe extern "C" fn(
    Handle,
    *const u8,
    c_ulong,
    *mut c_int,
    *mut c_int,
    *mut c_int,
    *mut c_int,
) -> c_int;
type DestroyFn = unsafe extern "C" fn(Handle) -> c_int;

/// `TJPF_GRAY` in `turbojpeg.h`: one byte a pixel, luma only.
const TJPF_GRAY: c_int = 6;
/// `TJFLAG_LIMITSCANS`: refuse a progressive JPEG of more than 500 scans, a known way to make
/// a small file cost minutes of CPU.
const TJFLAG_LIMITSCANS: c_int = 32768;

/// The library's entry points, resolved once.
struct TurboJpeg {
    init: InitFn,
    header: HeaderFn,
    decompress: DecompressFn,
    destroy: DestroyFn,
    // Kept open for the life of the process: the function pointers above point into it.
    _library: libloading::Library,
}

/// The library when it can be used (present, not switched off), opened on first use.
fn library() -> Option<&'static TurboJpeg> {
    static LIBRARY: OnceLock<Option<TurboJpeg>> = OnceLock::new();
    LIBRARY
        .get_or_init(|| {
            if std::env::var("GABARITO_TURBOJPEG").is_ok_and(|v| v == "off" || v == "0") {
                return None;
            }
            open().ok()
        })
        .as_ref()
}

fn open() -> Result<TurboJpeg, libloading::Error> {
    // SAFETY: loading libturbojpeg runs no initialisers beyond libc's; each symbol is given
    // the signature `turbojpeg.h` (TurboJPEG 2.x, kept in 3.x) declares for it.
    unsafe {
        let library = libloading::Library::new("libturbojpeg.so.0")?;
        let init = *library.get::<InitFn>(b"tjInitDecompress\0")?;
        let header = *library.get::<HeaderFn>(b"tjDecompressHeader3\0")?;
        let decompress = *library.get::<DecompressFn>(b"tjDecompress2\0")?;
        let destroy = *library.get::<DestroyFn>(b"tjDestroy\0")?;
        Ok(TurboJpeg {
            init,
            header,
            decompress,
            destroy,
            _library: library,
        })
    }
}

/// Whether JPEGs are decoded by libjpeg-turbo in this process (for reports and benchmarks).
pub fn available() -> bool {
    library().is_some()
}

/// A decoded grayscale image, one byte a pixel, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height` bytes.
    pub pixels: Vec<u8>,
}

/// Decodes a JPEG of `width`×`height` pixels (as its header declares them: the caller checks
/// them against its limits first, since this allocates the output) to grayscale, scaled down
/// by `denominator` (1, 2, 4 or 8) in the IDCT. `None` when libjpeg-turbo is not available,
/// the denominator is not one of those, the file's header does not declare `width`×`height`,
/// or libjpeg-turbo reports any error or warning.
pub fn decode_gray_scaled(bytes: &[u8], width: u32, height: u32, denominator: u32) -> Option<Gray> {
    let turbo = library()?;
    if !matches!(denominator, 1 | 2 | 4 | 8) {
        return None;
    }
    // TJSCALED: the scaled size rounds up, as libjpeg's own output size does.
    let scaled = |d: u32| d.div_ceil(denominator);
    let (w, h) = (scaled(width), scaled(height));
    let (cw, ch) = (c_int::try_from(w).ok()?, c_int::try_from(h).ok()?);
    let len = c_ulong::try_from(bytes.len()).ok()?;
    let mut pixels = vec![0u8; w as usize * h as usize];
    // SAFETY: the header is read into four local ints. `pixels` holds `w * h` bytes, one a
    // pixel at a pitch of `w`: exactly what tjDecompress2 writes for TJPF_GRAY when asked for
    // `w`×`h` of an image whose header declares `width`×`height` (checked first), the size of
    // its 1/`denominator` scaling factor (it picks the largest that fits, this one). The
    // handle is this call's own, destroyed before returning; `bytes` outlives the call.
    let status = unsafe {
        let handle = (turbo.init)();
        if handle.is_null() {
            return None;
        }
        let (mut hw, mut hh, mut subsampling, mut colorspace) = (0, 0, 0, 0);
        let read = (turbo.header)(
            handle,
            bytes.as_ptr(),
            len,
            &mut hw,
            &mut hh,
            &mut subsampling,
            &mut colorspace,
        );
        if read != 0 || u32::try_from(hw) != Ok(width) || u32::try_from(hh) != Ok(height) {
            (turbo.destroy)(handle);
            return None;
        }
        let status = (turbo.decompress)(
            handle,
            bytes.as_ptr(),
            len,
            pixels.as_mut_ptr(),
            cw,
            cw,
            ch,
            TJPF_GRAY,
            TJFLAG_LIMITSCANS,
        );
        (turbo.destroy)(handle);
        status
    };
    (status == 0).then_some(Gray {
        width: w,
        height: h,
        pixels,
    })
}
