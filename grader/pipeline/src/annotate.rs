//! The annotated image: the sheet with what was read and what was expected drawn over it.

use image::{Rgb, RgbImage};
use model::scoring::AnswerState;

use crate::geometry::Homography;
use crate::grade::PageScan;
use crate::report::PageReport;

/// Read and right.
pub const GREEN: Rgb<u8> = Rgb([0, 170, 0]);
/// Read and wrong.
pub const RED: Rgb<u8> = Rgb([220, 0, 0]);
/// The expected answer, where it was not marked.
pub const BLUE: Rgb<u8> = Rgb([0, 90, 255]);
/// Uncertain: a person must look.
pub const ORANGE: Rgb<u8> = Rgb([255, 140, 0]);
/// Read on a sheet whose identity (hence key) is unknown.
pub const TEAL: Rgb<u8> = Rgb([0, 150, 150]);
const MAGENTA: Rgb<u8> = Rgb([200, 0, 200]);

/// Draws the scan with its reading: green ring = marked and right, red = marked and wrong, blue =
/// the expected answer where it was not marked, orange = every bubble of an uncertain question
/// (thicker where it looked marked), teal = marked where there is no key to compare with (a
/// sheet not identified, the student-number grid; orange there too when a digit is unclear).
/// A band across the top is green when the page needs nothing, orange when it needs review, red
/// when it could not be graded; magenta crosses are the corner marks found, and the QR code's
/// box is green when it identified the sheet, red when it did not.
pub fn annotate(scan: &PageScan, report: &PageReport) -> RgbImage {
    let mut out = image::DynamicImage::ImageLuma8(scan.image.clone()).to_rgb8();
    // Wash the scan out a little so the colours stand out.
    for p in out.pixels_mut() {
        for c in &mut p.0 {
            *c = 80 + (u16::from(*c) * 175 / 255) as u8;
        }
    }
    let band = if report.error.is_some() {
        RED
    } else if report.review.is_empty() {
        GREEN
    } else {
        ORANGE
    };
    // At least 4 px, but never past a tiny image's edge.
    let bh = (out.height() / 80).max(4).min(out.height());
    for y in 0..bh {
        for x in 0..out.width() {
            out.put_pixel(x, y, band);
        }
    }
    let Some(h) = scan.homography else {
        return out;
    };
    if let Some(layout) = &scan.layout {
        for m in &layout.corner_marks {
            let (cx, cy) = m.center();
            cross(&mut out, &h, cx, cy, m.size * 0.7, MAGENTA);
        }
        let q = &layout.qr;
        let colour = if scan.sheet.is_some() { GREEN } else { RED };
        rect(&mut out, &h, q.x, q.y, q.size, q.size, colour);
    }
    let (Some(layout), Some(reading)) = (&scan.layout, &scan.reading) else {
        return out;
    };
    let sheet = scan.sheet.as_ref();
    let mut bubbles = layout.bubbles.iter().peekable();
    for q in &reading.questions {
        let index = q.question as usize - 1;
        let key = sheet
            .and_then(|s| s.exam.key_for(&s.version, index))
            .unwrap_or_default();
        let annulled =
            sheet.is_some_and(|s| s.exam.questions.get(index).is_some_and(|x| x.annulled));
        let mut choice = 0u8;
        while let Some(b) = bubbles.next_if(|b| b.question == q.question) {
            let marked = q.marked.contains(&choice);
            let expected = key.contains(&choice);
            let s = h.local_scale(f64::from(b.x), f64::from(b.y)) as f32;
            let (cx, cy) = h.apply_f32(b.x, b.y);
            let r = b.r * s;
            match q.state {
                AnswerState::Uncertain => {
                    let t = if marked { 3.0 } else { 1.5 };
                    ring(&mut out, cx, cy, r + 3.0, t, ORANGE);
                    if expected {
                        ring(&mut out, cx, cy, r + 6.0, 1.5, BLUE);
                    }
                }
                _ if marked && sheet.is_none() => ring(&mut out, cx, cy, r + 3.0, 2.5, TEAL),
                _ if marked && (expected || annulled) => {
                    ring(&mut out, cx, cy, r + 3.0, 2.5, GREEN)
                }
                _ if marked => ring(&mut out, cx, cy, r + 3.0, 2.5, RED),
                _ if expected && !annulled => ring(&mut out, cx, cy, r + 3.0, 1.5, BLUE),
                _ => {}
            }
            choice += 1;
        }
    }
    if let Some(number) = &reading.student_number {
        for d in &number.digits {
            let clear = matches!(d.state, AnswerState::Answered | AnswerState::Blank);
            for b in layout
                .student_number_bubbles
                .iter()
                .filter(|b| b.digit == d.question)
            {
                let marked = u8::try_from(b.value).is_ok_and(|v| d.marked.contains(&v));
                let s = h.local_scale(f64::from(b.x), f64::from(b.y)) as f32;
                let (cx, cy) = h.apply_f32(b.x, b.y);
                let r = b.r * s;
                if !clear {
                    ring(
                        &mut out,
                        cx,
                        cy,
                        r + 3.0,
                        if marked { 3.0 } else { 1.5 },
                        ORANGE,
                    );
                } else if marked {
                    ring(&mut out, cx, cy, r + 3.0, 2.5, TEAL);
                }
            }
        }
    }
    out
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A ring of radius `r` and thickness `t` pixels.
fn ring(img: &mut RgbImage, cx: f32, cy: f32, r: f32, t: f32, c: Rgb<u8>) {
    let outer = r + t / 2.0;
    let inner = (r - t / 2.0).max(0.0);
    let ri = outer.ceil() as i64;
    for dy in -ri..=ri {
        for dx in -ri..=ri {
            let d = ((dx * dx + dy * dy) as f32).sqrt();
            if d >= inner && d <= outer {
                put(img, cx.round() as i64 + dx, cy.round() as i64 + dy, c);
            }
        }
    }
}

fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), c: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f32 / n as f32;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        for (ox, oy) in [(0, 0), (1, 0), (0, 1)] {
            put(img, x.round() as i64 + ox, y.round() as i64 + oy, c);
        }
    }
}

fn cross(img: &mut RgbImage, h: &Homography, x: f32, y: f32, half: f32, c: Rgb<u8>) {
    line(img, h.apply_f32(x - half, y), h.apply_f32(x + half, y), c);
    line(img, h.apply_f32(x, y - half), h.apply_f32(x, y + half), c);
}

fn rect(img: &mut RgbImage, h: &Homography, x: f32, y: f32, w: f32, ht: f32, c: Rgb<u8>) {
    let p = [
        h.apply_f32(x, y),
        h.apply_f32(x + w, y),
        h.apply_f32(x + w, y + ht),
        h.apply_f32(x, y + ht),
    ];
    for i in 0..4 {
        line(img, p[i], p[(i + 1) % 4], c);
    }
}
