//! What scanners and phones do to a page: skew, 180° feeding, perspective, scale, shifts onto a
//! larger bed or a table, blur, uneven lighting and shadows, low contrast, sensor noise and JPEG.
//!
//! The geometry is one exact homography from page pixels to output pixels, so the ground truth
//! (which bubble holds which mark) stays valid; the grader is never told the transform.

use image::GrayImage;
use serde::Serialize;

use crate::SimError;
use crate::noise::{PixelNoise, hash3, value_noise};

/// A 3×3 projective transform of pixel coordinates (row-major), mapping `(x, y, 1)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Homography(pub [[f64; 3]; 3]);

impl Homography {
    /// The transform that maps each `from[i]` to `to[i]` (four points, no three collinear).
    pub fn from_points(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<Self> {
        // Unknowns h00..h21 with h22 = 1: two linear equations per correspondence.
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = from[i];
            let (u, v) = to[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        for col in 0..8 {
            let pivot = (col..8).max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))?;
            if a[pivot][col].abs() < 1e-12 {
                return None;
            }
            a.swap(col, pivot);
            let pivot_row = a[col];
            for (row, r) in a.iter_mut().enumerate() {
                if row != col {
                    let f = r[col] / pivot_row[col];
                    for (x, p) in r.iter_mut().zip(pivot_row.iter()).skip(col) {
                        *x -= f * p;
                    }
                }
            }
        }
        let h: Vec<f64> = (0..8).map(|i| a[i][8] / a[i][i]).collect();
        Some(Self([
            [h[0], h[1], h[2]],
            [h[3], h[4], h[5]],
            [h[6], h[7], 1.0],
        ]))
    }

    /// Where `(x, y)` goes.
    pub fn map(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.0;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        (
            (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
            (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
        )
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Self> {
        let m = &self.0;
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if det.abs() < 1e-15 {
            return None;
        }
        let inv = [
            [
                (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det,
                (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det,
                (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det,
            ],
            [
                (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det,
                (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det,
                (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det,
            ],
            [
                (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det,
                (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det,
                (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det,
            ],
        ];
        Some(Self(inv))
    }
}

/// How the page lies in the output image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geometry {
    /// Skew, degrees (positive clockwise on screen).
    pub rotation_deg: f32,
    /// Fed or photographed upside down (an extra 180°).
    pub upside_down: bool,
    /// Perspective: how much shorter the far side is than the near one (0.08 = 8%).
    pub keystone: f32,
    /// Which side is far: 0 top, 1 right, 2 bottom, 3 left.
    pub keystone_side: u8,
    /// Output pixels per page pixel (scale error × resolution change).
    pub scale: f32,
    /// Space around the page's bounding box, output pixels: left, top, right, bottom. Unequal
    /// margins are the page's shift on the bed or in the frame; a negative margin crops the page
    /// (a scan area no larger than the paper, a skewed or enlarged copy cut at the paper's edge).
    pub margins: [f32; 4],
}

impl Geometry {
    /// Sets the margins so that the output is a fixed `frame` (output pixels, e.g. the paper's
    /// size at the scan's resolution) with the page's centre moved by `shift` (output pixels,
    /// right and down) from the frame's centre. Whatever the rotation and scale push past the
    /// frame is cut off, as a scanner set to A4 does with a skewed sheet.
    pub fn frame(&mut self, page: (u32, u32), frame: (f32, f32), shift: (f32, f32)) {
        self.margins = [0.0; 4];
        let Some((_, bw, bh)) = page_transform(page.0, page.1, self) else {
            return;
        };
        let (ex, ey) = ((frame.0 - bw as f32) / 2.0, (frame.1 - bh as f32) / 2.0);
        self.margins = [ex + shift.0, ey + shift.1, ex - shift.0, ey - shift.1];
    }
}

/// What lies around the page.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Background {
    /// A scanner lid: flat, light.
    Lid {
        /// Grey level.
        level: u8,
    },
    /// A table under a phone: darker, with a texture.
    Table {
        /// Mean grey level.
        level: u8,
        /// Texture amplitude, grey levels.
        texture: u8,
    },
}

/// Uneven illumination: a linear fall-off and a vignette.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Lighting {
    /// Light lost across the image along `angle`, 0–1.
    pub gradient: f32,
    /// Direction of the fall-off, radians.
    pub angle: f32,
    /// Light lost in the corners by the vignette, 0–1.
    pub vignette: f32,
}

/// A shadow cast over one side (a hand, a phone, a book's spine).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Shadow {
    /// Side it comes from: 0 top, 1 right, 2 bottom, 3 left.
    pub side: u8,
    /// How far it reaches, as a fraction of the image across that side.
    pub reach: f32,
    /// Light lost in the shadow, 0–1.
    pub strength: f32,
    /// Width of its soft edge, as a fraction of the image.
    pub softness: f32,
}

/// Every degradation applied to one page, as plain data (printed in failure reports).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Degradation {
    /// How the page lies in the output.
    pub geometry: Geometry,
    /// Around the page.
    pub background: Background,
    /// Optical blur, standard deviation in output pixels (0 = none).
    pub blur_sigma: f32,
    /// Illumination.
    pub lighting: Option<Lighting>,
    /// A shadow.
    pub shadow: Option<Shadow>,
    /// Black and white levels the output is squeezed into (low contrast), if any.
    pub contrast: Option<(u8, u8)>,
    /// Sensor noise, standard deviation in grey levels.
    pub noise_sigma: f32,
    /// JPEG quality of the output file.
    pub jpeg_quality: u8,
    /// Seed of the per-pixel noise and textures.
    pub seed: u64,
}

impl Degradation {
    /// No change at all but the JPEG encoding.
    pub fn none(jpeg_quality: u8) -> Self {
        Self {
            geometry: Geometry {
                rotation_deg: 0.0,
                upside_down: false,
                keystone: 0.0,
                keystone_side: 0,
                scale: 1.0,
                margins: [0.0; 4],
            },
            background: Background::Lid { level: 255 },
            blur_sigma: 0.0,
            lighting: None,
            shadow: None,
            contrast: None,
            noise_sigma: 0.0,
            jpeg_quality,
            seed: 0,
        }
    }

    /// Short tags naming what this degradation does, for breakdowns of results.
    pub fn tags(&self) -> Vec<&'static str> {
        let g = &self.geometry;
        let mut tags = Vec::new();
        if g.upside_down {
            tags.push("upside-down");
        }
        if g.rotation_deg.abs() >= 3.0 {
            tags.push("skew>=3deg");
        }
        if g.keystone >= 0.03 {
            tags.push("keystone>=3%");
        }
        if (g.scale - 1.0).abs() >= 0.03 && g.scale > 0.8 {
            tags.push("scale>=3%");
        }
        if g.scale <= 0.8 {
            tags.push("low-dpi");
        }
        if self.blur_sigma >= 1.0 {
            tags.push("blur>=1px");
        }
        if self.lighting.is_some() {
            tags.push("uneven-light");
        }
        if self.shadow.is_some() {
            tags.push("shadow");
        }
        if self.contrast.is_some() {
            tags.push("low-contrast");
        }
        if self.noise_sigma >= 5.0 {
            tags.push("noise>=5");
        }
        if self.jpeg_quality < 60 {
            tags.push("jpeg<60");
        }
        if matches!(self.background, Background::Table { .. }) {
            tags.push("photo");
        }
        if g.margins.iter().any(|&m| m < 0.0) {
            tags.push("cropped");
        }
        tags
    }
}

/// The homography from page pixels to output pixels and the output size.
pub fn page_transform(width: u32, height: u32, g: &Geometry) -> Option<(Homography, u32, u32)> {
    let (w, h) = (f64::from(width), f64::from(height));
    let (cx, cy) = (w / 2.0, h / 2.0);
    let mut corners = [(-cx, -cy), (cx, -cy), (cx, cy), (-cx, cy)];
    // Keystone: the far side shrinks about its middle.
    let k = f64::from(g.keystone);
    let shrink = |p: &mut (f64, f64), along_x: bool| {
        if along_x {
            p.0 *= 1.0 - k;
        } else {
            p.1 *= 1.0 - k;
        }
    };
    match g.keystone_side % 4 {
        0 => corners[..2].iter_mut().for_each(|p| shrink(p, true)),
        1 => corners[1..3].iter_mut().for_each(|p| shrink(p, false)),
        2 => corners[2..].iter_mut().for_each(|p| shrink(p, true)),
        _ => [0, 3].iter().for_each(|&i| shrink(&mut corners[i], false)),
    }
    let angle = f64::from(g.rotation_deg).to_radians()
        + if g.upside_down {
            std::f64::consts::PI
        } else {
            0.0
        };
    let (s, c) = angle.sin_cos();
    let scale = f64::from(g.scale);
    let placed = corners.map(|(x, y)| (scale * (c * x - s * y), scale * (s * x + c * y)));
    let min_x = placed.iter().map(|p| p.0).fold(f64::MAX, f64::min);
    let min_y = placed.iter().map(|p| p.1).fold(f64::MAX, f64::min);
    let max_x = placed.iter().map(|p| p.0).fold(f64::MIN, f64::max);
    let max_y = placed.iter().map(|p| p.1).fold(f64::MIN, f64::max);
    let [ml, mt, mr, mb] = g.margins.map(f64::from);
    let out_w = (max_x - min_x + ml + mr).round().max(1.0);
    let out_h = (max_y - min_y + mt + mb).round().max(1.0);
    let to = placed.map(|(x, y)| (x - min_x + ml, y - min_y + mt));
    let from = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let hom = Homography::from_points(from, to)?;
    Some((hom, out_w as u32, out_h as u32))
}

/// Applies every degradation but the JPEG encoding; returns the image and the transform that
/// placed the page (for drawing ground truth over the output, never for the grader).
pub fn degrade(page: &GrayImage, d: &Degradation) -> Result<(GrayImage, Homography), SimError> {
    let (hom, out_w, out_h) = page_transform(page.width(), page.height(), &d.geometry)
        .ok_or_else(|| SimError::Format("degenerate page transform".into()))?;
    let inv = hom
        .inverse()
        .ok_or_else(|| SimError::Format("singular page transform".into()))?;
    let mut buf = warp(page, &inv, out_w, out_h, d.background, d.seed);
    if d.blur_sigma > 0.05 {
        gaussian_blur(&mut buf, out_w as usize, out_h as usize, d.blur_sigma);
    }
    finish(&buf, out_w, out_h, d).map(|img| (img, hom))
}

/// Inverse-maps every output pixel into the page and samples it bilinearly.
fn warp(
    page: &GrayImage,
    inv: &Homography,
    out_w: u32,
    out_h: u32,
    background: Background,
    seed: u64,
) -> Vec<f32> {
    let (pw, ph) = (page.width() as i64, page.height() as i64);
    let src = page.as_raw();
    let m = inv.0;
    let mut out = vec![0.0f32; out_w as usize * out_h as usize];
    let bg = |x: u32, y: u32| -> f32 {
        match background {
            Background::Lid { level } => f32::from(level),
            Background::Table { level, texture } => {
                let t = value_noise(x as f32, y as f32, 40.0, seed) - 0.5;
                let fine = value_noise(x as f32, y as f32, 4.0, seed ^ 7) - 0.5;
                f32::from(level) + f32::from(texture) * (t + 0.4 * fine)
            }
        }
    };
    for y in 0..out_h {
        let oy = f64::from(y) + 0.5;
        // Numerators and denominator are affine along a row: step them instead of recomputing.
        let mut nx = m[0][0] * 0.5 + m[0][1] * oy + m[0][2];
        let mut ny = m[1][0] * 0.5 + m[1][1] * oy + m[1][2];
        let mut nw = m[2][0] * 0.5 + m[2][1] * oy + m[2][2];
        for x in 0..out_w {
            let inv_w = 1.0 / nw;
            let sx = nx * inv_w - 0.5;
            let sy = ny * inv_w - 0.5;
            nx += m[0][0];
            ny += m[1][0];
            nw += m[2][0];
            let x0 = sx.floor();
            let y0 = sy.floor();
            let (fx, fy) = ((sx - x0) as f32, (sy - y0) as f32);
            let (ix, iy) = (x0 as i64, y0 as i64);
            let value = if ix >= 0 && iy >= 0 && ix + 1 < pw && iy + 1 < ph {
                let i = (iy * pw + ix) as usize;
                let p00 = f32::from(src[i]);
                let p10 = f32::from(src[i + 1]);
                let p01 = f32::from(src[i + pw as usize]);
                let p11 = f32::from(src[i + pw as usize + 1]);
                let top = p00 + (p10 - p00) * fx;
                let bottom = p01 + (p11 - p01) * fx;
                top + (bottom - top) * fy
            } else if ix < -1 || iy < -1 || ix >= pw || iy >= ph {
                bg(x, y)
            } else {
                // On the page's edge: blend page and background per sample.
                let sample = |xx: i64, yy: i64| {
                    if xx >= 0 && yy >= 0 && xx < pw && yy < ph {
                        f32::from(src[(yy * pw + xx) as usize])
                    } else {
                        bg(x, y)
                    }
                };
                let top = sample(ix, iy) + (sample(ix + 1, iy) - sample(ix, iy)) * fx;
                let bottom =
                    sample(ix, iy + 1) + (sample(ix + 1, iy + 1) - sample(ix, iy + 1)) * fx;
                top + (bottom - top) * fy
            };
            out[y as usize * out_w as usize + x as usize] = value;
        }
    }
    out
}

/// Separable Gaussian blur in place.
fn gaussian_blur(buf: &mut [f32], w: usize, h: usize, sigma: f32) {
    let radius = (3.0 * sigma).ceil() as usize;
    let mut kernel: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    // Rows: pad each row by its edge values so the inner loop needs no bounds logic.
    let mut padded = vec![0.0f32; w + 2 * radius];
    for y in 0..h {
        let row = &mut buf[y * w..(y + 1) * w];
        padded[..radius].fill(row[0]);
        padded[radius..radius + w].copy_from_slice(row);
        padded[radius + w..].fill(row[w - 1]);
        for (x, o) in row.iter_mut().enumerate() {
            *o = padded[x..x + kernel.len()]
                .iter()
                .zip(&kernel)
                .map(|(p, k)| p * k)
                .sum();
        }
    }
    // Columns: accumulate whole rows at a time (cache-friendly).
    let src = buf.to_vec();
    for y in 0..h {
        let out = &mut buf[y * w..(y + 1) * w];
        out.fill(0.0);
        for (k, &kv) in kernel.iter().enumerate() {
            let yi = (y + k).saturating_sub(radius).min(h - 1);
            let s = &src[yi * w..(yi + 1) * w];
            out.iter_mut().zip(s).for_each(|(o, &v)| *o += v * kv);
        }
    }
}

/// Lighting, shadow, contrast and noise, then quantisation to 8 bits.
fn finish(buf: &[f32], w: u32, h: u32, d: &Degradation) -> Result<GrayImage, SimError> {
    let (wf, hf) = (w as f32, h as f32);
    let mut noise = PixelNoise::new(d.seed);
    let (black, white) = d
        .contrast
        .map(|(b, w)| (f32::from(b), f32::from(w)))
        .unwrap_or((0.0, 255.0));
    let gain = (white - black) / 255.0;
    let shadow_seed = hash3(d.seed, 0x5AD0, 2);
    let lighting = d.lighting.map(|l| {
        let (s, c) = l.angle.sin_cos();
        (l, s, c, c.abs() + s.abs())
    });
    // A hand-held object's shadow edge is not straight: its reach wobbles along the side.
    let shadow = d.shadow.map(|s| {
        let along_len = if s.side % 2 == 0 { w } else { h };
        let edge: Vec<f32> = (0..along_len)
            .map(|i| {
                let along = (i as f32 + 0.5) / along_len as f32;
                s.reach + 0.05 * (value_noise(along * 600.0, 0.0, 150.0, shadow_seed) - 0.5)
            })
            .collect();
        (s, edge)
    });
    let mut out = Vec::with_capacity(buf.len());
    for y in 0..h {
        let v = (y as f32 + 0.5) / hf;
        for x in 0..w {
            let u = (x as f32 + 0.5) / wf;
            let mut light = 1.0;
            if let Some((l, s, c, norm)) = lighting {
                // Projection on the fall-off direction, 0 at the bright side, 1 at the dark.
                let t = ((u - 0.5) * c + (v - 0.5) * s) / norm * 2.0;
                let r2 = ((u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5)) * 2.0;
                light *= 1.0 - l.gradient * (0.5 + 0.5 * t.clamp(-1.0, 1.0)) - l.vignette * r2;
            }
            if let Some((s, edge)) = &shadow {
                let (depth, along) = match s.side % 4 {
                    0 => (v, x),
                    1 => (1.0 - u, y),
                    2 => (1.0 - v, x),
                    _ => (u, y),
                };
                let inside =
                    ((edge[along as usize] - depth) / s.softness.max(1e-3) + 0.5).clamp(0.0, 1.0);
                let smooth = inside * inside * (3.0 - 2.0 * inside);
                light *= 1.0 - s.strength * smooth;
            }
            let lit = buf[(y * w + x) as usize] * light.max(0.0);
            let mut value = black + gain * lit;
            if d.noise_sigma > 0.0 {
                value += d.noise_sigma * noise.sample();
            }
            out.push(value.round().clamp(0.0, 255.0) as u8);
        }
    }
    GrayImage::from_raw(w, h, out).ok_or_else(|| SimError::Format("image size".into()))
}

/// Encodes a grayscale image as baseline JPEG at `quality` (1–100).
pub fn encode_jpeg(img: &GrayImage, quality: u8) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    image::ImageEncoder::write_image(
        encoder,
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )
    .map_err(|e| SimError::Format(format!("JPEG encoding: {e}")))?;
    Ok(out)
}

/// Encodes a grayscale image as PNG.
pub fn encode_png(img: &GrayImage) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    image::ImageEncoder::write_image(
        encoder,
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::L8,
    )
    .map_err(|e| SimError::Format(format!("PNG encoding: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_its_four_points() {
        let from = [(0.0, 0.0), (100.0, 0.0), (100.0, 200.0), (0.0, 200.0)];
        let to = [(10.0, 5.0), (95.0, 12.0), (110.0, 190.0), (3.0, 210.0)];
        let h = Homography::from_points(from, to).expect("solvable");
        for (f, t) in from.iter().zip(to.iter()) {
            let (x, y) = h.map(f.0, f.1);
            assert!((x - t.0).abs() < 1e-6 && (y - t.1).abs() < 1e-6);
        }
        let inv = h.inverse().expect("invertible");
        let (x, y) = inv.map(h.map(37.0, 81.0).0, h.map(37.0, 81.0).1);
        assert!((x - 37.0).abs() < 1e-6 && (y - 81.0).abs() < 1e-6);
    }

    #[test]
    fn a_dark_dot_lands_where_the_transform_says() {
        let mut page = GrayImage::from_pixel(200, 300, image::Luma([255]));
        for y in 118..122 {
            for x in 58..62 {
                page.put_pixel(x, y, image::Luma([0]));
            }
        }
        let mut d = Degradation::none(90);
        d.geometry = Geometry {
            rotation_deg: 6.0,
            upside_down: true,
            keystone: 0.08,
            keystone_side: 1,
            scale: 1.04,
            margins: [12.0, 3.0, 7.0, 20.0],
        };
        let (out, hom) = degrade(&page, &d).expect("degrades");
        let (x, y) = hom.map(60.0, 120.0);
        let v = out.get_pixel(x as u32, y as u32).0[0];
        assert!(v < 60, "dot not where expected: {v}");
    }
}
