//! The typeset booklets, read back from the real PDF with poppler (pdftotext, pdffonts,
//! pdfimages, pdfinfo).

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use model::Exam;
use model::layout::booklet_frame;
use typeset::{Typeset, typeset};

mod common;
use common::{exam, files, marker, option_marker};

/// The 30-question booklets, typeset once for all the tests, and written to a file.
fn booklets() -> &'static (Exam, Typeset, tempfile::TempPath) {
    static ONCE: OnceLock<(Exam, Typeset, tempfile::TempPath)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let exam = exam();
        let typeset = typeset(&exam, &files()).expect("typeset");
        let path = write_pdf(&typeset.pdf);
        (exam, typeset, path)
    })
}

fn write_pdf(pdf: &[u8]) -> tempfile::TempPath {
    let mut file = tempfile::Builder::new()
        .suffix(".pdf")
        .tempfile()
        .expect("temp file");
    file.write_all(pdf).expect("write");
    file.into_temp_path()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (poppler-utils) runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of 0-based pages `pages` of the PDF in reading order: column after column of
/// the body (poppler reads two-column pages across the columns).
fn text_by_column(pdf: &Path, pages: std::ops::Range<u32>, paper: model::Paper) -> String {
    let body = booklet_frame(paper).body;
    let path = pdf.to_str().expect("utf-8 path");
    let mut out = String::new();
    for page in pages {
        let n = (page + 1).to_string();
        for column in 0..2 {
            let x = (body.x + column as f32 * body.width / 2.0)
                .floor()
                .to_string();
            let w = (body.width / 2.0).ceil().to_string();
            out.push_str(&run(
                "pdftotext",
                &[
                    "-f", &n, "-l", &n, "-x", &x, "-y", "0", "-W", &w, "-H", "2000", path, "-",
                ],
            ));
        }
    }
    out
}

/// The text of 0-based pages `pages` of the PDF.
fn text(pdf: &Path, pages: std::ops::Range<u32>) -> String {
    let first = (pages.start + 1).to_string();
    let last = pages.end.to_string();
    let path = pdf.to_str().expect("utf-8 path");
    run("pdftotext", &["-f", &first, "-l", &last, path, "-"])
}

fn page_count(pdf: &Path) -> u32 {
    let info = run("pdfinfo", &[pdf.to_str().expect("utf-8 path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Pages: in pdfinfo")
}

#[test]
fn every_version_has_its_pages_one_after_the_other() {
    let (exam, typeset, pdf) = booklets();
    let total = page_count(pdf);
    assert_eq!(typeset.versions.len(), 2);
    let names: Vec<&str> = typeset
        .versions
        .iter()
        .map(|v| v.version.as_str())
        .collect();
    assert_eq!(names, exam.versions);
    assert_eq!(typeset.versions[0].pages.start, 0);
    assert_eq!(
        typeset.versions[0].pages.end,
        typeset.versions[1].pages.start
    );
    assert_eq!(typeset.versions[1].pages.end, total);
    let a = typeset.versions[0].pages.len();
    let b = typeset.versions[1].pages.len();
    // 30 questions in two columns (≈ 3 pages) and the open question on a one-column page.
    assert!((3..=6).contains(&a), "{a} pages for version A");
    assert_eq!(a, b, "both versions print the same content");
    for v in &typeset.versions {
        let n = v.pages.len();
        let last = text(pdf, v.pages.end - 1..v.pages.end);
        assert!(
            last.contains(&format!("página {n} de {n}")),
            "footer of the last page of {}: {last}",
            v.version
        );
        let first = text(pdf, v.pages.start..v.pages.start + 1);
        assert!(first.contains(&format!("página 1 de {n}")), "{first}");
        assert!(first.contains(&format!("Versão {}", v.version)), "{first}");
        assert!(first.contains("Escola Estadual João Ninguém"), "{first}");
    }
    eprintln!("pages per version: {a}, total {total}");
}

#[test]
fn every_question_is_printed_in_its_version_order_with_its_choices() {
    let (exam, typeset, pdf) = booklets();
    let mut orders = Vec::new();
    for v in &typeset.versions {
        let text = text_by_column(pdf, v.pages.clone(), exam.paper);
        let plan = exam.version_plan(&v.version);
        let mut last = 0;
        for (n, printed) in plan.questions.iter().enumerate() {
            let at = text
                .find(&marker(printed.source))
                .unwrap_or_else(|| panic!("question {} of {} in the text", n + 1, v.version));
            assert!(
                at >= last,
                "{}: question {} ({}) printed out of order",
                v.version,
                n + 1,
                marker(printed.source)
            );
            last = at;
            // The choices in the version's order of choices.
            let mut last_option = at;
            for &choice in &printed.choices {
                let m = option_marker(printed.source, usize::from(choice));
                let o = text
                    .find(&m)
                    .unwrap_or_else(|| panic!("option {m} in the text"));
                assert!(o > last_option, "{}: option {m} out of order", v.version);
                last_option = o;
            }
        }
        assert!(text.contains("qqab"), "the open question");
        assert!(
            text.contains("ações") && text.contains("coração"),
            "accents"
        );
        orders.push(plan);
    }
    assert_ne!(
        orders[0], orders[1],
        "the versions are shuffled differently"
    );
}

#[test]
fn fonts_are_subset_and_the_jpeg_is_passed_through() {
    let (_, _, pdf) = booklets();
    let path = pdf.to_str().expect("utf-8 path");
    let fonts = run("pdffonts", &[path]);
    let names: Vec<&str> = fonts
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.len() >= 3, "text, bold, math fonts: {fonts}");
    for name in &names {
        let tag = name.split('+').next().unwrap_or("");
        assert!(
            name.contains('+') && tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()),
            "font {name} is not a subset: {fonts}"
        );
    }
    let images = run("pdfimages", &["-list", path]);
    assert!(
        images.lines().any(|l| l.contains(" jpeg ")),
        "a DCTDecode image: {images}"
    );
    assert!(
        images
            .lines()
            .skip(2)
            .filter(|l| !l.contains(" smask "))
            .count()
            >= 2,
        "the PNG and the JPEG: {images}"
    );
}

#[test]
fn open_boxes_are_located_inside_the_body_of_their_version() {
    let (exam, typeset, _) = booklets();
    let body = booklet_frame(exam.paper).body;
    for v in &typeset.versions {
        assert_eq!(v.open_boxes.len(), 1, "{v:?}");
        let (page, index, rect) = v.open_boxes[0];
        assert_eq!(index, 0);
        assert!(v.pages.contains(&page));
        assert_eq!(
            page,
            v.pages.end - 1,
            "the open question is on the last page"
        );
        assert!(
            rect.x >= body.x - 0.5 && rect.y >= body.y - 0.5,
            "{rect:?} in {body:?}"
        );
        assert!(rect.x + rect.width <= body.x + body.width + 0.5, "{rect:?}");
        assert!(
            rect.y + rect.height <= body.y + body.height + 0.5,
            "{rect:?}"
        );
        // 12 lines of about 8 mm.
        assert!(
            (12.0 * 20.0..=12.0 * 23.0).contains(&rect.height),
            "{rect:?}"
        );
        assert!(rect.width > body.width * 0.9, "a full-width box: {rect:?}");
    }
}

fn one_question(statement: &str, options: serde_json::Value) -> Exam {
    Exam::from_json(
        &serde_json::json!({
            "title": "T", "questions": [{"key": "A", "choices": 2, "statement": statement, "options": options}],
        })
        .to_string(),
    )
    .expect("valid")
}

#[test]
fn markup_in_the_text_is_printed_literally() {
    let statement = r"#set page(width: 1pt) [colchetes] custo R$ 5,00 e um $ solto, \ barra, `crase`, <script>alert(1)</script> @x = y -- z * w _a_ #(1+1) $$ fim";
    let exam = one_question(statement, serde_json::json!(["]#\"aspas\"", "<b>@ref</b>"]));
    let out = typeset(&exam, &typeset::NoFigures).expect("typeset");
    let pdf = write_pdf(&out.pdf);
    let text = text(&pdf, out.versions[0].pages.clone());
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for piece in [
        "#set page(width: 1pt)",
        "[colchetes]",
        "R$ 5,00",
        "um $ solto",
        r"\ barra",
        "`crase`",
        "<script>alert(1)</script>",
        "@x = y -- z * w _a_ #(1+1) $$ fim",
        "]#\"aspas\"",
        "<b>@ref</b>",
    ] {
        assert!(flat.contains(piece), "{piece:?} not in {flat:?}");
    }
}

#[test]
fn latex_that_does_not_convert_is_printed_as_typed() {
    let exam = one_question(
        r"Seja $\naoexiste{x} + 1$ e $y^2$.",
        serde_json::json!(["sim", "não"]),
    );
    let out = typeset(&exam, &typeset::NoFigures).expect("typeset despite the formula");
    let pdf = write_pdf(&out.pdf);
    let text = text(&pdf, out.versions[0].pages.clone());
    assert!(text.contains(r"\naoexiste{x} + 1"), "{text}");
}

#[test]
fn an_answer_sheet_only_exam_has_no_booklet() {
    let exam =
        Exam::from_json(r#"{"title":"T","questions":[{"key":"A"},{"key":"B"}]}"#).expect("valid");
    let out = typeset(&exam, &typeset::NoFigures).expect("typeset");
    assert!(out.pdf.is_empty());
    assert!(out.versions.is_empty());
}

#[test]
fn a_missing_figure_is_named() {
    let exam = Exam::from_json(
        r#"{"title":"T","questions":[{"key":"A","statement":"x","figures":[{"path":"nada.png"}]}]}"#,
    )
    .expect("valid");
    let err = typeset(&exam, &typeset::NoFigures).expect_err("missing");
    assert_eq!(
        err.to_string(),
        "questions[0].figures[0]: the figure \"nada.png\" was not supplied"
    );
}
