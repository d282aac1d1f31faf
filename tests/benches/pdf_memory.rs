//! Peak memory of grading one large scanner PDF: 300 pages (by default) of 300-dpi grayscale
//! JPEG sheets of the 90-question example exam, one image per page, as a feeder scanner writes
//! them (~190 MB). Prints pages, seconds and peak RSS of the grading process.
//!
//! `cargo bench -p gabarito-tests --bench pdf_memory` (needs `pdftoppm`; not part of CI).
//! Environment: `GABARITO_PAGES` (default 300), `GABARITO_SHEETS` (distinct simulated sheets
//! cycled through the pages, default 24), `GABARITO_PDF_DIR` (keep `scan.pdf` and `bundle.json`
//! there, to grade them again with `pdf_memory --grade-only DIR`).
//!
//! The PDF is generated first and written to a temporary folder; a child process of this same
//! program then reads it into memory once and grades it, so the peak memory it reports is the
//! grader's (the file's bytes included), not the simulator's.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;

const SEED: u64 = 0x0DF_2026;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--grade-only") {
        let dir = args.get(i + 1).context("--grade-only DIR")?;
        return grade_only(Path::new(dir));
    }
    let pages = env_usize("GABARITO_PAGES", 300);
    let sheets = env_usize("GABARITO_SHEETS", 24).clamp(1, pages.max(1));
    let started = Instant::now();
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(sheets), SEED)?;
    let opts = SetOptions {
        seed: SEED,
        sheets,
        dpi: 300,
        mix: Mix::scanner((70, 80)),
        keep_failures: None,
    };
    let jpegs = for_each_scan(&fx, &opts, |scan| gray_jpeg(scan.bytes))?
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let temp = tempfile::tempdir()?;
    let work = match std::env::var_os("GABARITO_PDF_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => temp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&work)?;
    let pdf = work.join("scan.pdf");
    let size = write_scanner_pdf(&pdf, &jpegs, pages)?;
    println!(
        "generated a {pages}-page PDF of {sheets} distinct 300-dpi grayscale JPEG sheets, {:.0} MB, in {:.0} s",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(work.join("bundle.json"), serde_json::to_string(&fx.bundle)?)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--grade-only")
        .arg(&work)
        .status()?;
    anyhow::ensure!(status.success(), "grading child failed: {status}");
    Ok(())
}

/// A JPEG page image: width, height and the file's bytes, grayscale (what a scanner set to
/// grayscale writes).
struct Jpeg {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

fn gray_jpeg(bytes: Vec<u8>) -> anyhow::Result<Jpeg> {
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)?;
    let (width, height) = (image.width(), image.height());
    if image.color() == image::ColorType::L8 {
        return Ok(Jpeg {
            width,
            height,
            bytes,
        });
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&image.to_luma8())?;
    Ok(Jpeg {
        width,
        height,
        bytes: out,
    })
}

/// Counts what it writes, for the xref offsets.
struct Counted<W: Write> {
    out: W,
    at: u64,
}

impl<W: Write> Counted<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<u64> {
        let start = self.at;
        self.out.write_all(bytes)?;
        self.at += bytes.len() as u64;
        Ok(start)
    }
}

/// Writes a PDF with one full-page DCT image per page (classic xref table), cycling through
/// `jpegs`; every page has an image object of its own, as in a real scan. Returns its size.
fn write_scanner_pdf(path: &Path, jpegs: &[Jpeg], pages: usize) -> anyhow::Result<u64> {
    let mut out = Counted {
        out: BufWriter::new(std::fs::File::create(path)?),
        at: 0,
    };
    out.put(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")?;
    // Objects: 1 catalog, 2 page tree, then per page i: 3+3i page, 4+3i image, 5+3i content.
    let mut offsets = vec![out.put(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")?];
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", 3 + 3 * i)).collect();
    let tree = format!(
        "2 0 obj\n<< /Type /Pages /Kids [{}] /Count {pages} >>\nendobj\n",
        kids.join(" ")
    );
    offsets.push(out.put(tree.as_bytes())?);
    for (i, jpeg) in jpegs.iter().cycle().take(pages).enumerate() {
        let (page_id, image_id, content_id) = (3 + 3 * i, 4 + 3 * i, 5 + 3 * i);
        let page = format!(
            "{page_id} 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im0 {image_id} 0 R >> >> /Contents {content_id} 0 R >>\nendobj\n"
        );
        offsets.push(out.put(page.as_bytes())?);
        let image_head = format!(
            "{image_id} 0 obj\n<< /Type /XObject /Subtype /Image /Width {} /Height {} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode /Length {} >>\nstream\n",
            jpeg.width,
            jpeg.height,
            jpeg.bytes.len()
        );
        offsets.push(out.put(image_head.as_bytes())?);
        out.put(&jpeg.bytes)?;
        out.put(b"\nendstream\nendobj\n")?;
        let ops = "q 595 0 0 842 0 0 cm /Im0 Do Q";
        let content = format!(
            "{content_id} 0 obj\n<< /Length {} >>\nstream\n{ops}\nendstream\nendobj\n",
            ops.len()
        );
        offsets.push(out.put(content.as_bytes())?);
    }
    let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1);
    for o in &offsets {
        xref.push_str(&format!("{o:010} 00000 n \n"));
    }
    xref.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{}\n%%EOF\n",
        offsets.len() + 1,
        out.at
    ));
    out.put(xref.as_bytes())?;
    out.out.flush()?;
    drop(out);
    Ok(std::fs::metadata(path)?.len())
}

fn grade_only(dir: &Path) -> anyhow::Result<()> {
    let bundle: model::Bundle =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json"))?)?;
    let grader = pipeline::Grader::new(bundle);
    let rss_before = gabarito_tests::measure::peak_rss_mib();
    let started = Instant::now();
    // The caller holds the file's bytes once, as the command line does.
    let bytes = std::fs::read(dir.join("scan.pdf"))?;
    let (mut pages, mut identified, mut failed) = (0usize, 0usize, 0usize);
    grader.grade_each_page("scan.pdf", &bytes, |graded| {
        pages += 1;
        identified += usize::from(graded.report.sheet_code.is_some());
        failed += usize::from(graded.report.error.is_some());
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "graded {pages} pages ({identified} identified, {failed} failed) in {seconds:.1} s ({:.1} pages/s)",
        pages as f64 / seconds
    );
    println!(
        "PEAK RSS {:.0} MiB (before reading the file {:.0} MiB; the file's bytes {:.0} MiB)",
        gabarito_tests::measure::peak_rss_mib(),
        rss_before,
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
