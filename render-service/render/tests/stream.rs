//! Streaming a bundle (`render_bundle_to`): the same pages and manifest as the in-memory
//! render, progress as promised, the page count known beforehand, and the writer's errors and
//! absurd sizes refused as errors.

mod common;

use std::io::{self, Write};

use model::{Exam, read_roster};
use rand::SeedableRng;
use rand::rngs::StdRng;
use render::{MAX_PAGES, RenderError, bundle_page_count, render_bundle_seeded, render_bundle_to};

fn example() -> (Exam, Vec<model::Student>) {
    let root = common::workspace();
    let exam = Exam::from_json(
        &std::fs::read_to_string(root.join("examples/simulado-1.json")).expect("exam"),
    )
    .expect("valid exam");
    let roster =
        read_roster(std::fs::File::open(root.join("examples/turma-3a.csv")).expect("roster"))
            .expect("valid roster");
    (exam, roster)
}

/// The file without its dates (the only bytes two renders with one seed may differ in).
fn without_dates(pdf: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(pdf);
    let mut out = String::new();
    for line in text.split('\n') {
        if !line.contains("CreationDate") && !line.contains("ModDate") {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

#[test]
fn streaming_writes_what_the_in_memory_render_returns_and_reports_progress() {
    let (exam, roster) = example();
    let (exam, roster) = (&exam, &roster[..]);
    let roster: Vec<_> = roster
        .iter()
        .cycle()
        .take(250)
        .cloned()
        .enumerate()
        .map(|(i, mut s)| {
            s.student_id = format!("{}-{i}", s.student_id);
            s
        })
        .collect();
    let total = bundle_page_count(exam, Some(&roster), 1).expect("counts");
    assert_eq!(total, 250);

    let mut out = Vec::new();
    let mut reports = Vec::new();
    let manifest = render_bundle_to(
        exam,
        Some(&roster),
        1,
        &mut StdRng::seed_from_u64(4),
        &mut out,
        &mut |done, of| reports.push((done, of)),
    )
    .expect("renders");
    let memory = render_bundle_seeded(exam, Some(&roster), 1, 4).expect("renders");
    assert_eq!(manifest, memory.manifest);
    assert_eq!(without_dates(&out), without_dates(&memory.pdf));
    assert_eq!(manifest.pages.len(), total as usize);

    assert_eq!(reports.first(), Some(&(0, total)));
    assert_eq!(reports.last(), Some(&(total, total)));
    assert!(reports.len() >= 3, "{reports:?}");
    assert!(
        reports
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 == total)
    );

    let lopdf = lopdf::Document::load_mem(&out).expect("lopdf parses the stream");
    assert_eq!(lopdf.get_pages().len(), total as usize);
}

#[test]
fn page_count_validates_as_rendering_does() {
    let (exam, roster) = example();
    assert_eq!(bundle_page_count(&exam, None, 7).expect("counts"), 7);
    assert_eq!(
        bundle_page_count(&exam, Some(&roster), 1).expect("counts"),
        40
    );
    assert!(matches!(
        bundle_page_count(&exam, None, 0),
        Err(RenderError::NoCopies)
    ));
    assert!(matches!(
        bundle_page_count(&exam, Some(&roster), 2),
        Err(RenderError::CopiesWithRoster)
    ));
    let mut twice = roster.clone();
    twice[3].student_id = twice[1].student_id.clone();
    assert!(matches!(
        bundle_page_count(&exam, Some(&twice), 1),
        Err(RenderError::Roster { index: 3, .. })
    ));
    let mut bad = exam.clone();
    bad.versions.clear();
    assert!(matches!(
        bundle_page_count(&bad, None, 1),
        Err(RenderError::Exam(_))
    ));
    // Refused before anything is allocated or written.
    for copies in [MAX_PAGES as usize + 1, usize::MAX] {
        assert!(matches!(
            bundle_page_count(&exam, None, copies),
            Err(RenderError::TooManyPages { .. })
        ));
        let mut out = Vec::new();
        assert!(matches!(
            render_bundle_to(
                &exam,
                None,
                copies,
                &mut rand::rng(),
                &mut out,
                &mut |_, _| {}
            ),
            Err(RenderError::TooManyPages { .. })
        ));
        assert!(out.is_empty());
    }
}

/// A destination that fails after `left` bytes.
struct Failing {
    left: usize,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "client went away",
            ));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failing_destination_is_an_io_error() {
    let (exam, roster) = example();
    for left in [0, 10, 100_000] {
        let result = render_bundle_to(
            &exam,
            Some(&roster),
            1,
            &mut rand::rng(),
            Failing { left },
            &mut |_, _| {},
        );
        assert!(
            matches!(&result, Err(RenderError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe),
            "{left}: {result:?}"
        );
    }
}
