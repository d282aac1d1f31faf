//! Rasterising the real `bundle.pdf` with poppler's `pdftoppm`, the way a print-and-scan loop
//! starts: what the grader sees is the renderer's actual output, not a re-drawing of the layout.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::GrayImage;

use crate::SimError;

/// PDF points per inch.
pub const POINTS_PER_INCH: f32 = 72.0;

/// Pixels per PDF point at `dpi`: multiply a layout coordinate by this to get a pixel
/// coordinate of a page rasterised at `dpi` (pixel `i` covers `[i, i + 1)`).
pub fn px_per_pt(dpi: u32) -> f32 {
    dpi as f32 / POINTS_PER_INCH
}

/// Rasterises pages `first..=last` (1-based) of the PDF at `path` in grayscale at `dpi`.
///
/// Runs `pdftoppm -gray` (Debian's `poppler-utils`) into a temporary folder and reads its PGM
/// output, so a long bundle can be processed a few pages at a time without holding every page.
pub fn rasterize_pages(
    path: &Path,
    dpi: u32,
    first: u32,
    last: u32,
) -> Result<Vec<GrayImage>, SimError> {
    let dir = tempfile::tempdir().map_err(|e| SimError::Io(format!("temp dir: {e}")))?;
    let prefix = dir.path().join("page");
    let output = Command::new("pdftoppm")
        .arg("-gray")
        .arg("-r")
        .arg(dpi.to_string())
        .arg("-f")
        .arg(first.to_string())
        .arg("-l")
        .arg(last.to_string())
        .arg(path)
        .arg(&prefix)
        .output()
        .map_err(|e| SimError::Tool(format!("cannot run pdftoppm (install poppler-utils): {e}")))?;
    if !output.status.success() {
        return Err(SimError::Tool(format!(
            "pdftoppm failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .map_err(|e| SimError::Io(format!("reading pdftoppm output: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pgm"))
        .collect();
    // pdftoppm zero-pads page numbers to the width of the last one, so names sort in page order.
    files.sort();
    files
        .iter()
        .map(|p| {
            let bytes =
                std::fs::read(p).map_err(|e| SimError::Io(format!("{}: {e}", p.display())))?;
            parse_pgm(&bytes)
        })
        .collect()
}

/// Number of pages of the PDF at `path` (`pdfinfo`).
pub fn page_count(path: &Path) -> Result<u32, SimError> {
    let output = Command::new("pdfinfo")
        .arg(path)
        .output()
        .map_err(|e| SimError::Tool(format!("cannot run pdfinfo (install poppler-utils): {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| SimError::Tool(format!("pdfinfo gave no page count for {}", path.display())))
}

/// Parses a binary 8-bit PGM (`P5`), the format `pdftoppm -gray` writes.
pub fn parse_pgm(bytes: &[u8]) -> Result<GrayImage, SimError> {
    let bad = |why: &str| SimError::Format(format!("PGM: {why}"));
    let mut fields = Vec::with_capacity(4);
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < bytes.len() && bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'#' {
            while pos < bytes.len() && bytes[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < bytes.len() && !bytes[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if start == pos {
            return Err(bad("truncated header"));
        }
        fields.push(String::from_utf8_lossy(&bytes[start..pos]).into_owned());
    }
    // Exactly one whitespace byte separates the header from the samples.
    pos += 1;
    if fields[0] != "P5" {
        return Err(bad("not a binary graymap"));
    }
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad("bad number"));
    let (width, height, max) = (
        number(&fields[1])?,
        number(&fields[2])?,
        number(&fields[3])?,
    );
    if max != 255 {
        return Err(bad("only 8-bit samples are supported"));
    }
    let len = width as usize * height as usize;
    let data = bytes
        .get(pos..pos + len)
        .ok_or_else(|| bad("truncated samples"))?;
    GrayImage::from_raw(width, height, data.to_vec()).ok_or_else(|| bad("size mismatch"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_pgm_with_a_comment() {
        let mut bytes = b"P5\n# made by hand\n3 2\n255\n".to_vec();
        bytes.extend_from_slice(&[0, 10, 20, 30, 40, 255]);
        let img = parse_pgm(&bytes).expect("parses");
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.get_pixel(2, 1).0[0], 255);
    }

    #[test]
    fn refuses_truncated_samples() {
        assert!(parse_pgm(b"P5 4 4 255\n\0\0").is_err());
    }
}
