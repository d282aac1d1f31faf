//! Times the simulator's stages on one page (for tuning the simulator, not the grader).
use gabarito_tests::degrade::{degrade, encode_jpeg};
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::rasterize::rasterize_pages;
use gabarito_tests::scenario::{Mix, simulate_sheet};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let exam = example_exam()?;
    let t = Instant::now();
    let fx = RenderedFixture::render(&exam, &roster(8), 1)?;
    println!("render {:?}", t.elapsed());
    let t = Instant::now();
    let pages = rasterize_pages(&fx.pdf_path(), 300, 1, 8)?;
    println!("rasterize 8 pages {:?}", t.elapsed());
    for (i, page) in pages.iter().enumerate().take(6) {
        let t = Instant::now();
        let (scan, img, _) = simulate_sheet(
            page,
            300,
            &fx.bundle.pages[i],
            &exam,
            5,
            i,
            &Mix::realistic(),
        )?;
        let total = t.elapsed();
        let t = Instant::now();
        let _ = degrade(page, &scan.truth.degradation)?;
        let deg = t.elapsed();
        let t = Instant::now();
        let _ = encode_jpeg(&img, 80)?;
        let enc = t.elapsed();
        println!(
            "sheet {i} {}: total {total:?}, degrade {deg:?}, jpeg {enc:?}",
            scan.truth.profile.name()
        );
    }
    Ok(())
}
