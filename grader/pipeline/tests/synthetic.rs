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
            let v = pipeline::identify::bilinear(src, sx as f32 - 0.5, sy as f32 - 0.5);
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
    use lopdf::{Document, Object, Stream, dictionary};
    let (c1, c2) = (code(6), code(7));
    let b = bundle(20, &[c1, c2]);
    let pages = [
        draw(&b, &c1, &standard_marks()),
        draw(&b, &c2, &standard_marks()),
    ];
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::new();
    for img in &pages {
        let jpg = jpeg(img, 80);
        let image_id = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => img.width() as i64, "Height" => img.height() as i64,
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
            },
            jpg,
        ));
        let content = doc.add_object(Stream::new(
            dictionary! {},
            b"q 595 0 0 842 0 0 cm /Im0 Do Q".to_vec(),
        ));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image_id } },
        });
        kids.push(Object::Reference(page));
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Count" => kids.len() as i64, "Kids" => kids },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("pdf");
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
