//! Grading accuracy on the full simulated set: 500+ sheets of the 90-question example exam,
//! every fill style and degradation in realistic proportions (or the harsh ones). Prints the
//! acceptance figures.
//!
//! `cargo bench -p gabarito-tests --bench accuracy` (needs `pdftoppm`).
//! Environment: `GABARITO_PROFILE` (`realistic`, the default, or `harsh`: `Mix::harsh`),
//! `GABARITO_SHEETS` (default 520), `GABARITO_SEED` (default: per profile, below),
//! `GABARITO_KEEP_FAILURES=DIR` saves every scan not read perfectly with its truth,
//! `GABARITO_REPORT=FILE` writes the full tally as JSON.

use std::time::Instant;

use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, grade_set};
use gabarito_tests::scenario::Mix;

/// The realistic set's seed, as in `BENCHMARKS.md` since the first session.
const DEFAULT_SEED: u64 = 0xACC0_2026;
/// The harsh set's seed (issue 10).
const HARSH_SEED: u64 = 0x4A25_2026;

fn main() -> anyhow::Result<()> {
    let profile = std::env::var("GABARITO_PROFILE").unwrap_or_else(|_| "realistic".into());
    let mix = Mix::named(&profile)
        .ok_or_else(|| anyhow::anyhow!("GABARITO_PROFILE={profile}: realistic or harsh"))?;
    let default_seed = if profile == "harsh" {
        HARSH_SEED
    } else {
        DEFAULT_SEED
    };
    let sheets: usize = std::env::var("GABARITO_SHEETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(520);
    let seed: u64 = std::env::var("GABARITO_SEED")
        .ok()
        .and_then(|s| {
            s.strip_prefix("0x")
                .map_or_else(|| s.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
        })
        .unwrap_or(default_seed);
    let keep = std::env::var_os("GABARITO_KEEP_FAILURES").map(std::path::PathBuf::from);

    println!("accuracy benchmark: profile {profile}, {sheets} sheets, seed {seed:#x}");
    let started = Instant::now();
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(sheets), seed)?;
    println!(
        "rendered {} pages in {:.1} s",
        fx.bundle.pages.len(),
        started.elapsed().as_secs_f64()
    );
    let grader = pipeline::Grader::new(fx.bundle.clone());
    let opts = SetOptions {
        seed,
        sheets,
        dpi: 300,
        mix,
        keep_failures: keep,
    };
    let tally = grade_set(&fx, &opts, |name, bytes| {
        grader.grade_bytes_scanned(name, bytes)
    })?;
    println!(
        "accuracy benchmark: profile {profile}, {sheets} sheets, {} questions each, seed \
         {seed:#x}, 300 dpi, mix {:?}; {:.0} s wall",
        exam.questions.len(),
        opts.mix,
        started.elapsed().as_secs_f64()
    );
    println!("{}", tally.report(200));
    println!("profile {profile}, seed {seed:#x}: {}", tally.summary());
    if let Ok(path) = std::env::var("GABARITO_REPORT") {
        std::fs::write(path, serde_json::to_string_pretty(&tally)?)?;
    }
    Ok(())
}
