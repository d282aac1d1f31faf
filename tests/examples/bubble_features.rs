//! Per-bubble features as the grader measures them, labelled with the simulator's truth: one
//! CSV line per inked bubble (and one empty bubble in fifty), to see which features separate
//! erasure residue from light marks.
//!
//! `cargo run --release -p gabarito-tests --example bubble_features -- PROFILE SHEETS SEED > out.csv`

use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let profile = a.get(1).map_or("harsh", String::as_str);
    let sheets: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = a
        .get(3)
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x4A25_2026);
    let mix = Mix::named(profile).ok_or_else(|| anyhow::anyhow!("profile {profile}"))?;
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(sheets), seed)?;
    let grader = pipeline::Grader::new(fx.bundle.clone());
    let opts = SetOptions {
        seed,
        sheets,
        dpi: 300,
        mix,
        keep_failures: None,
    };
    let lines = for_each_scan(&fx, &opts, |scan| {
        let mut out = Vec::new();
        let pages = grader.grade_bytes_scanned(&scan.truth.file_name, &scan.bytes);
        let Some(reading) = pages
            .first()
            .and_then(|p| p.scan.as_ref())
            .and_then(|s| s.reading.as_ref())
        else {
            return out;
        };
        if reading.grid_fit < pipeline::marks::MIN_GRID_FIT {
            return out;
        }
        let Some(page) = fx.bundle.page_by_code(&scan.truth.sheet_code) else {
            return out;
        };
        let tags = scan.truth.degradation.tags().join("+");
        let sheet_index = scan.truth.index;
        for (q, truth) in reading.questions.iter().zip(&scan.truth.questions) {
            let labels = page
                .layout
                .bubbles
                .iter()
                .filter(|b| b.question == q.question)
                .map(|b| b.choice.as_str());
            for (i, label) in labels.enumerate() {
                let mark = truth.marks.iter().find(|m| m.choice == label);
                let (style, added) = mark.map_or(("empty", 0.0), |m| {
                    (m.spec.style.name(), m.stats.added_darkness)
                });
                if mark.is_none() && !(q.question as usize + i).is_multiple_of(50) {
                    continue;
                }
                let state = pages[0]
                    .report
                    .answers
                    .iter()
                    .find(|r| r.question == q.question)
                    .map_or("?".to_string(), |r| format!("{:?}", r.state));
                let fill = q.fills[i] - reading.empty_level;
                if let (Ok(dir), Some(scan), Some(b)) = (
                    std::env::var("LOOK_DIR"),
                    pages[0].scan.as_ref(),
                    page.layout
                        .bubbles
                        .iter()
                        .find(|b| b.question == q.question && b.choice == label),
                ) && (0.14..0.23).contains(&fill)
                    && matches!(style, "residue" | "light-pencil")
                    && let Some(h) = &scan.homography
                {
                    let (cx, cy) = h.apply_f32(b.x, b.y);
                    let half = b.r * 2.2 * h.local_scale(f64::from(b.x), f64::from(b.y)) as f32;
                    let (x0, y0) = ((cx - half).max(0.0) as u32, (cy - half).max(0.0) as u32);
                    let side = (2.0 * half) as u32;
                    let crop =
                        image::imageops::crop_imm(&scan.image, x0, y0, side, side).to_image();
                    let big = image::imageops::resize(
                        &crop,
                        side * 6,
                        side * 6,
                        image::imageops::FilterType::Nearest,
                    );
                    let _ = big.save(format!(
                        "{dir}/{style}-{fill:.3}-s{}q{}{label}.png",
                        sheet_index, q.question
                    ));
                }
                out.push(format!(
                    "{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{},{}",
                    scan.truth.index,
                    q.question,
                    label,
                    style,
                    scan.truth.student_style.name(),
                    added,
                    q.fills[i] - reading.empty_level,
                    q.peaks[i] - reading.empty_peak,
                    q.textures[i],
                    reading.empty_texture,
                    q.halos[i],
                    reading.empty_halo,
                    reading.empty_level,
                    reading.empty_sigma,
                    state,
                    tags,
                ));
            }
        }
        out
    })?;
    println!(
        "sheet,question,label,style,student_style,added,fill,peak,texture,empty_texture,halo,empty_halo,empty_level,empty_sigma,state,tags"
    );
    for l in lines.into_iter().flatten() {
        println!("{l}");
    }
    Ok(())
}
