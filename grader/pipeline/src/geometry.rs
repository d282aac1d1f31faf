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
}
