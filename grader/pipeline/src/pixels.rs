//! Pixel helpers shared by the stages: resampling through a homography, bilinear sampling,
//! grayscale closing and Otsu binarisation.

use image::GrayImage;
use model::layout::Rect;

use crate::geometry::Homography;

/// Resamples the layout rectangle `rect` at `px_per_pt` through `h` (bilinear); outside the
/// image reads as white.
pub fn sample_rect(image: &GrayImage, h: &Homography, rect: &Rect, px_per_pt: f32) -> GrayImage {
    let w = ((rect.width * px_per_pt).round() as u32).clamp(1, 2048);
    let ht = ((rect.height * px_per_pt).round() as u32).clamp(1, 2048);
    let mut out = GrayImage::new(w, ht);
    for v in 0..ht {
        let ly = rect.y + (v as f32 + 0.5) / px_per_pt;
        for u in 0..w {
            let lx = rect.x + (u as f32 + 0.5) / px_per_pt;
            let (x, y) = h.apply_f32(lx, ly);
            out.put_pixel(u, v, image::Luma([bilinear(image, x - 0.5, y - 0.5)]));
        }
    }
    out
}

/// Bilinear sample at pixel-centre coordinates; white outside.
pub fn bilinear(image: &GrayImage, x: f32, y: f32) -> u8 {
    let (w, h) = (image.width() as i64, image.height() as i64);
    if !(x >= 0.0 && y >= 0.0) {
        return 255;
    }
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    if x0 + 1 >= w || y0 + 1 >= h {
        return 255;
    }
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = image.as_raw();
    let at = |xx: i64, yy: i64| f32::from(raw[(yy * w + xx) as usize]);
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    // Values stay within 0..=255; adding 0.5 and truncating rounds without a libm call.
    (top * (1.0 - fy) + bottom * fy + 0.5).clamp(0.0, 255.0) as u8
}

/// Grayscale closing with a square window of radius `r`: dark features narrower than 2r+1
/// pixels turn to the surrounding light.
pub fn close(image: &GrayImage, r: u32) -> GrayImage {
    let dilated = filter(image, r, u8::max);
    filter(&dilated, r, u8::min)
}

/// Separable square min/max filter.
fn filter(image: &GrayImage, r: u32, pick: fn(u8, u8) -> u8) -> GrayImage {
    let (w, h) = image.dimensions();
    let mut tmp = image.clone();
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(r), (x + r).min(w - 1));
            let v = (a..=b)
                .map(|xx| image.get_pixel(xx, y).0[0])
                .reduce(pick)
                .unwrap_or(255);
            tmp.put_pixel(x, y, image::Luma([v]));
        }
    }
    let mut out = tmp.clone();
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            let v = (a..=b)
                .map(|yy| tmp.get_pixel(x, yy).0[0])
                .reduce(pick)
                .unwrap_or(255);
            out.put_pixel(x, y, image::Luma([v]));
        }
    }
    out
}

/// Otsu's global threshold, applied.
pub fn binarise(image: &GrayImage) -> GrayImage {
    let mut hist = [0u64; 256];
    for &v in image.as_raw() {
        hist[v as usize] += 1;
    }
    let total: u64 = hist.iter().sum();
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut wb, mut sb, mut best, mut t) = (0u64, 0.0f64, 0.0f64, 128u8);
    for (i, &c) in hist.iter().enumerate() {
        wb += c;
        if wb == 0 || wb == total {
            continue;
        }
        sb += i as f64 * c as f64;
        let wf = total - wb;
        let mb = sb / wb as f64;
        let mf = (sum_all - sb) / wf as f64;
        let between = wb as f64 * wf as f64 * (mb - mf).powi(2);
        if between > best {
            best = between;
            t = i as u8;
        }
    }
    let mut out = image.clone();
    for v in out.iter_mut() {
        *v = if *v > t { 255 } else { 0 };
    }
    out
}
