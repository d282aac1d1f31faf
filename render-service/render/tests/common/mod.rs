//! Helpers for the rendering tests: poppler tools, PGM pages, QR decoding, circle measurement.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use model::layout::{QR_MODULE, QR_QUIET_MODULES, QrPlacement};

/// The workspace root (examples/ and docs/ live there).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("workspace root")
        .to_path_buf()
}

/// Runs a poppler tool and returns its stdout; fails the test with a clear message when
/// poppler-utils is missing.
pub fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable ({e}): install poppler-utils"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Number of pages according to `pdfinfo`.
pub fn pdfinfo_pages(pdf: &Path) -> usize {
    let info = poppler("pdfinfo", &[pdf.to_str().expect("path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in pdfinfo output:\n{info}"))
}

/// Text of every page according to `pdftotext` (pages split on form feeds).
pub fn pdftotext_pages(pdf: &Path) -> Vec<String> {
    let text = poppler("pdftotext", &[pdf.to_str().expect("path"), "-"]);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_string).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// A greyscale raster, 0 black … 255 white.
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Gray {
    /// Reads a binary PGM (P5, maxval 255) as written by `pdftoppm -gray`.
    pub fn read_pgm(path: &Path) -> Gray {
        let bytes = std::fs::read(path).expect("read pgm");
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes[i] == b'#' {
                while bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&bytes[start..i]).to_string());
        }
        assert_eq!(fields[0], "P5", "not a binary PGM");
        let width: usize = fields[1].parse().expect("width");
        let height: usize = fields[2].parse().expect("height");
        assert_eq!(fields[3], "255");
        let pixels = bytes[i + 1..i + 1 + width * height].to_vec();
        Gray {
            width,
            height,
            pixels,
        }
    }

    /// Darkness (0 white … 1 black) at a sub-pixel position, bilinear; pixel centres at +0.5.
    pub fn darkness(&self, x: f32, y: f32) -> f32 {
        let (x, y) = (x - 0.5, y - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |xi: f32, yi: f32| {
            let xi = (xi as isize).clamp(0, self.width as isize - 1) as usize;
            let yi = (yi as isize).clamp(0, self.height as isize - 1) as usize;
            1.0 - f32::from(self.pixels[yi * self.width + xi]) / 255.0
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// The pixels of a rectangle (clamped to the image).
    pub fn crop(&self, x: usize, y: usize, w: usize, h: usize) -> Gray {
        let x1 = (x + w).min(self.width);
        let y1 = (y + h).min(self.height);
        let mut pixels = Vec::with_capacity((x1 - x) * (y1 - y));
        for row in y..y1 {
            pixels.extend_from_slice(&self.pixels[row * self.width + x..row * self.width + x1]);
        }
        Gray {
            width: x1 - x,
            height: y1 - y,
            pixels,
        }
    }
}

/// Rasterises every page of `pdf` with `pdftoppm -gray` at `dpi` into `dir`; returns the page
/// files in page order (PGM; read them one at a time with [`Gray::read_pgm`]: at 300 dpi an A4
/// page is 8.7 MB).
pub fn rasterise_to_files(pdf: &Path, dpi: u32, dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.join(format!("p{dpi}"));
    poppler(
        "pdftoppm",
        &[
            "-gray",
            "-r",
            &dpi.to_string(),
            pdf.to_str().expect("path"),
            prefix.to_str().expect("path"),
        ],
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("p{dpi}-")) && n.ends_with(".pgm"))
        })
        .collect();
    // pdftoppm pads page numbers to a common width, so names sort in page order.
    files.sort();
    files
}

/// Rasterises every page of `pdf` and loads them all (for small bundles).
pub fn rasterise(pdf: &Path, dpi: u32, dir: &Path) -> Vec<Gray> {
    rasterise_to_files(pdf, dpi, dir)
        .iter()
        .map(|p| Gray::read_pgm(p))
        .collect()
}

/// Decodes the QR code at `qr` (PDF points) on a page rasterised at `dpi`: crops the code with
/// its quiet zone and a little more, then tries rqrr and rxing.
pub fn decode_qr(page: &Gray, qr: &QrPlacement, dpi: u32) -> Option<String> {
    let s = dpi as f32 / 72.0;
    let margin = (QR_QUIET_MODULES as f32 + 2.0) * QR_MODULE;
    let x = ((qr.x - margin) * s).max(0.0) as usize;
    let y = ((qr.y - margin) * s).max(0.0) as usize;
    let side = ((qr.size + 2.0 * margin) * s) as usize;
    let crop = page.crop(x, y, side, side);
    decode_rqrr(&crop).or_else(|| decode_rxing(&crop))
}

fn decode_rqrr(img: &Gray) -> Option<String> {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(img.width, img.height, |x, y| {
            img.pixels[y * img.width + x]
        });
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|g| g.decode().ok().map(|(_, content)| content))
}

fn decode_rxing(img: &Gray) -> Option<String> {
    rxing::helpers::detect_in_luma(
        img.pixels.clone(),
        img.width as u32,
        img.height as u32,
        Some(rxing::BarcodeFormat::QR_CODE),
    )
    .ok()
    .map(|r| r.getText().to_string())
}

/// Points on the unit circle where a ring's darkness is sampled.
fn unit_circle() -> &'static [(f32, f32); 48] {
    static TABLE: std::sync::OnceLock<[(f32, f32); 48]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| {
            let a = i as f32 * std::f32::consts::TAU / 48.0;
            (a.cos(), a.sin())
        })
    })
}

/// Mean darkness along the circle of radius `r` (pixels) around (`cx`, `cy`) (pixels).
fn ring_darkness(img: &Gray, cx: f32, cy: f32, r: f32) -> f32 {
    let table = unit_circle();
    let sum: f32 = table
        .iter()
        .map(|&(c, s)| img.darkness(cx + r * c, cy + r * s))
        .sum();
    sum / table.len() as f32
}

/// How far (mm) the printed circle is from where the manifest says: searches centre offsets
/// within ±0.6 mm (coarse 0.1 mm grid, then 0.02 mm around the best) for the one maximising
/// the darkness along the circle of the manifest's radius. Returns (offset in mm, darkness).
pub fn circle_offset_mm(img: &Gray, dpi: u32, x: f32, y: f32, r: f32) -> (f32, f32) {
    let px_per_mm = dpi as f32 / 25.4;
    let s = dpi as f32 / 72.0;
    let (cx, cy, rp) = (x * s, y * s, r * s);
    let mut best = (0.0f32, 0.0f32, f32::MIN);
    let search = |centre: (f32, f32), step: f32, n: i32, best: &mut (f32, f32, f32)| {
        for j in -n..=n {
            for i in -n..=n {
                let dx = centre.0 + i as f32 * step;
                let dy = centre.1 + j as f32 * step;
                if dx.hypot(dy) > 0.6 + 1e-3 {
                    continue;
                }
                let d = ring_darkness(img, cx + dx * px_per_mm, cy + dy * px_per_mm, rp);
                if d > best.2 {
                    *best = (dx, dy, d);
                }
            }
        }
    };
    search((0.0, 0.0), 0.1, 6, &mut best);
    let coarse = (best.0, best.1);
    search(coarse, 0.02, 5, &mut best);
    (best.0.hypot(best.1), best.2)
}

/// Mean and largest darkness of the pixels whose centres lie within `r` points of the point
/// (`x`, `y`) (points), on a page rasterised at `dpi`.
pub fn inside_darkness(img: &Gray, dpi: u32, x: f32, y: f32, r: f32) -> (f32, f32) {
    let s = dpi as f32 / 72.0;
    let (cx, cy, rp) = (x * s, y * s, r * s);
    let (mut sum, mut n, mut max) = (0.0, 0usize, 0.0f32);
    let (y0, y1) = ((cy - rp).floor() as usize, (cy + rp).ceil() as usize);
    let (x0, x1) = ((cx - rp).floor() as usize, (cx + rp).ceil() as usize);
    for py in y0..=y1.min(img.height - 1) {
        for px in x0..=x1.min(img.width - 1) {
            let (dx, dy) = (px as f32 + 0.5 - cx, py as f32 + 0.5 - cy);
            if dx * dx + dy * dy <= rp * rp {
                let d = 1.0 - f32::from(img.pixels[py * img.width + px]) / 255.0;
                sum += d;
                n += 1;
                max = max.max(d);
            }
        }
    }
    (sum / n.max(1) as f32, max)
}

/// A word of the text layer with its box (points, top-left origin), from `pdftotext -bbox`.
#[derive(Debug, Clone)]
pub struct Word {
    pub text: String,
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

/// The words of every page, with their boxes.
pub fn pdftotext_words(pdf: &Path) -> Vec<Vec<Word>> {
    let html = poppler("pdftotext", &["-bbox", pdf.to_str().expect("path"), "-"]);
    let attr = |line: &str, name: &str| -> f32 {
        let key = format!("{name}=\"");
        let start = line.find(&key).expect("attribute") + key.len();
        let end = start + line[start..].find('"').expect("closing quote");
        line[start..end].parse().expect("number")
    };
    let mut pages = Vec::new();
    for line in html.lines().map(str::trim) {
        if line.starts_with("<page ") {
            pages.push(Vec::new());
        } else if line.starts_with("<word ") {
            let text = line
                .split_once('>')
                .and_then(|(_, rest)| rest.strip_suffix("</word>"))
                .expect("word text")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"");
            if let Some(page) = pages.last_mut() {
                page.push(Word {
                    text,
                    x_min: attr(line, "xMin"),
                    y_min: attr(line, "yMin"),
                    x_max: attr(line, "xMax"),
                    y_max: attr(line, "yMax"),
                });
            }
        }
    }
    pages
}
