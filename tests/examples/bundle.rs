//! Renders the example exam for a synthetic roster, as the tests and benchmarks do, into a
//! folder (`bundle.pdf`, `bundle.json`), so that a saved failing scan can be re-graded with
//! `grader grade SCAN --bundle OUTDIR --annotate DIR`.
//!
//! `cargo run --release -p gabarito-tests --example bundle -- STUDENTS SEED OUTDIR`
//! (SEED as printed by the test or benchmark, decimal or 0x-hex).

use anyhow::Context;
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bundle STUDENTS SEED OUTDIR";
    let students: usize = args.get(1).context(usage)?.parse()?;
    let seed_text = args.get(2).context(usage)?;
    let seed = match seed_text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)?,
        None => seed_text.parse()?,
    };
    let out = std::path::PathBuf::from(args.get(3).context(usage)?);
    std::fs::create_dir_all(&out)?;
    let fx = RenderedFixture::render(&example_exam()?, &roster(students), seed)?;
    std::fs::copy(fx.pdf_path(), out.join("bundle.pdf"))?;
    std::fs::copy(fx.dir.join("bundle.json"), out.join("bundle.json"))?;
    println!(
        "{} pages written to {}",
        fx.bundle.pages.len(),
        out.display()
    );
    Ok(())
}
