//! Issue 2's acceptance: the 90-question, 5-choice, 2-version example exam with the 40-student
//! roster renders to a 40-page PDF that poppler reads back — page count, every name and text
//! id in the text layer, every QR decodable at 150 and 300 dpi to the code printed under it,
//! every bubble of the manifest on its printed circle (< 0.25 mm).

mod common;

use std::path::Path;

use common::{
    circle_offset_mm, decode_qr, pdfinfo_pages, pdftotext_pages, rasterise_to_files, workspace,
};
use model::{Exam, read_roster};
use render::{RenderedBundle, render_bundle_seeded};

fn example_bundle() -> RenderedBundle {
    let root = workspace();
    let exam = Exam::from_json(
        &std::fs::read_to_string(root.join("examples/simulado-1.json")).expect("exam"),
    )
    .expect("valid exam");
    let roster =
        read_roster(std::fs::File::open(root.join("examples/turma-3a.csv")).expect("roster"))
            .expect("valid roster");
    assert_eq!(exam.questions.len(), 90);
    assert_eq!(exam.versions.len(), 2);
    assert_eq!(roster.len(), 40);
    render_bundle_seeded(&exam, Some(&roster), 1, 20_261_130).expect("renders")
}

fn write_pdf(bundle: &RenderedBundle, dir: &Path) -> std::path::PathBuf {
    let pdf = dir.join("bundle.pdf");
    std::fs::write(&pdf, &bundle.pdf).expect("write pdf");
    pdf
}

#[test]
fn example_bundle_has_a_page_per_student_with_name_and_text_id() {
    let bundle = example_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_pdf(&bundle, dir.path());
    assert_eq!(pdfinfo_pages(&pdf), 40);
    assert_eq!(bundle.manifest.pages.len(), 40);

    let texts = pdftotext_pages(&pdf);
    assert_eq!(texts.len(), 40);
    for (page, text) in bundle.manifest.pages.iter().zip(&texts) {
        let name = page.student_name.as_deref().expect("roster page");
        assert!(
            text.contains(name),
            "page {}: {name:?} not in {text:?}",
            page.pdf_page
        );
        let printed = page.sheet_code.printed();
        assert!(
            text.contains(&printed),
            "page {}: {printed} not in {text:?}",
            page.pdf_page
        );
        let id = page.student_id.as_deref().expect("student id");
        assert!(text.contains(id), "page {}: {id}", page.pdf_page);
    }
    // The printed code sits inside the manifest's text_id box (where OCR will look), and the
    // student's details inside the header band.
    let words = common::pdftotext_words(&pdf);
    assert_eq!(words.len(), 40);
    for (page, words) in bundle.manifest.pages.iter().zip(&words) {
        let inside = |w: &common::Word, r: &model::layout::Rect| {
            w.x_min >= r.x - 0.5
                && w.x_max <= r.x + r.width + 0.5
                && w.y_min >= r.y - 0.5
                && w.y_max <= r.y + r.height + 0.5
        };
        let printed = page.sheet_code.printed();
        let code = words
            .iter()
            .find(|w| w.text == printed)
            .unwrap_or_else(|| panic!("page {}: no word {printed}", page.pdf_page));
        assert!(
            inside(code, &page.layout.text_id),
            "page {}: {code:?} outside {:?}",
            page.pdf_page,
            page.layout.text_id
        );
        for w in words.iter().filter(|w| w.text != printed) {
            assert!(
                inside(w, &page.layout.header),
                "page {}: {w:?} outside the header",
                page.pdf_page
            );
        }
    }
    // Versions alternate in roster order.
    for (i, page) in bundle.manifest.pages.iter().enumerate() {
        assert_eq!(page.version, ["A", "B"][i % 2]);
        assert_eq!(page.layout.bubbles.len(), 450);
    }
}

#[test]
fn every_qr_decodes_and_every_bubble_is_on_its_circle_at_150_and_300_dpi() {
    let bundle = example_bundle();
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write_pdf(&bundle, dir.path());
    let t0 = std::time::Instant::now();
    // Both resolutions rasterise at once: pdftoppm is most of this test's time.
    let rasters: Vec<(u32, Vec<std::path::PathBuf>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = [150u32, 300]
            .into_iter()
            .map(|dpi| {
                let (pdf, dir) = (&pdf, dir.path());
                scope.spawn(move || (dpi, rasterise_to_files(pdf, dpi, dir)))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rasterise"))
            .collect()
    });
    eprintln!("rasterised in {:.1} s", t0.elapsed().as_secs_f64());
    for (dpi, files) in &rasters {
        let t1 = std::time::Instant::now();
        let dpi = *dpi;
        assert_eq!(files.len(), 40, "{dpi} dpi");
        // Two workers, one page in memory each.
        let results: Vec<PageFigures> = std::thread::scope(|scope| {
            let handles: Vec<_> = files
                .chunks(20)
                .zip(bundle.manifest.pages.chunks(20))
                .map(|(paths, metas)| {
                    scope.spawn(move || {
                        paths
                            .iter()
                            .zip(metas)
                            .map(|(path, meta)| {
                                let figures = check_page(&common::Gray::read_pgm(path), meta, dpi);
                                let _ = std::fs::remove_file(path);
                                figures
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("worker"))
                .collect()
        });
        let worst = |f: fn(&PageFigures) -> f32| results.iter().map(f).fold(0.0, f32::max);
        eprintln!(
            "{dpi} dpi: worst bubble offset {:.3} mm, faintest ring {:.2}, darkest blank bubble \
             inside: mean {:.3}, pixel {:.2}; checked in {:.1} s",
            worst(|p| p.max_offset_mm),
            results.iter().map(|p| p.min_ring).fold(1.0, f32::min),
            worst(|p| p.max_blank_mean),
            worst(|p| p.max_blank_pixel),
            t1.elapsed().as_secs_f64(),
        );
    }
}

/// What one page measured.
struct PageFigures {
    max_offset_mm: f32,
    min_ring: f32,
    max_blank_mean: f32,
    max_blank_pixel: f32,
}

fn check_page(img: &common::Gray, meta: &model::BundlePage, dpi: u32) -> PageFigures {
    let decoded = decode_qr(img, &meta.layout.qr, dpi);
    assert_eq!(
        decoded.as_deref(),
        Some(meta.sheet_code.qr_payload().as_str()),
        "page {} at {dpi} dpi",
        meta.pdf_page
    );
    let mut figures = PageFigures {
        max_offset_mm: 0.0,
        min_ring: 1.0,
        max_blank_mean: 0.0,
        max_blank_pixel: 0.0,
    };
    for b in &meta.layout.bubbles {
        let at = format!(
            "page {} q{} {} at {dpi} dpi",
            meta.pdf_page, b.question, b.choice
        );
        let (off, ring) = circle_offset_mm(img, dpi, b.x, b.y, b.r);
        assert!(off < 0.25, "{at}: circle {off:.3} mm off");
        // The circle is really there, not a blank spot.
        assert!(ring > 0.25, "{at}: ring darkness {ring}");
        // An empty bubble must not look marked: its faint letter stays light.
        let (mean, pixel) = common::inside_darkness(img, dpi, b.x, b.y, b.r - 1.0);
        assert!(
            mean < 0.10 && pixel < 0.36,
            "{at}: blank bubble mean {mean}, pixel {pixel}"
        );
        figures.max_offset_mm = figures.max_offset_mm.max(off);
        figures.min_ring = figures.min_ring.min(ring);
        figures.max_blank_mean = figures.max_blank_mean.max(mean);
        figures.max_blank_pixel = figures.max_blank_pixel.max(pixel);
    }
    figures
}

#[test]
fn a_seed_reproduces_the_codes() {
    let a = example_bundle();
    let b = example_bundle();
    let codes =
        |x: &RenderedBundle| -> Vec<_> { x.manifest.pages.iter().map(|p| p.sheet_code).collect() };
    assert_eq!(codes(&a), codes(&b));
    let mut unique = codes(&a);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 40);
}
