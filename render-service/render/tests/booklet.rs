//! Issue 12's bundle writer: per student the booklet (each typeset page written once per file
//! as a Form XObject, plus the student's overlay and its own code), then the answer sheet;
//! students by class then name, duplex padding, one PDF per class when asked; malformed
//! typeset input refused with a typed error; answer-sheet-only exams as before.

mod common;
#[path = "common/typeset.rs"]
mod typeset;

use std::collections::HashSet;
use std::path::Path;

use common::{decode_qr, pdfinfo_pages, pdftotext_pages, rasterise};
use model::layout::booklet_frame;
use model::{Exam, PageKind, Student};
use rand::SeedableRng;
use render::{
    BundleOptions, ImportError, RenderError, RenderedFiles, Split, StudentOrder, TypesetBooklets,
    render_bundle_files,
};
use typeset::{synthetic_typeset, with_object_streams};

fn booklet_exam() -> Exam {
    Exam::from_json(
        r#"{"title":"Simulado","school":"Escola","versions":["A","B"],
            "questions":[
              {"key":"A","statement":"Quanto é 2+2?","options":["1","4","3","5","6"]},
              {"key":"B","statement":"Capital do Brasil?"},
              {"key":"C"}],
            "open_questions":[{"statement":"Explique a fotossíntese.","lines":8}]}"#,
    )
    .expect("valid exam")
}

fn roster() -> Vec<Student> {
    let s = |id: &str, name: &str, class: &str| Student {
        student_id: id.into(),
        name: name.into(),
        class: class.into(),
    };
    vec![
        s("1", "Zeca Souza", "3B"),
        s("2", "Bruno Lima", "3A"),
        s("3", "Ágata Reis", "3B"),
        s("4", "Álvaro Dias", "3A"),
        s("5", "carla Nunes", "3A"),
    ]
}

fn render(typeset: &TypesetBooklets, options: BundleOptions<'_>) -> RenderedFiles {
    let exam = booklet_exam();
    render_bundle_files(
        &exam,
        Some(&roster()),
        1,
        &BundleOptions {
            booklets: Some(typeset),
            ..options
        },
        &mut rand::rngs::StdRng::seed_from_u64(12),
    )
    .expect("renders")
}

fn write(dir: &Path, files: &RenderedFiles) {
    for (name, bytes) in &files.files {
        std::fs::write(dir.join(name), bytes).expect("write");
    }
}

/// Checks the one-file bundle of `typeset` end to end: pages, order, padding, text, QR codes,
/// each typeset page and the shared font written once.
fn check_bundle(typeset: &TypesetBooklets) {
    let bundle = render(typeset, BundleOptions::default());
    assert_eq!(bundle.files.len(), 1);
    assert_eq!(bundle.files[0].0, "bundle.pdf");
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &bundle);
    let pdf = dir.path().join("bundle.pdf");
    // GABARITO_BOOKLET_OUT=FILE keeps the PDF, to look at.
    if let Some(keep) = std::env::var_os("GABARITO_BOOKLET_OUT") {
        std::fs::copy(&pdf, keep).expect("copy");
    }

    // 4 booklet pages + 1 sheet page = 5, padded to 6 for duplex: 5 students, 30 PDF pages;
    // the blank pages carry no code and are not listed.
    assert_eq!(pdfinfo_pages(&pdf), 30);
    let pages = &bundle.manifest.pages;
    assert_eq!(pages.len(), 25);
    let names: Vec<&str> = pages
        .iter()
        .filter(|p| p.kind == PageKind::Sheet)
        .map(|p| p.student_name.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "Álvaro Dias",
            "Bruno Lima",
            "carla Nunes",
            "Ágata Reis",
            "Zeca Souza"
        ]
    );
    for (s, student) in pages.chunks(5).enumerate() {
        let first = 6 * s as u32 + 1;
        let version = if s % 2 == 0 { "A" } else { "B" };
        for (k, p) in student.iter().enumerate() {
            assert_eq!(p.pdf_page, first + k as u32, "{p:?}");
            assert_eq!(p.version, version);
            assert_eq!(p.pdf_file, None);
            if k < 4 {
                assert_eq!(p.kind, PageKind::Booklet);
                assert_eq!(p.booklet_page, Some(k as u32 + 1));
                assert_eq!(p.answer_boxes.len(), usize::from(k == 3));
                assert!(p.layout.bubbles.is_empty());
            } else {
                assert_eq!(p.kind, PageKind::Sheet);
                assert_eq!(p.booklet_page, None);
                assert!(!p.layout.bubbles.is_empty());
            }
        }
    }
    let codes: HashSet<_> = pages.iter().map(|p| p.sheet_code).collect();
    assert_eq!(codes.len(), pages.len(), "every page its own code");

    // Text: the typeset page under the student's personal band and printed id.
    let text = pdftotext_pages(&pdf);
    let first = &text[0];
    assert!(first.contains("Prova versao A - pagina 1 de 4"), "{first}");
    assert!(first.contains("Álvaro Dias"), "{first}");
    assert!(first.contains(&pages[0].sheet_code.printed()), "{first}");
    let second_student = &text[6 + 2];
    assert!(
        second_student.contains("Prova versao B - pagina 3 de 4"),
        "{second_student}"
    );
    assert!(second_student.contains("Bruno Lima"), "{second_student}");
    assert!(text[5].trim().is_empty(), "padding page: {:?}", text[5]);

    // Each QR decodes to the page's own code, booklet pages as sheets.
    let frame = booklet_frame(booklet_exam().paper);
    let images = rasterise(&pdf, 150, dir.path());
    for i in [0usize, 3, 4] {
        let code = decode_qr(&images[i], &frame.frame.qr, 150).expect("QR decodes");
        assert_eq!(code, pages[i].sheet_code.qr_payload(), "page {}", i + 1);
    }

    // Shared objects once: the 8 typeset pages are 8 forms, the font program one stream.
    let doc = lopdf::Document::load_mem(&bundle.files[0].1).expect("lopdf reads the bundle");
    // The typeset font's program (the whole face, unlike the bundle's own subsets).
    let whole_face = include_bytes!("../fonts/DejaVuSans.ttf").len() as i64;
    let programs = doc
        .objects
        .values()
        .filter(|o| {
            o.as_stream().is_ok_and(|s| {
                s.dict
                    .get(b"Length1")
                    .and_then(|n| n.as_i64())
                    .is_ok_and(|n| n == whole_face)
            })
        })
        .count();
    assert_eq!(programs, 1, "one copy of the typeset font");
    let forms = doc
        .objects
        .values()
        .filter(|o| {
            o.as_stream().is_ok_and(|s| {
                s.dict
                    .get(b"Subtype")
                    .and_then(|n| n.as_name())
                    .is_ok_and(|n| n == b"Form")
            })
        })
        .count();
    assert_eq!(forms, 8 + 1, "8 typeset pages and 1 sheet artwork");
}

#[test]
fn booklets_print_before_each_sheet_in_class_then_name_order_with_duplex_padding() {
    check_bundle(&synthetic_typeset(&booklet_exam(), 4, true));
}

#[test]
fn a_typeset_pdf_with_object_streams_imports_the_same() {
    let plain = synthetic_typeset(&booklet_exam(), 4, true);
    let Some(pdf) = with_object_streams(&plain.pdf) else {
        eprintln!("qpdf not installed: object streams not tested");
        return;
    };
    assert!(
        pdf.windows(b"/ObjStm".len()).any(|w| w == b"/ObjStm"),
        "qpdf wrote object streams"
    );
    check_bundle(&TypesetBooklets { pdf, ..plain });
}

#[test]
fn one_pdf_per_class_names_its_file_on_every_page() {
    let typeset = synthetic_typeset(&booklet_exam(), 4, true);
    let bundle = render(
        &typeset,
        BundleOptions {
            split: Split::Class,
            order: Some(StudentOrder::ClassThenName),
            ..BundleOptions::default()
        },
    );
    let names: Vec<&str> = bundle.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["bundle-3A.pdf", "bundle-3B.pdf"]);
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), &bundle);
    assert_eq!(pdfinfo_pages(&dir.path().join("bundle-3A.pdf")), 18);
    assert_eq!(pdfinfo_pages(&dir.path().join("bundle-3B.pdf")), 12);
    for p in &bundle.manifest.pages {
        let class = p.class.as_deref().unwrap_or_default();
        assert_eq!(
            p.pdf_file.as_deref(),
            Some(format!("bundle-{class}.pdf").as_str())
        );
    }
    let b = &bundle.manifest.pages[15];
    assert_eq!((b.class.as_deref(), b.pdf_page), (Some("3B"), 1));
    // The manifest round-trips with the files named.
    let json = serde_json::to_string(&bundle.manifest).expect("json");
    let back: model::Bundle = serde_json::from_str(&json).expect("reads");
    assert_eq!(back, bundle.manifest);
}

#[test]
fn roster_order_is_kept_when_asked() {
    let typeset = synthetic_typeset(&booklet_exam(), 3, false);
    let bundle = render(
        &typeset,
        BundleOptions {
            order: Some(StudentOrder::Roster),
            ..BundleOptions::default()
        },
    );
    let ids: Vec<&str> = bundle
        .manifest
        .pages
        .iter()
        .filter(|p| p.kind == PageKind::Sheet)
        .map(|p| p.student_id.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    // 3 + 1 pages: even, no padding.
    assert_eq!(bundle.manifest.pages.last().map(|p| p.pdf_page), Some(20));
}

fn refused(typeset: &TypesetBooklets) -> ImportError {
    let exam = booklet_exam();
    match render_bundle_files(
        &exam,
        Some(&roster()),
        1,
        &BundleOptions {
            booklets: Some(typeset),
            ..BundleOptions::default()
        },
        &mut rand::rng(),
    ) {
        Err(RenderError::Import(e)) => e,
        other => panic!("not refused as an import error: {:?}", other.map(|_| ())),
    }
}

#[test]
fn malformed_typeset_input_is_refused_with_a_typed_error() {
    let good = synthetic_typeset(&booklet_exam(), 2, false);
    let garbage = TypesetBooklets {
        pdf: b"%PDF-1.7\nthis is not a pdf".to_vec(),
        ..good.clone()
    };
    assert!(matches!(refused(&garbage), ImportError::Parse(_)));

    let mut missing = good.clone();
    missing.versions.pop();
    assert!(matches!(refused(&missing), ImportError::MissingVersion(v) if v == "B"));

    let mut beyond = good.clone();
    beyond.versions[1].pages = 3..9;
    assert!(matches!(refused(&beyond), ImportError::PageRange { .. }));

    let mut letter = booklet_exam();
    letter.paper = model::Paper::Letter;
    let wrong_paper = synthetic_typeset(&letter, 2, false);
    assert!(matches!(
        refused(&wrong_paper),
        ImportError::PageSize { .. }
    ));
}

#[test]
fn an_exam_without_booklet_content_renders_as_before() {
    let exam = Exam::from_json(r#"{"title":"T","versions":["A","B"],"questions":[{"key":"A"}]}"#)
        .expect("exam");
    let typeset = synthetic_typeset(&booklet_exam(), 2, false);
    let with = render_bundle_files(
        &exam,
        Some(&roster()),
        1,
        &BundleOptions {
            booklets: Some(&typeset),
            ..BundleOptions::default()
        },
        &mut rand::rngs::StdRng::seed_from_u64(5),
    )
    .expect("renders");
    let before = render::render_bundle_seeded(&exam, Some(&roster()), 1, 5).expect("renders");
    assert_eq!(with.manifest, before.manifest);
    assert_eq!(with.files.len(), 1);
    assert_eq!(with.files[0].1.len(), before.pdf.len());
    let ids: Vec<_> = before
        .manifest
        .pages
        .iter()
        .map(|p| p.student_id.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "3", "4", "5"],
        "roster order, as before booklets"
    );
}
