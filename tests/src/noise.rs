//! Small deterministic random helpers: normal deviates and position-hashed textures, so that a
//! texture looks the same whatever order pixels are visited in.

use rand::{Rng, RngExt};

/// A normal deviate (Box–Muller).
pub fn normal<R: Rng + ?Sized>(rng: &mut R, mean: f32, sd: f32) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    mean + sd * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A uniform deviate in `[lo, hi)`; `lo` when the range is empty.
pub fn uniform<R: Rng + ?Sized>(rng: &mut R, lo: f32, hi: f32) -> f32 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// A well-mixed 64-bit hash of three integers (SplitMix64 finaliser).
pub fn hash3(a: u64, b: u64, c: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(c.wrapping_mul(0x1656_67B1_9E37_79F9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A value in `[0, 1)` fixed by a pixel position and a seed.
pub fn hash_unit(x: i64, y: i64, seed: u64) -> f32 {
    (hash3(x as u64, y as u64, seed) >> 40) as f32 / (1u64 << 24) as f32
}

/// Smooth value noise in `[0, 1)` with features about `cell` pixels wide.
pub fn value_noise(x: f32, y: f32, cell: f32, seed: u64) -> f32 {
    let (fx, fy) = (x / cell, y / cell);
    let (x0, y0) = (fx.floor(), fy.floor());
    let (tx, ty) = (fx - x0, fy - y0);
    let (sx, sy) = (tx * tx * (3.0 - 2.0 * tx), ty * ty * (3.0 - 2.0 * ty));
    let (ix, iy) = (x0 as i64, y0 as i64);
    let v00 = hash_unit(ix, iy, seed);
    let v10 = hash_unit(ix + 1, iy, seed);
    let v01 = hash_unit(ix, iy + 1, seed);
    let v11 = hash_unit(ix + 1, iy + 1, seed);
    let top = v00 + (v10 - v00) * sx;
    let bottom = v01 + (v11 - v01) * sx;
    top + (bottom - top) * sy
}

/// A fast generator of approximately normal deviates for per-pixel sensor noise: each `u64`
/// yields four 16-bit uniforms whose sum is close to normal (Irwin–Hall).
pub struct PixelNoise {
    state: u64,
}

impl PixelNoise {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: hash3(seed, 0x5EED, 1),
        }
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*: plenty for noise, far cheaper than a cryptographic generator.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A deviate with mean 0 and standard deviation 1 (support ±3.46).
    pub fn sample(&mut self) -> f32 {
        let v = self.next_u64();
        let sum = (v & 0xFFFF) + ((v >> 16) & 0xFFFF) + ((v >> 32) & 0xFFFF) + (v >> 48);
        // Sum of four U(0,1): mean 2, variance 4/12.
        (sum as f32 / 65536.0 - 2.0) * 3.0f32.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_noise_has_unit_variance() {
        let mut n = PixelNoise::new(3);
        let samples: Vec<f32> = (0..100_000).map(|_| n.sample()).collect();
        let mean = samples.iter().sum::<f32>() / samples.len() as f32;
        let var = samples.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / samples.len() as f32;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0).abs() < 0.03, "{var}");
    }

    #[test]
    fn value_noise_stays_in_range() {
        for i in 0..1000 {
            let v = value_noise(i as f32 * 0.37, i as f32 * 1.3, 7.0, 9);
            assert!((0.0..1.0).contains(&v));
        }
    }
}
