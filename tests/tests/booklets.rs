//! Issue 12's acceptance on the bundle itself, through the command lines a school runs: the
//! 30-question, 2-version sample exam (accents, bold and italic, a list, a PNG, a JPEG by path,
//! an SVG, LaTeX-style math, an open question) rendered by `render-service render` for 40
//! students has the right number of pages, every booklet prints its version's order of
//! questions and choices, its fonts are subset; and a version-B answer sheet filled with B's
//! key, scanned and graded by `grader grade`, scores full marks, while one filled with A's key
//! does not.

use std::path::Path;
use std::process::Command;

use gabarito_tests::degrade::{Degradation, degrade, encode_jpeg};
use gabarito_tests::e2e::{Db, exam_id, parse_results_csv, run, text};
use gabarito_tests::fixture::RenderedFixture;
use gabarito_tests::pen::{FillStyle, MarkSpec, Tool, draw_mark};
use gabarito_tests::rasterize::{px_per_pt, rasterize_pages};
use model::PageKind;
use rand::SeedableRng;

// The typesetter's own sample exam, so that both crates test one exam.
#[path = "../../render-service/typeset/tests/common/mod.rs"]
#[allow(dead_code)]
mod sample;

const STUDENTS: usize = 40;
const DPI: u32 = 150;

/// Writes the sample exam (and its JPEG, by path beside it) and a 40-student roster into
/// `work`, renders them with the command line, and loads the manifest.
fn render_sample(work: &Path, db: &Db) -> RenderedFixture {
    let exam = sample::exam();
    let json = serde_json::to_string_pretty(&exam).expect("exam serialises");
    std::fs::write(work.join("exam.json"), json).expect("exam.json");
    std::fs::write(work.join("foto.jpg"), sample::jpeg()).expect("foto.jpg");
    let mut csv = String::from("student_id,name,class\n");
    for i in 0..STUDENTS {
        let class = if i % 2 == 0 { "3º A" } else { "3º B" };
        csv.push_str(&format!(
            "{:04},Estudante Número {i:02} Conceição,{class}\n",
            1000 + i
        ));
    }
    std::fs::write(work.join("roster.csv"), csv).expect("roster");
    let mut args: Vec<String> = [
        "render",
        "exam.json",
        "--roster",
        "roster.csv",
        "--out",
        "bundle",
    ]
    .map(String::from)
    .to_vec();
    args.extend(db.args());
    let out = run(work, "render-service", &args);
    assert!(out.status.success(), "render failed: {}", text(&out.stderr));
    RenderedFixture::load(&work.join("bundle")).expect("bundle.json")
}

fn tool_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (install poppler-utils): {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The text of PDF pages `first..=last`, as `pdftotext` extracts it in reading order.
fn page_text(pdf: &Path, first: u32, last: u32) -> String {
    let (f, l) = (first.to_string(), last.to_string());
    let pdf = pdf.to_str().expect("utf-8 path");
    tool_output("pdftotext", &["-f", &f, "-l", &l, pdf, "-"])
}

/// The body text of PDF pages `pages`, column after column (poppler reads a two-column page
/// across the columns, line by line).
fn text_by_column(pdf: &Path, pages: &[u32], paper: model::Paper) -> String {
    let body = model::layout::booklet_frame(paper).body;
    let path = pdf.to_str().expect("utf-8 path");
    let mut out = String::new();
    for page in pages {
        let n = page.to_string();
        for column in 0..2 {
            let x = (body.x + column as f32 * body.width / 2.0)
                .floor()
                .to_string();
            let w = (body.width / 2.0).ceil().to_string();
            let args = [
                "-f", &n, "-l", &n, "-x", &x, "-y", "0", "-W", &w, "-H", "2000", path, "-",
            ];
            out.push_str(&tool_output("pdftotext", &args));
        }
    }
    out
}

#[test]
fn a_forty_student_two_version_booklet_bundle_prints_each_version_in_its_order() {
    let work = tempfile::tempdir().expect("work dir");
    let db = Db::default_sqlite(work.path());
    let fx = render_sample(work.path(), &db);
    let exam = &fx.bundle.exam;
    let pdf = fx.pdf_path();

    // Per student: the booklet, the answer sheet, and a blank page when that makes an odd count.
    let pages = &fx.bundle.pages;
    let students: std::collections::BTreeSet<&str> = pages
        .iter()
        .filter_map(|p| p.student_id.as_deref())
        .collect();
    assert_eq!(students.len(), STUDENTS);
    let mut expected = 0;
    for student in &students {
        let own = pages
            .iter()
            .filter(|p| p.student_id.as_deref() == Some(*student));
        let n = own.count() as u32;
        expected += n + n % 2;
    }
    let info = tool_output("pdfinfo", &[pdf.to_str().expect("utf-8 path")]);
    let printed: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints Pages");
    assert_eq!(printed, expected, "{info}");
    assert!(
        printed > STUDENTS as u32 * 3,
        "booklets of several pages: {printed}"
    );

    // Each version's booklet, for its first student, lists the questions and their choices in
    // that version's order, and carries the student's name.
    for version in &exam.versions {
        let booklet: Vec<_> = pages
            .iter()
            .filter(|p| p.kind == PageKind::Booklet && &p.version == version)
            .collect();
        let student = booklet[0].student_id.clone();
        let own: Vec<u32> = booklet
            .iter()
            .filter(|p| p.student_id == student)
            .map(|p| p.pdf_page)
            .collect();
        let (first, last) = (own[0], own[own.len() - 1]);
        let whole = page_text(&pdf, first, last);
        let body = text_by_column(&pdf, &own, exam.paper);
        let plan = exam.version_plan(version);
        let mut at = 0;
        for printed in &plan.questions {
            let q = sample::marker(printed.source);
            let found = body[at..]
                .find(&q)
                .unwrap_or_else(|| panic!("version {version}: {q} not after byte {at} of\n{body}"));
            at += found;
            for &c in &printed.choices {
                let o = sample::option_marker(printed.source, usize::from(c));
                let found = body[at..]
                    .find(&o)
                    .unwrap_or_else(|| panic!("version {version}: {o} not in order after {q}"));
                at += found;
            }
        }
        let name = booklet[0].student_name.as_deref().expect("a roster name");
        assert!(
            whole.contains(name),
            "version {version}: no {name:?} on its booklet"
        );
        assert!(body.contains("coração, lâmpada"), "accents survive");
    }

    // Every font in the bundle is embedded as a subset (one copy per bundle, not per page).
    let fonts = tool_output("pdffonts", &[pdf.to_str().expect("utf-8 path")]);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in &rows {
        let name = row.split_whitespace().next().unwrap_or_default();
        assert!(
            name.len() > 7 && name.as_bytes()[6] == b'+',
            "not a subset font: {row}\n{fonts}"
        );
    }
    let names: std::collections::HashSet<&str> = rows
        .iter()
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    assert!(
        rows.len() < 12,
        "fonts are written once per bundle, not per student: {} rows, {} distinct\n{fonts}",
        rows.len(),
        names.len()
    );
}

/// Fills `page`'s bubbles with a pen at the choices `key(i)` of printed question `i`, scans it
/// at a slight skew and returns the JPEG.
fn filled_scan(
    fx: &RenderedFixture,
    page: &model::bundle::BundlePage,
    key: impl Fn(usize) -> Vec<u8>,
    seed: u64,
) -> Vec<u8> {
    let mut img = rasterize_pages(&fx.pdf_path(), DPI, page.pdf_page, page.pdf_page)
        .expect("pdftoppm")
        .pop()
        .expect("one page");
    let s = px_per_pt(DPI);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let questions = page
        .layout
        .bubbles
        .iter()
        .map(|b| b.question)
        .max()
        .unwrap_or(0);
    for q in 1..=questions {
        let bubbles: Vec<_> = page
            .layout
            .bubbles
            .iter()
            .filter(|b| b.question == q)
            .collect();
        for c in key(q as usize - 1) {
            let b = bubbles[usize::from(c)];
            let spec = MarkSpec {
                style: FillStyle::PenFull,
                tool: Tool::Pen,
            };
            draw_mark(
                &mut img,
                b.x * s,
                b.y * s,
                b.r * s,
                DPI as f32 / 25.4,
                spec,
                &mut rng,
            );
        }
    }
    let mut d = Degradation::none(85);
    d.geometry.rotation_deg = 0.8;
    d.noise_sigma = 2.0;
    d.seed = seed;
    let (scan, _) = degrade(&img, &d).expect("degrades");
    encode_jpeg(&scan, d.jpeg_quality).expect("encodes")
}

#[test]
fn version_b_sheets_score_full_marks_with_b_key_and_not_with_a_key() {
    let work = tempfile::tempdir().expect("work dir");
    let db = Db::default_sqlite(work.path());
    let fx = render_sample(work.path(), &db);
    let exam = &fx.bundle.exam;
    let sheets: Vec<_> = fx
        .bundle
        .pages
        .iter()
        .filter(|p| p.kind == PageKind::Sheet && p.version == "B")
        .collect();
    let (right, wrong) = (sheets[0], sheets[1]);
    let a_plan = exam.version_plan("A");
    let b_plan = exam.version_plan("B");
    assert_ne!(a_plan, b_plan, "the versions are shuffled");
    let key_of = |v: &str, i: usize| exam.key_for(v, i).expect("a key");
    let scans = work.path().join("scans");
    std::fs::create_dir_all(&scans).expect("scans dir");
    std::fs::write(
        scans.join("b-key.jpg"),
        filled_scan(&fx, right, |i| key_of("B", i), 1),
    )
    .expect("scan");
    std::fs::write(
        scans.join("a-key.jpg"),
        filled_scan(&fx, wrong, |i| key_of("A", i), 2),
    )
    .expect("scan");

    let mut args: Vec<String> = ["grade", "scans/b-key.jpg", "scans/a-key.jpg"]
        .map(String::from)
        .to_vec();
    args.extend(db.args());
    let out = run(work.path(), "grader", &args);
    assert!(out.status.success(), "grade failed: {}", text(&out.stderr));

    let mut args: Vec<String> = vec!["results".into(), exam_id(&fx), "--csv".into()];
    args.extend(db.args());
    let out = run(work.path(), "grader", &args);
    assert!(
        out.status.success(),
        "results failed: {}",
        text(&out.stderr)
    );
    let results = parse_results_csv(&out.stdout);
    let id = |p: &model::bundle::BundlePage| p.student_id.clone().expect("a roster sheet");
    let (score, max) = results[&id(right)];
    assert!(
        max > 0.0 && score == max,
        "B's key on a B sheet: {score} of {max}"
    );
    let (score, max) = results[&id(wrong)];
    let agree = (0..exam.questions.len())
        .filter(|&i| key_of("A", i) == key_of("B", i))
        .count();
    assert!(
        agree < exam.questions.len() / 2,
        "A's and B's keys differ at most printed positions ({agree} agree)"
    );
    assert!(score < max, "A's key on a B sheet: {score} of {max}");
}
