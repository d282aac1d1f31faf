//! Sheets other than the example: English labels on Letter paper, true/false and 10-choice
//! questions, three versions, more questions than one page holds — with a roster and
//! anonymous. The PDF's structure keeps its promises (one shared form per sheet page layout,
//! one `Do` per page) and what is printed matches the manifest.

mod common;

use common::{circle_offset_mm, decode_qr, pdfinfo_pages, pdftotext_pages, rasterise};
use model::{Exam, Student};
use render::{RenderError, render_bundle_seeded};

fn mixed_exam() -> Exam {
    let questions: Vec<String> = (0..230)
        .map(|i| match i % 3 {
            0 => r#"{"choices":"true-false","key":"T"}"#.to_string(),
            1 => r#"{"choices":10,"key":"J"}"#.to_string(),
            _ => r#"{"choices":4,"key":["A","B"]}"#.to_string(),
        })
        .collect();
    Exam::from_json(&format!(
        r#"{{"title":"Mock exam","school":"Lincoln High School","subject":"Physics",
            "date":"2026-12-01","paper":"Letter","language":"en",
            "versions":["Yellow","Blue","Pink"],"questions":[{}],"student_number_digits":12}}"#,
        questions.join(",")
    ))
    .expect("valid exam")
}

fn students() -> Vec<Student> {
    [
        (
            "S1",
            "Bartholomew Maximilian Featherstonehaugh-Worthington III",
            "Grade 11 AP",
        ),
        ("S2", "Zoë Ångström", "11B"),
        ("S3", "Nguyễn Thị Minh Khai", "11C"),
        ("S4", "Ana", "11A"),
    ]
    .into_iter()
    .map(|(id, name, class)| Student {
        student_id: id.into(),
        name: name.into(),
        class: class.into(),
    })
    .collect()
}

/// Names of the XObjects each page draws, and how many Form XObjects the file holds.
fn structure(pdf: &[u8]) -> (Vec<usize>, usize) {
    let doc = lopdf::Document::load_mem(pdf).expect("lopdf parses the bundle");
    let forms = doc
        .objects
        .values()
        .filter(|o| {
            o.as_stream()
                .ok()
                .and_then(|s| s.dict.get(b"Subtype").ok())
                .and_then(|n| n.as_name().ok())
                == Some(b"Form".as_slice())
        })
        .count();
    let dos = doc
        .get_pages()
        .values()
        .map(|&id| {
            let content = doc.get_page_content(id);
            lopdf::content::Content::decode(&content)
                .expect("content decodes")
                .operations
                .iter()
                .filter(|op| op.operator == "Do")
                .count()
        })
        .collect();
    (dos, forms)
}

#[test]
fn roster_sheets_on_letter_in_english_over_two_pages() {
    let exam = mixed_exam();
    let roster = students();
    let bundle = render_bundle_seeded(&exam, Some(&roster), 1, 7).expect("renders");
    let pages = &bundle.manifest.pages;
    let sheet_pages = pages[0].sheet_pages as usize;
    assert!(
        sheet_pages >= 2,
        "230 questions should need more than one page"
    );
    assert_eq!(pages.len(), roster.len() * sheet_pages);
    for (i, p) in pages.iter().enumerate() {
        let sheet = i / sheet_pages;
        assert_eq!(
            p.student_id.as_deref(),
            Some(roster[sheet].student_id.as_str())
        );
        assert_eq!(p.version, exam.versions[sheet % 3]);
        assert_eq!(p.sheet_page as usize, i % sheet_pages + 1);
        assert_eq!(
            (p.layout.paper.width, p.layout.paper.height),
            (612.0, 792.0)
        );
    }
    let questions: usize = pages[..sheet_pages]
        .iter()
        .map(|p| p.layout.question_labels.len())
        .sum();
    assert_eq!(questions, 230);
    let (dos, forms) = structure(&bundle.pdf);
    assert_eq!(forms, sheet_pages, "one shared form per sheet page layout");
    assert!(dos.iter().all(|&n| n == 1), "one Do per page: {dos:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = dir.path().join("bundle.pdf");
    std::fs::write(&pdf, &bundle.pdf).expect("write");
    assert_eq!(pdfinfo_pages(&pdf), pages.len());
    let texts = pdftotext_pages(&pdf);
    for (p, text) in pages.iter().zip(&texts) {
        assert!(
            text.contains(&p.sheet_code.printed()),
            "page {}",
            p.pdf_page
        );
        assert!(text.contains(&p.version), "page {}", p.pdf_page);
    }
    // Short names print whole; a name too long for its box is cut with an ellipsis.
    assert!(texts[sheet_pages].contains("Zoë Ångström"));
    assert!(texts[2 * sheet_pages].contains("Nguyễn Thị Minh Khai"));
    assert!(texts[0].contains("Bartholomew"));

    let images = rasterise(&pdf, 150, dir.path());
    for (img, p) in images.iter().zip(pages) {
        assert_eq!(
            decode_qr(img, &p.layout.qr, 150).as_deref(),
            Some(p.sheet_code.qr_payload().as_str())
        );
        for b in &p.layout.bubbles {
            let (off, ring) = circle_offset_mm(img, 150, b.x, b.y, b.r);
            assert!(
                off < 0.25 && ring > 0.25,
                "page {} q{} {}: {off} mm, ring {ring}",
                p.pdf_page,
                b.question,
                b.choice
            );
        }
        assert!(
            p.layout
                .bubbles
                .iter()
                .all(|b| ["T", "F"].contains(&b.choice.as_str()) || b.choice.len() == 1)
        );
    }
}

#[test]
fn anonymous_sheets_have_a_student_number_grid_on_their_first_page() {
    let exam = mixed_exam();
    let bundle = render_bundle_seeded(&exam, None, 2, 8).expect("renders");
    let pages = &bundle.manifest.pages;
    let sheet_pages = pages[0].sheet_pages as usize;
    assert_eq!(pages.len(), 2 * sheet_pages);
    for p in pages {
        assert_eq!(p.student_id, None);
        let grid = if p.sheet_page == 1 { 12 * 10 } else { 0 };
        assert_eq!(p.layout.student_number_bubbles.len(), grid);
    }
    let (dos, forms) = structure(&bundle.pdf);
    assert_eq!(forms, sheet_pages);
    assert!(dos.iter().all(|&n| n == 1));

    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = dir.path().join("bundle.pdf");
    std::fs::write(&pdf, &bundle.pdf).expect("write");
    let images = rasterise(&pdf, 150, dir.path());
    let first = &pages[0];
    for b in &first.layout.student_number_bubbles {
        let (off, ring) = circle_offset_mm(&images[0], 150, b.x, b.y, b.r);
        assert!(
            off < 0.25 && ring > 0.25,
            "digit {} value {}: {off} mm",
            b.digit,
            b.value
        );
    }
}

#[test]
fn refusals() {
    let exam = mixed_exam();
    let roster = students();
    assert!(matches!(
        render_bundle_seeded(&exam, None, 0, 1),
        Err(RenderError::NoCopies)
    ));
    assert!(matches!(
        render_bundle_seeded(&exam, Some(&roster), 2, 1),
        Err(RenderError::CopiesWithRoster)
    ));
    assert!(matches!(
        render_bundle_seeded(&exam, Some(&[]), 1, 1),
        Err(RenderError::EmptyRoster)
    ));
    let mut twice = roster.clone();
    twice[3].student_id = twice[1].student_id.clone();
    assert!(matches!(
        render_bundle_seeded(&exam, Some(&twice), 1, 1),
        Err(RenderError::Roster { index: 3, .. })
    ));
    let mut bad = exam.clone();
    bad.versions.clear();
    assert!(matches!(
        render_bundle_seeded(&bad, None, 1, 1),
        Err(RenderError::Exam(e)) if e.path == "versions"
    ));
}

#[test]
fn texts_at_their_length_limit_render_quickly_and_longer_ones_are_refused() {
    use model::exam::{MAX_SCHOOL_CHARS, MAX_SUBJECT_CHARS, MAX_TITLE_CHARS};
    use model::roster::{MAX_CLASS_CHARS, MAX_NAME_CHARS, MAX_STUDENT_ID_CHARS};
    let mut exam = mixed_exam();
    exam.title = "Simulado de Matemática ".repeat(20)[..MAX_TITLE_CHARS].to_string();
    exam.school = "W".repeat(MAX_SCHOOL_CHARS);
    exam.subject = "Física "
        .repeat(30)
        .chars()
        .take(MAX_SUBJECT_CHARS)
        .collect();
    let student = Student {
        student_id: "9".repeat(MAX_STUDENT_ID_CHARS),
        name: "Maria Conceição Gonçalves "
            .repeat(10)
            .chars()
            .take(MAX_NAME_CHARS)
            .collect(),
        class: "Ç".repeat(MAX_CLASS_CHARS),
    };
    let start = std::time::Instant::now();
    let bundle = render_bundle_seeded(&exam, Some(std::slice::from_ref(&student)), 1, 7)
        .expect("texts at their limit render");
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs_f32() < 1.0, "{elapsed:?}");
    assert_eq!(bundle.manifest.pages.len(), 2);

    let mut long = exam.clone();
    long.title = "T".repeat(20_000);
    match render_bundle_seeded(&long, None, 1, 7) {
        Err(RenderError::Exam(e)) => {
            assert_eq!(e.to_string(), "title: 20000 characters, at most 200")
        }
        other => panic!("{:?}", other.map(|b| b.manifest.pages.len())),
    }
    let mut named = student.clone();
    named.name = "N".repeat(MAX_NAME_CHARS + 1);
    match render_bundle_seeded(&exam, Some(&[named]), 1, 7) {
        Err(e @ RenderError::Roster { index: 0, .. }) => {
            assert_eq!(
                e.to_string(),
                "roster entry 0: name: 121 characters, at most 120"
            )
        }
        other => panic!("{:?}", other.map(|b| b.manifest.pages.len())),
    }
}
