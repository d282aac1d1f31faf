//! A 200-file batch through the `grader grade` command line: 190 simulated scans (150 dpi to keep
//! the run short) and 10 bad files — truncated and garbage JPEGs, an empty file, a blank white
//! page, a photo and a document that are not Gabarito sheets, PNG and JPEG decompression bombs,
//! a truncated PDF, and a sheet whose QR code and printed id were cut off. Every good sheet must
//! be graded as itself, every bad file reported with a reason, and the exit code must say that
//! some need attention.
//!
//! The `grader` binary is built by `cargo test --workspace` (grader is a workspace member with a
//! binary target); with `-p gabarito-tests` alone, build it first: `cargo build --release -p grader`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use gabarito_tests::binaries::workspace_binary;
use gabarito_tests::degrade::{encode_jpeg, encode_png};
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::noise::{PixelNoise, value_noise};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;
use image::{GrayImage, Luma};
use pipeline::PageReport;

const SEED: u64 = 0xBA7C_2026;
const GOOD: usize = 190;
const DPI: u32 = 150;

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A PNG whose header claims 100000 × 100000 grey pixels (10 GB decoded), a few hundred bytes
/// on disk: a valid zlib stream of the first rows follows.
fn png_bomb() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    // zlib, one stored block of 200 zero bytes (filter byte + samples), no final adler: the
    // stream is valid as far as it goes, as a real bomb's would be.
    let mut idat = vec![0x78, 0x01, 0x00, 200, 0, !200u8, 0xFF];
    idat.extend(std::iter::repeat_n(0u8, 200));
    png_chunk(&mut out, b"IDAT", &idat);
    out
}

/// A real JPEG whose frame header is patched to claim 65000 × 65000 pixels.
fn jpeg_bomb() -> Vec<u8> {
    let img = GrayImage::from_pixel(64, 64, Luma([200]));
    let mut bytes = encode_jpeg(&img, 80).expect("jpeg");
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    bytes[sof + 5..sof + 7].copy_from_slice(&65_000u16.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&65_000u16.to_be_bytes());
    bytes
}

/// Something photographed that is not an answer sheet: smooth shapes, texture, noise.
fn photo(seed: u64) -> GrayImage {
    let mut noise = PixelNoise::new(seed);
    GrayImage::from_fn(1200, 900, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let v = 60.0
            + 120.0 * value_noise(fx, fy, 180.0, seed)
            + 50.0 * value_noise(fx, fy, 25.0, seed ^ 1)
            + 6.0 * noise.sample();
        Luma([v.clamp(0.0, 255.0) as u8])
    })
}

/// A page of another document: a title, paragraphs of word-like bars, a table.
fn document(seed: u64) -> GrayImage {
    let (w, h) = (1240u32, 1754u32);
    let mut img = GrayImage::from_pixel(w, h, Luma([250]));
    let mut bar = |x0: u32, y0: u32, x1: u32, y1: u32, v: u8| {
        for y in y0..y1.min(h) {
            for x in x0..x1.min(w) {
                img.put_pixel(x, y, Luma([v]));
            }
        }
    };
    bar(150, 120, 900, 160, 30);
    let mut y = 230;
    let mut k = seed;
    while y < 1500 {
        let mut x = 150;
        while x < 1050 {
            k = k
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = 30 + (k >> 58) as u32 * 6;
            bar(x, y, x + word, y + 14, 40);
            x += word + 12;
        }
        y += if (k >> 40).is_multiple_of(7) { 48 } else { 26 };
    }
    for i in 0..6 {
        bar(150, 1550 + i * 30, 1090, 1552 + i * 30, 20);
    }
    img
}

#[test]
fn a_batch_with_bad_files_grades_every_good_sheet_and_explains_every_bad_one() {
    let exam = example_exam().expect("example exam");
    let fx = RenderedFixture::render(&exam, &roster(GOOD), SEED).expect("bundle renders");
    let work = tempfile::tempdir().expect("temp dir");
    let batch = work.path().join("batch");
    std::fs::create_dir_all(&batch).expect("batch dir");
    let opts = SetOptions {
        seed: SEED,
        sheets: GOOD,
        dpi: DPI,
        mix: Mix::scanner((60, 85)),
        keep_failures: None,
    };
    let truths = for_each_scan(&fx, &opts, |scan| {
        std::fs::write(batch.join(&scan.truth.file_name), &scan.bytes).expect("write scan");
        (
            scan.truth.file_name.clone(),
            scan.truth.sheet_code,
            scan.bytes,
        )
    })
    .expect("simulates");
    let good: HashMap<String, model::SheetCode> =
        truths.iter().map(|(n, c, _)| (n.clone(), *c)).collect();

    let sample = &truths[0].2;
    let pdf = std::fs::read(fx.pdf_path()).expect("bundle.pdf");
    let mut unreadable_id = image::load_from_memory(&truths[1].2)
        .expect("decodes")
        .to_luma8();
    // Cut off the top strip (QR code and printed id) as a torn page would lose it.
    let strip = unreadable_id.height() / 6;
    for y in 0..strip {
        for x in 0..unreadable_id.width() {
            unreadable_id.put_pixel(x, y, Luma([255]));
        }
    }
    let mut white_noise = PixelNoise::new(3);
    let blank = GrayImage::from_fn(1240, 1754, |_, _| {
        Luma([(246.0 + 2.0 * white_noise.sample()).clamp(0.0, 255.0) as u8])
    });
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("bad-truncated.jpg", sample[..sample.len() * 2 / 5].to_vec()),
        (
            "bad-garbage.jpg",
            (0..50_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("bad-empty.png", Vec::new()),
        ("bad-blank-page.jpg", encode_jpeg(&blank, 80).expect("jpeg")),
        ("bad-photo.jpg", encode_jpeg(&photo(5), 75).expect("jpeg")),
        ("bad-document.png", encode_png(&document(9)).expect("png")),
        ("bad-bomb.png", png_bomb()),
        ("bad-bomb.jpg", jpeg_bomb()),
        ("bad-truncated.pdf", pdf[..pdf.len() / 2].to_vec()),
        (
            "bad-no-identity.jpg",
            encode_jpeg(&unreadable_id, 80).expect("jpeg"),
        ),
    ];
    for (name, bytes) in &bad {
        std::fs::write(batch.join(name), bytes).expect("write bad file");
    }
    let files = std::fs::read_dir(&batch).expect("list").count();
    assert_eq!(files, 200);

    // Scans and records go to throwaway places, not to the working directory.
    let state = tempfile::tempdir().expect("tempdir");
    let output = Command::new(workspace_binary("grader"))
        .env("DATABASE_URL", state.path().join("gabarito.sqlite"))
        .env("GABARITO_STORAGE", state.path().join("objects"))
        .arg("grade")
        .arg(&batch)
        .arg("--bundle")
        .arg(&fx.dir)
        .arg("--json")
        .output()
        .expect("grader runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reports: Vec<PageReport> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit code should say 'some need attention'; stderr: {stderr}"
    );

    let mut by_file: HashMap<String, Vec<&PageReport>> = HashMap::new();
    for r in &reports {
        let name = Path::new(&r.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.file.clone());
        by_file.entry(name).or_default().push(r);
    }
    let mut problems = Vec::new();
    for (name, code) in &good {
        match by_file.get(name).map(Vec::as_slice) {
            Some([r]) => {
                if r.error.is_some() || r.sheet_code.as_deref() != Some(code.printed().as_str()) {
                    problems.push(format!(
                        "{name}: expected {code}, got code {:?}, error {:?}, review {:?}",
                        r.sheet_code, r.error, r.review
                    ));
                }
                if r.answers.len() != exam.questions.len() {
                    problems.push(format!("{name}: {} answers", r.answers.len()));
                }
            }
            other => problems.push(format!("{name}: {} reports", other.map_or(0, <[_]>::len))),
        }
    }
    for (name, _) in &bad {
        match by_file.get(*name) {
            Some(rs) if !rs.is_empty() => {
                for r in rs {
                    let explained = r.error.as_deref().is_some_and(|e| !e.trim().is_empty())
                        || !r.review.is_empty();
                    if !explained {
                        problems.push(format!(
                            "{name}: not reported as bad: code {:?}, error {:?}, review {:?}",
                            r.sheet_code, r.error, r.review
                        ));
                    }
                    // The truncated scan still holds the top of a real sheet: naming that sheet
                    // is right; naming any other is not.
                    let allowed = (*name == "bad-truncated.jpg").then(|| truths[0].1.printed());
                    if r.sheet_code.is_some() && r.sheet_code != allowed {
                        problems.push(format!("{name}: given an identity {:?}", r.sheet_code));
                    }
                }
            }
            _ => problems.push(format!("{name}: no report")),
        }
    }
    for (name, _) in &bad {
        if let Some(rs) = by_file.get(*name) {
            for r in rs {
                println!("{name}: error {:?}, review {:?}", r.error, r.review);
            }
        }
    }
    println!("grader stderr: {stderr}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
