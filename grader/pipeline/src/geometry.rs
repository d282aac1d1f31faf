//! Plane projective geometry: the homography from layout points (PDF points, top-left origin)
//! to image pixels.

/// A 3×3 projective transform, row-major, `h[8]` normalised to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography {
    h: [f64; 9],
}

impl Homography {
    /// The transform taking each `from[i]` to `to[i]` (direct linear transform on four point
    /// pairs: an 8×8 linear system). `None` when the points are degenerate (three collinear).
    pub fn from_points(from: &[(f64, f64); 4], to: &[(f64, f64); 4]) -> Option<Self> {
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = from[i];
            let (u, v) = to[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let sol = solve8(a)?;
        let h = [
            sol[0], sol[1], sol[2], sol[3], sol[4], sol[5], sol[6], sol[7], 1.0,
        ];
        h.iter().all(|v| v.is_finite()).then_some(Self { h })
    }

    /// Maps a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let h = &self.h;
        let w = h[6] * x + h[7] * y + h[8];
        let w = if w.abs() < 1e-12 { 1e-12 } else { w };
        (
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        )
    }

    /// Maps a point given as `f32` layout coordinates.
    pub fn apply_f32(&self, x: f32, y: f32) -> (f32, f32) {
        let (u, v) = self.apply(f64::from(x), f64::from(y));
        (u as f32, v as f32)
    }

    /// Local scale (pixels per layout unit) around a point: the square root of the Jacobian's
    /// determinant.
    pub fn local_scale(&self, x: f64, y: f64) -> f64 {
        let d = 0.5;
        let (ax, ay) = self.apply(x - d, y);
        let (bx, by) = self.apply(x + d, y);
        let (cx, cy) = self.apply(x, y - d);
        let (ex, ey) = self.apply(x, y + d);
        let (jx, jy) = ((bx - ax) / (2.0 * d), (by - ay) / (2.0 * d));
        let (kx, ky) = ((ex - cx) / (2.0 * d), (ey - cy) / (2.0 * d));
        (jx * ky - jy * kx).abs().sqrt()
    }
}

impl Homography {
    /// A transform from its row-major matrix, normalised so that the last entry is 1. `None`
    /// when that entry is (nearly) zero or anything is not finite.
    pub fn from_matrix(m: [f64; 9]) -> Option<Self> {
        if !m[8].is_finite() || m[8].abs() < 1e-12 {
            return None;
        }
        let h = m.map(|v| v / m[8]);
        h.iter().all(|v| v.is_finite()).then_some(Self { h })
    }

    /// The row-major matrix.
    pub fn matrix(&self) -> [f64; 9] {
        self.h
    }

    /// The inverse transform; `None` when singular.
    pub fn inverse(&self) -> Option<Self> {
        let m = &self.h;
        let adj = [
            m[4] * m[8] - m[5] * m[7],
            m[2] * m[7] - m[1] * m[8],
            m[1] * m[5] - m[2] * m[4],
            m[5] * m[6] - m[3] * m[8],
            m[0] * m[8] - m[2] * m[6],
            m[2] * m[3] - m[0] * m[5],
            m[3] * m[7] - m[4] * m[6],
            m[1] * m[6] - m[0] * m[7],
            m[0] * m[4] - m[1] * m[3],
        ];
        Self::from_matrix(adj)
    }

    /// `self` after `first`: x ↦ self(first(x)).
    pub fn after(&self, first: &Homography) -> Option<Self> {
        Self::from_matrix(mul3(&self.h, &first.h))
    }

    /// The similarity (rotation, uniform scale, translation) taking `from[0]`, `from[1]` to
    /// `to[0]`, `to[1]`. `None` when the two `from` points coincide.
    pub fn similarity(from: [(f64, f64); 2], to: [(f64, f64); 2]) -> Option<Self> {
        let (fx, fy) = (from[1].0 - from[0].0, from[1].1 - from[0].1);
        let (tx, ty) = (to[1].0 - to[0].0, to[1].1 - to[0].1);
        let n = fx * fx + fy * fy;
        if n < 1e-9 {
            return None;
        }
        // (a + ib) = t / f as complex numbers.
        let a = (tx * fx + ty * fy) / n;
        let b = (ty * fx - tx * fy) / n;
        let c = to[0].0 - (a * from[0].0 - b * from[0].1);
        let d = to[0].1 - (b * from[0].0 + a * from[0].1);
        Self::from_matrix([a, -b, c, b, a, d, 0.0, 0.0, 1.0])
    }

    /// The weighted least-squares affine transform of point pairs (`from`, `to`, weight);
    /// `None` with fewer than three non-collinear points.
    pub fn fit_affine(pairs: &[Pair]) -> Option<Self> {
        let (nf, nt) = (
            Normaliser::of(pairs.iter().map(|p| p.0))?,
            Normaliser::of(pairs.iter().map(|p| p.1))?,
        );
        // Two independent 3-parameter least squares (u and v) sharing one normal matrix.
        let mut m = [[0.0f64; 3]; 3];
        let mut bu = [0.0f64; 3];
        let mut bv = [0.0f64; 3];
        for &(f, t, w) in pairs {
            let (x, y) = nf.apply(f);
            let (u, v) = nt.apply(t);
            let row = [x, y, 1.0];
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] += w * row[i] * row[j];
                }
                bu[i] += w * row[i] * u;
                bv[i] += w * row[i] * v;
            }
        }
        let a = solve3(m, bu)?;
        let b = solve3(m, bv)?;
        let hn = Self::from_matrix([a[0], a[1], a[2], b[0], b[1], b[2], 0.0, 0.0, 1.0])?;
        nt.inverse().after(&hn)?.after(&nf.forward())
    }

    /// The weighted least-squares homography of point pairs (`from`, `to`, weight), by the
    /// normalised direct linear transform; `None` with fewer than four points in general
    /// position.
    pub fn fit(pairs: &[Pair]) -> Option<Self> {
        if pairs.len() < 4 {
            return None;
        }
        let (nf, nt) = (
            Normaliser::of(pairs.iter().map(|p| p.0))?,
            Normaliser::of(pairs.iter().map(|p| p.1))?,
        );
        // Normal equations of the 2n×8 system (h[8] = 1), augmented with the right-hand side.
        let mut a = [[0.0f64; 9]; 8];
        for &(f, t, w) in pairs {
            let (x, y) = nf.apply(f);
            let (u, v) = nt.apply(t);
            for (row, rhs) in [
                ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
                ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
            ] {
                for i in 0..8 {
                    for j in 0..8 {
                        a[i][j] += w * row[i] * row[j];
                    }
                    a[i][8] += w * row[i] * rhs;
                }
            }
        }
        let s = solve8(a)?;
        let hn = Self::from_matrix([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], 1.0])?;
        nt.inverse().after(&hn)?.after(&nf.forward())
    }
}

/// A point correspondence for the least-squares fits: layout point, image point, weight.
pub type Pair = ((f64, f64), (f64, f64), f64);

/// Hartley normalisation: centroid to the origin, mean distance √2 (keeps the normal equations
/// well conditioned when points are hundreds of pixels from the origin).
struct Normaliser {
    cx: f64,
    cy: f64,
    s: f64,
}

impl Normaliser {
    fn of(points: impl Iterator<Item = (f64, f64)> + Clone) -> Option<Self> {
        let n = points.clone().count() as f64;
        if n < 1.0 {
            return None;
        }
        let cx = points.clone().map(|p| p.0).sum::<f64>() / n;
        let cy = points.clone().map(|p| p.1).sum::<f64>() / n;
        let d = points
            .map(|p| ((p.0 - cx).powi(2) + (p.1 - cy).powi(2)).sqrt())
            .sum::<f64>()
            / n;
        (d > 1e-9).then(|| Self {
            cx,
            cy,
            s: std::f64::consts::SQRT_2 / d,
        })
    }

    fn apply(&self, p: (f64, f64)) -> (f64, f64) {
        ((p.0 - self.cx) * self.s, (p.1 - self.cy) * self.s)
    }

    fn forward(&self) -> Homography {
        Homography {
            h: [
                self.s,
                0.0,
                -self.s * self.cx,
                0.0,
                self.s,
                -self.s * self.cy,
                0.0,
                0.0,
                1.0,
            ],
        }
    }

    fn inverse(&self) -> Homography {
        Homography {
            h: [
                1.0 / self.s,
                0.0,
                self.cx,
                0.0,
                1.0 / self.s,
                self.cy,
                0.0,
                0.0,
                1.0,
            ],
        }
    }
}

fn mul3(a: &[f64; 9], b: &[f64; 9]) -> [f64; 9] {
    std::array::from_fn(|k| {
        let (i, j) = (k / 3, k % 3);
        (0..3).map(|t| a[i * 3 + t] * b[t * 3 + j]).sum()
    })
}

/// Solves a 3×3 system by Cramer's rule; `None` when (nearly) singular.
fn solve3(m: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(&m);
    if d.abs() < 1e-12 {
        return None;
    }
    let mut out = [0.0; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let mut mc = m;
        for r in 0..3 {
            mc[r][c] = b[r];
        }
        *o = det(&mc) / d;
    }
    Some(out)
}

/// Gaussian elimination with partial pivoting on an 8×9 augmented matrix.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for col in 0..8 {
        let pivot = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                if f != 0.0 {
                    for (v, p) in r.iter_mut().zip(pivot_row.iter()).skip(col) {
                        *v -= f * p;
                    }
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for i in 0..8 {
        x[i] = a[i][8] / a[i][i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_point_fit_maps_the_points_and_interpolates_perspective() {
        let from = [(0.0, 0.0), (100.0, 0.0), (100.0, 200.0), (0.0, 200.0)];
        let to = [(10.0, 5.0), (215.0, 12.0), (230.0, 420.0), (4.0, 400.0)];
        let h = Homography::from_points(&from, &to).expect("fits");
        for (f, t) in from.iter().zip(&to) {
            let (u, v) = h.apply(f.0, f.1);
            assert!((u - t.0).abs() < 1e-6 && (v - t.1).abs() < 1e-6);
        }
        let collinear = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        assert!(Homography::from_points(&collinear, &to).is_none());
    }

    #[test]
    fn least_squares_fits_recover_the_transform() {
        let from = [(0.0, 0.0), (100.0, 0.0), (100.0, 200.0), (0.0, 200.0)];
        let to = [(10.0, 5.0), (215.0, 12.0), (230.0, 420.0), (4.0, 400.0)];
        let truth = Homography::from_points(&from, &to).expect("fits");
        let pairs: Vec<Pair> = (0..30)
            .map(|i| {
                let p = (f64::from(i % 6) * 20.0, f64::from(i / 6) * 45.0);
                (p, truth.apply(p.0, p.1), 1.0)
            })
            .collect();
        let h = Homography::fit(&pairs).expect("homography");
        let a = Homography::fit_affine(&pairs[..12]).expect("affine");
        for &(f, t, _) in &pairs {
            let (u, v) = h.apply(f.0, f.1);
            assert!((u - t.0).abs() < 1e-6 && (v - t.1).abs() < 1e-6);
        }
        let (u, v) = a.apply(0.0, 0.0);
        assert!((u - 10.0).abs() < 3.0 && (v - 5.0).abs() < 3.0, "{u} {v}");
        let s = Homography::similarity([(0.0, 0.0), (10.0, 0.0)], [(5.0, 5.0), (5.0, 25.0)])
            .expect("similarity");
        let (u, v) = s.apply(0.0, 10.0);
        assert!((u + 15.0).abs() < 1e-9 && (v - 5.0).abs() < 1e-9, "{u} {v}");
    }
}
