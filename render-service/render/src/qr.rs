//! The QR code of a sheet code, as rectangles ready to fill as one path.

use model::SheetCode;
use model::layout::{QR_MODULES, QrPlacement};
use qrcode::Color;

/// A filled rectangle in layout coordinates (top-left origin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Run {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// The QR payload could not be encoded in the layout's version-1 code (a codec bug, not input).
#[derive(Debug, thiserror::Error)]
#[error("sheet code {0} does not fit a version-1 QR code at error correction Q")]
pub struct QrError(pub String);

/// The dark modules of `code`'s QR code placed at `qr`: each row's horizontal runs of dark
/// modules become one rectangle, and equal runs in consecutive rows merge into a taller one.
/// About 80 rectangles instead of ~200 modules.
pub(crate) fn qr_runs(code: &SheetCode, qr: &QrPlacement) -> Result<Vec<Run>, QrError> {
    let payload = code.qr_payload();
    let symbol = code.qr_code().map_err(|_| QrError(payload.clone()))?;
    let n = symbol.width();
    if n != QR_MODULES as usize {
        return Err(QrError(payload));
    }
    let module = qr.size / n as f32;
    // (first column, end column) runs of each row.
    let rows: Vec<Vec<(usize, usize)>> = (0..n)
        .map(|y| {
            let mut runs = Vec::new();
            let mut x = 0;
            while x < n {
                if symbol[(x, y)] == Color::Dark {
                    let start = x;
                    while x < n && symbol[(x, y)] == Color::Dark {
                        x += 1;
                    }
                    runs.push((start, x));
                } else {
                    x += 1;
                }
            }
            runs
        })
        .collect();
    let mut out = Vec::new();
    // Open rectangles: (run, first row), extended while the next row has the same run.
    let mut open: Vec<((usize, usize), usize)> = Vec::new();
    for y in 0..=n {
        let here: &[(usize, usize)] = rows.get(y).map_or(&[], Vec::as_slice);
        let mut still_open = Vec::new();
        for (run, top) in open.drain(..) {
            if here.contains(&run) {
                still_open.push((run, top));
            } else {
                out.push(Run {
                    x: qr.x + run.0 as f32 * module,
                    y: qr.y + top as f32 * module,
                    width: (run.1 - run.0) as f32 * module,
                    height: (y - top) as f32 * module,
                });
            }
        }
        for &run in here {
            if !still_open.iter().any(|(r, _)| *r == run) {
                still_open.push((run, y));
            }
        }
        open = still_open;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_cover_exactly_the_dark_modules() {
        let code = SheetCode::random();
        let qr = QrPlacement {
            x: 0.0,
            y: 0.0,
            size: 21.0,
        };
        let runs = qr_runs(&code, &qr).expect("fits");
        let symbol = code.qr_code().expect("fits");
        let mut covered = vec![0u8; 21 * 21];
        for r in &runs {
            for y in r.y as usize..(r.y + r.height) as usize {
                for x in r.x as usize..(r.x + r.width) as usize {
                    covered[y * 21 + x] += 1;
                }
            }
        }
        for y in 0..21 {
            for x in 0..21 {
                let dark = symbol[(x, y)] == Color::Dark;
                assert_eq!(covered[y * 21 + x], u8::from(dark), "module {x},{y}");
            }
        }
        assert!(runs.len() < 150, "{} rectangles", runs.len());
    }

    #[test]
    fn digit_runs_still_fit_version_1() {
        // qrcode's own segmentation overflows version 1-Q on this one.
        let code = SheetCode::parse("6XEN42825268PPX").expect("valid code");
        let qr = QrPlacement {
            x: 0.0,
            y: 0.0,
            size: 21.0,
        };
        assert!(qr_runs(&code, &qr).is_ok());
        for _ in 0..2000 {
            assert!(qr_runs(&SheetCode::random(), &qr).is_ok());
        }
    }
}
