//! End-to-end tests of the pipeline on sheets drawn from the `model::layout` geometry, with
//! transforms applied (rotation, perspective, scale), marks of several kinds, and bad files.

use image::{GrayImage, Luma};
use model::bundle::{Bundle, BundlePage};
use model::scoring::AnswerState;
use model::{Exam, SheetCode, SheetShape, layout_sheet};
use pipeline::geometry::Homography;
use pipeline::{Grader, PageReport};

const PX_PER_PT: f32 = 300.0 / 72.0;

fn exam(n: usize) -> Exam {
    let keys = ["A", "B", "C", "D", "E"];
    let qs: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"key":"{}"}}"#, keys[i % 5]))
        .collect();
    Exam::from_json(&format!(
        r#"{{"title":"T","versions":["A"],"questions":[{}]}}"#,
        qs.join(",")
    ))
    .expect("exam")
}

fn code(seed: u8) -> SheetCode {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(u64::from(seed));
    SheetCode::random_with(&mut rng)
}

fn bundle(n: usize, codes: &[SheetCode]) -> Bundle {
    let exam = exam(n);
    let layout = layout_sheet(&SheetShape::of(&exam, false))
        .into_iter()
        .next()
        .map(std::sync::Arc::new)
        .expect("one page");
    Bundle {
        exam_id: None,
        layout_version: model::layout::LAYOUT_VERSION,
        exam,
        pages: codes
            .iter()
            .enumerate()
            .map(|(i, c)| BundlePage {
                pdf_page: i as u32 + 1,
                sheet_code: *c,
                student_id: Some(format!("s{i}")),
                student_name: None,
                class: None,
                version: "A".into(),
                sheet_page: 1,
                sheet_pages: 1,
                layout: layout.clone(),
                kind: model::PageKind::Sheet,
                booklet_page: None,
                answer_boxes: Vec::new(),
                pdf_file: None,
            })
            .collect(),
    }
}

/// How a bubble is marked.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mark {
    Full,
    Pencil,
    Partial,
    Cross,
    Smudge,
}

/// Draws the page upright at 300 dpi.
fn draw(b: &Bundle, code: &SheetCode, marks: &[(u32, u8, Mark)]) -> GrayImage {
    let page = &b.pages[0].layout;
    let s = PX_PER_PT;
    let (w, h) = (
        (page.paper.width * s) as u32,
        (page.paper.height * s) as u32,
    );
    let mut img = GrayImage::from_pixel(w, h, Luma([240]));
    let fill = |x0: f32, y0: f32, x1: f32, y1: f32, v: u8, img: &mut GrayImage| {
        for y in (y0 * s) as u32..(y1 * s) as u32 {
            for x in (x0 * s) as u32..(x1 * s) as u32 {
                if x < w && y < h {
                    img.put_pixel(x, y, Luma([v]));
                }
            }
        }
    };
    for m in &page.corner_marks {
        fill(m.x, m.y, m.x + m.size, m.y + m.size, 20, &mut img);
        if m.hollow {
            let o = (m.size - model::layout::MARK_HOLE) / 2.0;
            fill(
                m.x + o,
                m.y + o,
                m.x + m.size - o,
                m.y + m.size - o,
                240,
                &mut img,
            );
        }
    }
    let qr = qrcode::QrCode::with_error_correction_level(
        code.qr_payload().as_bytes(),
        qrcode::EcLevel::Q,
    )
    .expect("qr");
    let n = qr.width();
    let module = page.qr.size / n as f32;
    for (i, c) in qr.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = ((i % n) as f32, (i / n) as f32);
            let x = page.qr.x + mx * module;
            let y = page.qr.y + my * module;
            fill(x, y, x + module, y + module, 20, &mut img);
        }
    }
    // A little header text so the corners are not empty paper.
    for k in 0..20 {
        let x = page.header.x + 10.0 + k as f32 * 9.0;
        fill(
            x,
            page.header.y + 10.0,
            x + 6.0,
            page.header.y + 18.0,
            40,
            &mut img,
        );
    }
    let disc = |img: &mut GrayImage,
                cx: f32,
                cy: f32,
                r0: f32,
                r1: f32,
                v: u8,
                pred: &dyn Fn(f32, f32) -> bool| {
        let (px, py, pr) = (cx * s, cy * s, r1 * s);
        for y in (py - pr) as u32..=(py + pr) as u32 {
            for x in (px - pr) as u32..=(px + pr) as u32 {
                let (dx, dy) = (x as f32 + 0.5 - px, y as f32 + 0.5 - py);
                let d = (dx * dx + dy * dy).sqrt() / s;
                if d >= r0 && d <= r1 && pred(dx / s, dy / s) {
                    img.put_pixel(x, y, Luma([v]));
                }
            }
        }
    };
    for bub in &page.bubbles {
        disc(
            &mut img,
            bub.x,
            bub.y,
            bub.r - 0.35,
            bub.r + 0.35,
            70,
            &|_, _| true,
        );
        // The faint printed letter: a light-gray glyph-sized shape in the middle.
        disc(&mut img, bub.x, bub.y, 1.6, 2.4, 175, &|dx, _| dx < 1.0);
        fill(
            bub.x - 0.4,
            bub.y - 2.4,
            bub.x + 0.4,
            bub.y + 2.4,
            175,
            &mut img,
        );
    }
    for &(q, choice, mark) in marks {
        let bub = page
            .bubbles
            .iter()
            .filter(|b| b.question == q)
            .nth(usize::from(choice))
            .expect("bubble");
        let r = bub.r;
        match mark {
            Mark::Full => disc(&mut img, bub.x, bub.y, 0.0, r * 0.95, 30, &|_, _| true),
            Mark::Pencil => disc(&mut img, bub.x, bub.y, 0.0, r * 0.9, 140, &|_, _| true),
            Mark::Partial => disc(&mut img, bub.x, bub.y, 0.0, r * 0.9, 40, &|dx, dy| {
                dx + dy * 0.3 < 0.5
            }),
            Mark::Smudge => disc(&mut img, bub.x, bub.y, 0.0, r * 0.9, 222, &|_, _| true),
            Mark::Cross => disc(&mut img, bub.x, bub.y, 0.0, r * 0.95, 35, &|dx, dy| {
                (dx - dy).abs() < 0.9 || (dx + dy).abs() < 0.9
            }),
        }
    }
    img
}

/// Warps `src` into a `w`×`h` image: output pixel → source pixel through `inv`.
fn warp(src: &GrayImage, inv: &Homography, w: u32, h: u32) -> GrayImage {
    let mut out = GrayImage::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = inv.apply(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let v = pipeline::pixels::bilinear(src, sx as f32 - 0.5, sy as f32 - 0.5);
            out.put_pixel(x, y, Luma([v]));
        }
    }
    out
}

/// Rotates by `deg` about the centre, scales by `scale`, and tilts the top edge (keystone),
/// then turns by `quarter` quarter-turns clockwise.
fn degrade(src: &GrayImage, deg: f64, scale: f64, keystone: f64, quarter: u32) -> GrayImage {
    let (w, h) = (f64::from(src.width()), f64::from(src.height()));
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    let map = |x: f64, y: f64| {
        let (dx, dy) = (x - w / 2.0, y - h / 2.0);
        let k = 1.0 - keystone * (1.0 - y / h);
        let (dx, dy) = (dx * k, dy);
        (
            W * w / 2.0 + scale * (c * dx - s * dy) + 15.0,
            W * h / 2.0 + scale * (s * dx + c * dy) - 10.0,
        )
    };
    // The scanner bed is a little larger than the page, so a skewed page keeps its corners.
    const W: f64 = 1.08;
    let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let to = corners.map(|(x, y)| map(x, y));
    let inv = Homography::from_points(&to, &corners).expect("inverse");
    let mut out = warp(src, &inv, (w * W) as u32, (h * W) as u32);
    for _ in 0..quarter {
        out = image::imageops::rotate90(&out);
    }
    out
}

fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    img.write_with_encoder(enc).expect("encode");
    out
}

fn answers(r: &PageReport) -> Vec<(AnswerState, Vec<String>)> {
    r.answers
        .iter()
        .map(|a| (a.state, a.marked.clone()))
        .collect()
}

fn standard_marks() -> Vec<(u32, u8, Mark)> {
    vec![
        (1, 0, Mark::Full),
        (2, 1, Mark::Full),
        (3, 2, Mark::Cross),
        (4, 3, Mark::Partial),
        (5, 4, Mark::Pencil),
        (6, 0, Mark::Full),
        (6, 1, Mark::Smudge),
        (7, 2, Mark::Full),
        (7, 3, Mark::Full),
        (9, 1, Mark::Full),
        (10, 0, Mark::Full),
    ]
}

fn check_standard(r: &PageReport, expected_code: &SheetCode) {
    assert_eq!(r.error, None, "{r:?}");
    assert_eq!(
        r.sheet_code.as_deref(),
        Some(expected_code.printed().as_str())
    );
    let a = answers(r);
    let one = |s: &str| (AnswerState::Answered, vec![s.to_string()]);
    assert_eq!(a[0], one("A"));
    assert_eq!(a[1], one("B"));
    assert_eq!(a[2], one("C"));
    assert_eq!(a[3], one("D"));
    assert_eq!(a[4], one("E"));
    assert_eq!(a[5], one("A"), "smudge next to a mark");
    assert_eq!(a[6], (AnswerState::Multiple, vec!["C".into(), "D".into()]));
    assert_eq!(a[7], (AnswerState::Blank, vec![]));
    assert_eq!(a[8], one("B"));
    assert_eq!(a[9], one("A"));
    for x in &a[10..] {
        assert_eq!(x.0, AnswerState::Blank);
    }
    // Keys cycle A..E: questions 1–6 right; 7 multiple, 9 and 10 wrong, 8 blank.
    assert_eq!(r.score, Some(6.0));
    assert_eq!(r.max_score, Some(20.0));
}

#[test]
fn clean_upright_sheet_reads_every_mark_kind() {
    let c = code(1);
    let b = bundle(20, &[code(9), c]);
    let img = draw(&b, &c, &standard_marks());
    let grader = Grader::new(b);
    let reports = grader.grade_bytes("clean.jpg", &jpeg(&img, 85));
    assert_eq!(reports.len(), 1);
    check_standard(&reports[0], &c);
    assert!(reports[0].review.is_empty(), "{:?}", reports[0].review);
    assert_eq!(reports[0].student_id.as_deref(), Some("s1"));
}

/// libjpeg-turbo (where the system has it) and the pure-Rust decoders give the same page at
/// the same size, near enough that the grader reads it the same. `.ci/run` sets
/// `GABARITO_REQUIRE_TURBOJPEG=1`, so CI fails if the library is not picked up.
#[test]
fn both_jpeg_decoders_give_the_same_page() {
    use pipeline::decode::{Limits, decode_jpeg, decode_jpeg_pure, jpeg_through_libjpeg_turbo};
    if std::env::var("GABARITO_REQUIRE_TURBOJPEG").is_ok_and(|v| v == "1") {
        assert!(jpeg_through_libjpeg_turbo(), "libturbojpeg.so.0 not loaded");
    }
    let c = code(1);
    let b = bundle(20, &[code(9), c]);
    let img = draw(&b, &c, &standard_marks());
    let bytes = jpeg(&img, 85);
    let limits = Limits::default();
    let fast = decode_jpeg(&bytes, &limits).expect("decodes");
    let pure = decode_jpeg_pure(&bytes, &limits).expect("decodes");
    // An odd side rounds up in the scaled IDCT and down in the 2×2 box: a line at most.
    let (w, h) = (
        fast.width().min(pure.width()),
        fast.height().min(pure.height()),
    );
    assert!(fast.width().abs_diff(pure.width()) <= 1 && fast.height().abs_diff(pure.height()) <= 1);
    assert!(w < img.width(), "decoded at half scale");
    let mut diff = 0u64;
    for y in 0..h {
        for x in 0..w {
            diff += u64::from(fast.get_pixel(x, y)[0].abs_diff(pure.get_pixel(x, y)[0]));
        }
    }
    let mean = diff as f64 / f64::from(w * h);
    assert!(mean < 2.0, "mean difference {mean:.2} grey levels");
    // A damaged file is refused in the pure decoders' words whichever path is taken.
    let cut = &bytes[..bytes.len() / 3];
    let mut broken = cut.to_vec();
    broken[cut.len() / 2..].fill(0xFF);
    assert_eq!(
        decode_jpeg(&broken, &limits).map(|i| i.dimensions()),
        decode_jpeg_pure(&broken, &limits).map(|i| i.dimensions())
    );
}

#[test]
fn skewed_scaled_keystoned_and_turned_sheets_read_the_same() {
    let c = code(2);
    let b = bundle(20, &[c]);
    let img = draw(&b, &c, &standard_marks());
    let grader = Grader::new(b);
    for (deg, scale, key, quarter) in [
        (6.5, 0.96, 0.0, 0),
        (-5.0, 1.03, 0.07, 2),
        (3.0, 1.0, 0.05, 1),
        (-2.0, 0.97, -0.06, 3),
    ] {
        let d = degrade(&img, deg, scale, key, quarter);
        let r = &grader.grade_bytes("skew.jpg", &jpeg(&d, 60))[0];
        check_standard(r, &c);
    }
}

#[test]
fn a_valid_code_from_another_bundle_is_not_an_identity() {
    let stranger = code(3);
    let b = bundle(20, &[code(4)]);
    let img = draw(&b, &stranger, &standard_marks());
    let r = &Grader::new(b).grade_bytes("x.png", &png(&img))[0];
    assert_eq!(r.sheet_code, None);
    assert_eq!(r.identified_by, None);
    assert!(r.review.iter().any(|x| x.is_unidentified()), "{r:?}");
    assert_eq!(r.score, None, "an unidentified sheet is never scored");
}

#[test]
fn a_sheet_whose_code_is_gone_still_has_its_marks_read_for_the_reviewer() {
    let c = code(5);
    let b = bundle(20, &[c, code(6)]);
    let mut img = draw(&b, &c, &standard_marks());
    // A torn corner: the QR code and the printed id are gone.
    let layout = &b.pages[0].layout;
    let x0 = layout.qr.x.min(layout.text_id.x) * PX_PER_PT;
    let y0 = layout.qr.y * PX_PER_PT;
    let x1 =
        (layout.text_id.x + layout.text_id.width).max(layout.qr.x + layout.qr.size) * PX_PER_PT;
    let y1 = (layout.text_id.y + layout.text_id.height) * PX_PER_PT;
    for y in y0 as u32..y1 as u32 {
        for x in x0 as u32..x1 as u32 {
            img.put_pixel(x, y, Luma([240]));
        }
    }
    let r = &Grader::new(b).grade_bytes("torn.jpg", &jpeg(&img, 85))[0];
    assert_eq!(r.sheet_code, None);
    assert_eq!((r.score, r.max_score), (None, None));
    assert!(r.review.iter().any(|x| x.is_unidentified()), "{r:?}");
    let a = answers(r);
    assert_eq!(a.len(), 20, "{r:?}");
    assert_eq!(a[0], (AnswerState::Answered, vec!["A".to_string()]));
    assert_eq!(a[6], (AnswerState::Multiple, vec!["C".into(), "D".into()]));
    assert_eq!(a[7], (AnswerState::Blank, vec![]));
}

fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[test]
fn blank_corrupt_and_bomb_files_are_refused_with_a_reason() {
    let grader = Grader::new(bundle(5, &[code(5)]));
    let blank = GrayImage::from_pixel(1240, 1754, Luma([235]));
    let r = &grader.grade_bytes("blank.png", &png(&blank))[0];
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("not a Gabarito sheet")),
        "{r:?}"
    );

    let r = &grader.grade_bytes("junk.jpg", b"\xff\xd8\xff\xe0 definitely not a jpeg")[0];
    assert!(r.error.is_some());
    let r = &grader.grade_bytes("junk.txt", b"hello")[0];
    assert!(
        r.error
            .as_deref()
            .is_some_and(|e| e.contains("unsupported")),
        "{r:?}"
    );

    // A JPEG whose header claims 60000×60000 pixels: refused before decoding.
    let mut bomb = jpeg(&GrayImage::from_pixel(16, 16, Luma([200])), 80);
    let sof = bomb
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("SOF0");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xea, 0x60, 0xea, 0x60]);
    let r = &grader.grade_bytes("bomb.jpg", &bomb)[0];
    assert!(
        r.error.as_deref().is_some_and(|e| e.contains("too large")),
        "{r:?}"
    );
}

#[test]
fn multi_page_scanner_pdf_with_jpeg_pages() {
    let (c1, c2) = (code(6), code(7));
    let b = bundle(20, &[c1, c2]);
    let pages = [
        draw(&b, &c1, &standard_marks()),
        draw(&b, &c2, &standard_marks()),
    ];
    let bytes = pdf_bytes(scanner_pdf(&[&pages[0], &pages[1]], 2));
    let reports = Grader::new(b).grade_bytes("scan.pdf", &bytes);
    assert_eq!(reports.len(), 2);
    check_standard(&reports[0], &c1);
    check_standard(&reports[1], &c2);
    assert_eq!(reports[1].page, 2);
}

#[test]
fn a_misaligned_grid_makes_every_question_uncertain_instead_of_misread() {
    let c = code(8);
    let b = bundle(20, &[c]);
    let img = draw(&b, &c, &standard_marks());
    let layout = &b.pages[0].layout;
    let s = f64::from(PX_PER_PT);
    let (w, h) = (
        f64::from(layout.paper.width),
        f64::from(layout.paper.height),
    );
    let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let fit = |dx: f64, dy: f64| {
        let to = from.map(|(x, y)| ((x + dx) * s, (y + dy) * s));
        let hm = Homography::from_points(&from, &to).expect("fits");
        pipeline::marks::read_marks(&img, &hm, layout)
    };
    let aligned = fit(0.0, 0.0);
    assert!(aligned.grid_fit > 0.95, "{}", aligned.grid_fit);
    assert!(aligned.doubts.is_empty());
    // Off by about a bubble radius: the outlines are not where the homography says.
    let off = fit(4.0, 3.0);
    assert!(
        off.grid_fit < pipeline::marks::MIN_GRID_FIT,
        "{}",
        off.grid_fit
    );
    assert!(
        off.questions
            .iter()
            .all(|q| q.state == AnswerState::Uncertain)
    );
}

/// A scanner-style PDF: `pages` pages, page `i` drawing image `i % images.len()` (an image
/// object shared by every page that draws it), each a grayscale JPEG.
fn scanner_pdf(images: &[&GrayImage], pages: usize) -> lopdf::Document {
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image_ids: Vec<_> = images
        .iter()
        .map(|img| {
            doc.add_object(Stream::new(
                dictionary! {
                    "Type" => "XObject", "Subtype" => "Image",
                    "Width" => img.width() as i64, "Height" => img.height() as i64,
                    "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
                },
                jpeg(img, 80),
            ))
        })
        .collect();
    let content = doc.add_object(Stream::new(
        dictionary! {},
        b"q 595 0 0 842 0 0 cm /Im0 Do Q".to_vec(),
    ));
    let kids: Vec<Object> = (0..pages)
        .map(|i| {
            let image = image_ids[i % image_ids.len()];
            Object::Reference(doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
                "Contents" => content,
                "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image } },
            }))
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Count" => kids.len() as i64, "Kids" => kids },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    doc.trailer.set(
        "ID",
        Object::Array(vec![
            Object::string_literal(b"0123456789abcdef".to_vec()),
            Object::string_literal(b"0123456789abcdef".to_vec()),
        ]),
    );
    doc
}

fn pdf_bytes(mut doc: lopdf::Document) -> Vec<u8> {
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("pdf");
    bytes
}

/// Every page graded through the page-by-page entry point.
fn each_page(grader: &Grader, name: &str, bytes: &[u8]) -> Vec<PageReport> {
    let mut reports = Vec::new();
    grader.grade_each_page(name, bytes, |page| reports.push(page.report));
    reports
}

#[test]
fn a_small_pdf_of_thousands_of_pages_showing_one_image_is_refused_at_once() {
    // 2,000 pages drawing one 20-megapixel white page: a few kilobytes that used to decode
    // 2,000 times (gigabytes, minutes).
    let white = GrayImage::from_pixel(4000, 5000, Luma([255]));
    let bytes = pdf_bytes(scanner_pdf(&[&white], 2000));
    assert!(bytes.len() < 1_000_000, "{} bytes", bytes.len());
    let started = std::time::Instant::now();
    let reports = each_page(&Grader::new(bundle(5, &[code(9)])), "bomb.pdf", &bytes);
    assert!(
        started.elapsed().as_secs_f64() < 5.0,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].page, 1);
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "PDF has 2000 pages, more than the 500 graded from one file: split it into smaller files"
        )
    );
}

#[test]
fn pages_past_the_files_pixel_budget_are_refused_one_by_one() {
    let (c1, c2) = (code(10), code(11));
    let b = bundle(20, &[c1, c2]);
    let sheets = [
        draw(&b, &c1, &standard_marks()),
        draw(&b, &c2, &standard_marks()),
    ];
    let page_pixels = u64::from(sheets[0].width()) * u64::from(sheets[0].height());
    let bytes = pdf_bytes(scanner_pdf(&[&sheets[0], &sheets[1]], 5));
    let limits = pipeline::Limits {
        max_file_pixels: 2 * page_pixels + page_pixels / 2,
        ..pipeline::Limits::default()
    };
    let reports = each_page(&Grader::new(b).with_limits(limits), "scan.pdf", &bytes);
    assert_eq!(reports.len(), 5);
    check_standard(&reports[0], &c1);
    check_standard(&reports[1], &c2);
    let megapixels = limits.max_file_pixels / 1_000_000;
    for (i, r) in reports.iter().enumerate().skip(2) {
        assert_eq!(r.page, i as u32 + 1);
        assert_eq!(
            r.error.as_deref(),
            Some(
                format!(
                    "page refused: the file's page images add up to more than {megapixels} megapixels, the limit for one file: split it into smaller files"
                )
                .as_str()
            )
        );
    }
}

#[test]
fn a_pdf_with_as_many_pages_as_the_limit_is_read_and_one_more_is_refused() {
    let c = code(12);
    let b = bundle(20, &[c]);
    let sheet = draw(&b, &c, &standard_marks());
    let limits = pipeline::Limits {
        max_pages: 3,
        ..pipeline::Limits::default()
    };
    let grader = Grader::new(b).with_limits(limits);
    let at_limit = each_page(&grader, "three.pdf", &pdf_bytes(scanner_pdf(&[&sheet], 3)));
    assert_eq!(at_limit.len(), 3);
    at_limit.iter().for_each(|r| check_standard(r, &c));
    let over = each_page(&grader, "four.pdf", &pdf_bytes(scanner_pdf(&[&sheet], 4)));
    assert_eq!(over.len(), 1);
    assert_eq!(
        over[0].error.as_deref(),
        Some("PDF has 4 pages, more than the 3 graded from one file: split it into smaller files")
    );
}

fn encrypted(doc: lopdf::Document, owner: &str, user: &str) -> Vec<u8> {
    let mut doc = doc;
    let version = lopdf::EncryptionVersion::V2 {
        document: &doc,
        owner_password: owner,
        user_password: user,
        key_length: 128,
        permissions: lopdf::Permissions::all(),
    };
    let state = lopdf::EncryptionState::try_from(version).expect("encryption state");
    doc.encrypt(&state).expect("encrypt");
    pdf_bytes(doc)
}

#[test]
fn a_password_protected_pdf_says_so() {
    let c = code(13);
    let b = bundle(20, &[c]);
    let sheet = draw(&b, &c, &standard_marks());
    let bytes = encrypted(scanner_pdf(&[&sheet], 2), "owner", "secret");
    let reports = Grader::new(b).grade_bytes("locked.pdf", &bytes);
    assert_eq!(reports.len(), 1);
    assert_eq!(
        reports[0].error.as_deref(),
        Some(
            "PDF is password-protected (encrypted): save or scan it again without a password, then grade it"
        )
    );
}

#[test]
fn a_pdf_encrypted_without_a_user_password_is_read() {
    // Restrictions only (an owner password): anyone may open it, and so does the grader.
    let c = code(14);
    let b = bundle(20, &[c]);
    let sheet = draw(&b, &c, &standard_marks());
    let bytes = encrypted(scanner_pdf(&[&sheet], 2), "owner", "");
    let reports = Grader::new(b).grade_bytes("restricted.pdf", &bytes);
    assert_eq!(reports.len(), 2);
    reports.iter().for_each(|r| check_standard(r, &c));
}

#[test]
fn pages_sharing_one_image_object_are_each_graded() {
    let (c1, c2) = (code(15), code(16));
    let b = bundle(20, &[c1, c2]);
    let sheets = [
        draw(&b, &c1, &standard_marks()),
        draw(&b, &c2, &standard_marks()),
    ];
    let bytes = pdf_bytes(scanner_pdf(&[&sheets[0], &sheets[1]], 4));
    let grader = Grader::new(b);
    let each = each_page(&grader, "scan.pdf", &bytes);
    assert_eq!(each.len(), 4);
    for (i, r) in each.iter().enumerate() {
        assert_eq!(r.page, i as u32 + 1);
        check_standard(r, if i % 2 == 0 { &c1 } else { &c2 });
    }
    assert_eq!(each, grader.grade_bytes("scan.pdf", &bytes));
}

/// A copier's or feeder's take of the page: turned `deg` about its centre, enlarged by `scale`,
/// moved by (`dx`, `dy`) millimetres, on an image of the page's own size (so marks near an edge
/// fall off it); then upside down when `half_turn`. Returns the image and how many corner marks
/// lie wholly or partly outside it.
fn copier(
    src: &GrayImage,
    layout: &model::layout::PageLayout,
    deg: f64,
    scale: f64,
    (dx, dy): (f64, f64),
    half_turn: bool,
) -> (GrayImage, usize) {
    let (w, h) = (f64::from(src.width()), f64::from(src.height()));
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    let px_per_mm = f64::from(PX_PER_PT) * 72.0 / 25.4;
    let map = |x: f64, y: f64| {
        let (ux, uy) = (x - w / 2.0, y - h / 2.0);
        (
            w / 2.0 + scale * (c * ux - s * uy) + dx * px_per_mm,
            h / 2.0 + scale * (s * ux + c * uy) + dy * px_per_mm,
        )
    };
    let corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let to = corners.map(|(x, y)| map(x, y));
    let inv = Homography::from_points(&to, &corners).expect("inverse");
    let mut out = warp(src, &inv, w as u32, h as u32);
    let cut = layout
        .corner_marks
        .iter()
        .filter(|m| {
            let p = f64::from(PX_PER_PT);
            [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
                .iter()
                .any(|(a, b)| {
                    let (x, y) = map(
                        f64::from(m.x + a * m.size) * p,
                        f64::from(m.y + b * m.size) * p,
                    );
                    x < 0.0 || y < 0.0 || x >= w || y >= h
                })
        })
        .count();
    if half_turn {
        out = image::imageops::rotate180(&out);
    }
    (out, cut)
}

/// Paints a dark square of a corner mark's size at layout (`x`, `y`): a bold title letter.
fn blot(img: &mut GrayImage, x: f32, y: f32) {
    let side = model::layout::MARK_SIZE;
    for py in (y * PX_PER_PT) as u32..((y + side) * PX_PER_PT) as u32 {
        for px in (x * PX_PER_PT) as u32..((x + side * 0.9) * PX_PER_PT) as u32 {
            img.put_pixel(px, py, Luma([25]));
        }
    }
}

#[test]
fn corner_marks_cut_off_at_any_side_still_align_and_read_the_same() {
    let c = code(17);
    let b = bundle(20, &[c]);
    let img = draw(&b, &c, &standard_marks());
    let layout = b.pages[0].layout.clone();
    let grader = Grader::new(b);
    // (skew °, scale, shift mm, upside down, corner marks expected cut off)
    let only: Option<usize> = std::env::var("CASE").ok().and_then(|v| v.parse().ok());
    let cases = [
        (0.0, 1.05, (0.0, -6.0), false, 2), // top: the hollow mark and the top-right one
        (0.0, 1.05, (0.0, 6.0), false, 2),  // bottom
        (0.0, 1.05, (-6.0, 0.0), false, 2), // left: the hollow mark and the bottom-left one
        (0.0, 1.05, (5.6, 0.0), false, 2),  // right, beside the QR code
        (3.0, 1.05, (-5.0, -5.0), false, 1),
        (-4.0, 1.05, (5.0, 5.0), false, 1),
        (-3.5, 1.02, (0.0, -4.0), false, 1),
        (0.0, 1.05, (0.0, -6.0), true, 2),
        (0.0, 1.05, (-6.0, 0.0), true, 2),
        (3.0, 1.05, (-5.0, -5.0), true, 1),
        (-5.0, 1.05, (4.0, 5.0), true, 1),
        // Three marks cut off: the QR code's finder patterns place the page, the bubble
        // outlines refine it.
        (0.0, 1.08, (-6.0, -7.0), false, 3),
    ];
    for (i, &(deg, scale, shift, half, cut)) in cases.iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let (d, n) = copier(&img, &layout, deg, scale, shift, half);
        assert!(n >= cut, "case {i}: only {n} marks cut off");
        let r = &grader.grade_bytes("cut.jpg", &jpeg(&d, 80))[0];
        eprintln!("case {i}: {n} cut, review {:?} {:?}", r.review, r.error);
        check_standard(r, &c);
        assert!(r.review.is_empty(), "case {i}: {:?}", r.review);
    }
}

#[test]
fn a_title_blot_where_a_cut_off_mark_should_be_is_not_taken_for_it() {
    let c = code(18);
    let b = bundle(20, &[c]);
    let mut img = draw(&b, &c, &standard_marks());
    let layout = b.pages[0].layout.clone();
    // Bold title letters in the header, near the top-left corner mark.
    blot(&mut img, layout.header.x + 2.0, layout.header.y + 4.0);
    blot(&mut img, layout.header.x + 60.0, layout.header.y + 30.0);
    let grader = Grader::new(b);
    for (shift, half) in [
        ((0.0, -6.0), false),
        ((-6.0, 0.0), true),
        ((0.0, 0.0), false),
    ] {
        let (d, _) = copier(&img, &layout, 1.5, 1.05, shift, half);
        let r = &grader.grade_bytes("title.jpg", &jpeg(&d, 80))[0];
        check_standard(r, &c);
        assert!(r.review.is_empty(), "{shift:?}: {:?}", r.review);
    }
}

#[test]
fn a_page_with_too_little_left_says_what_is_missing() {
    let c = code(19);
    let b = bundle(20, &[c]);
    let mut img = draw(&b, &c, &standard_marks());
    let layout = b.pages[0].layout.clone();
    // Three marks and the QR code gone.
    for m in &layout.corner_marks[..3] {
        blank(&mut img, m.x - 3.0, m.y - 3.0, m.size + 6.0, m.size + 6.0);
    }
    blank(
        &mut img,
        layout.qr.x - 2.0,
        layout.qr.y - 2.0,
        layout.qr.size + 4.0,
        layout.qr.size + 4.0,
    );
    let r = &Grader::new(b).grade_bytes("gone.png", &png(&img))[0];
    let e = r.error.as_deref().unwrap_or_default();
    assert!(
        e.contains("cannot align") && e.contains("corner mark"),
        "{r:?}"
    );
}

fn blank(img: &mut GrayImage, x: f32, y: f32, w: f32, h: f32) {
    for py in (y * PX_PER_PT) as u32..((y + h) * PX_PER_PT) as u32 {
        for px in (x * PX_PER_PT) as u32..((x + w) * PX_PER_PT) as u32 {
            img.put_pixel(px, py, Luma([240]));
        }
    }
}

/// Issue 12: a scanned booklet page (its code names a booklet page) is recognised as one, not
/// as an unknown sheet: one holding an open question's answer box goes to a person under its
/// student; any other is reported as a booklet page. Neither is read for marks nor scored,
/// and booklet pages do not stop an unidentified sheet's marks from being captured.
#[test]
fn booklet_pages_are_recognised_and_never_scored() {
    use model::{AnswerBox, PageKind};
    use pipeline::{BookletReport, SheetDirectory};
    let (sheet, cover, written) = (code(1), code(2), code(3));
    let mut b = bundle(20, &[sheet]);
    let booklet_layout = std::sync::Arc::new(model::layout::booklet_page_layout(b.exam.paper));
    for (k, c) in [cover, written].into_iter().enumerate() {
        let page = BundlePage {
            pdf_page: k as u32 + 2,
            sheet_code: c,
            layout: std::sync::Arc::clone(&booklet_layout),
            kind: PageKind::Booklet,
            booklet_page: Some(k as u32 + 1),
            answer_boxes: if c == written {
                vec![AnswerBox {
                    open_question: 0,
                    rect: model::layout::Rect {
                        x: 40.0,
                        y: 300.0,
                        width: 500.0,
                        height: 300.0,
                    },
                }]
            } else {
                Vec::new()
            },
            ..b.pages[0].clone()
        };
        b.pages.push(page);
    }
    let sheet_layout = std::sync::Arc::clone(&b.pages[0].layout);
    let directory = pipeline::BundleDirectory::new(b.clone());
    let frame = model::layout::PageFrame::of(&sheet_layout);
    assert_eq!(
        directory.shared_layout(&frame).as_deref(),
        Some(&*sheet_layout),
        "booklet pages leave the answer sheets' shared layout alone"
    );
    let grader = Grader::new(b.clone());

    let grade = |c: &SheetCode| {
        let reports = grader.grade_bytes("booklet.jpg", &jpeg(&draw(&b, c, &[]), 85));
        assert_eq!(reports.len(), 1);
        reports.into_iter().next().expect("one page")
    };
    let r = grade(&cover);
    assert_eq!(r.sheet_code, Some(cover.printed()), "{r:?}");
    assert_eq!(r.student_id.as_deref(), Some("s0"));
    assert_eq!(
        r.booklet,
        Some(BookletReport {
            booklet_page: 1,
            open_questions: Vec::new()
        })
    );
    assert!(r.review.is_empty() && r.error.is_none(), "{r:?}");
    assert!(r.answers.is_empty() && r.score.is_none(), "{r:?}");
    assert!(
        r.booklet
            .as_ref()
            .is_some_and(|b| b.message().contains("nothing on it is graded"))
    );

    let r = grade(&written);
    assert_eq!(r.sheet_code, Some(written.printed()), "{r:?}");
    assert_eq!(
        r.booklet,
        Some(BookletReport {
            booklet_page: 2,
            open_questions: vec![1]
        })
    );
    assert_eq!(
        r.review,
        vec![model::outcome::ReviewReason::WrittenAnswer(vec![1])]
    );
    assert!(r.score.is_none(), "{r:?}");
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["booklet"]["open_questions"][0], 1);
    let back: PageReport = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, r);

    // The answer sheet of the same bundle grades as ever.
    let r = grade(&sheet);
    assert!(r.booklet.is_none());
    assert!(r.score.is_some(), "{r:?}");
}
