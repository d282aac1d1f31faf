//! Booklet bundle benchmark (issue 12; a program that prints figures, not a timed test):
//! `cargo bench -p gabarito-render --bench booklet`.
//!
//! Renders `examples/simulado-1.json` (given booklet content) with a synthetic typeset PDF of
//! 4 pages per version (text in an embedded font, an image per version) for 1,000 students
//! and for 10,000 students: each student 4 booklet pages + 1 answer-sheet page (5 pages, padded
//! to 6 for duplex), streamed into a file on one thread. Each size runs alone in a child
//! process (peak RSS is per process) and prints pages per CPU-second of the rendering thread,
//! bytes per page after the first copy (the bundle's size minus a 10-student bundle's, over
//! the pages between them) and the process's peak RSS (`VmHWM`).
//!
//! Each size runs twice: with the manifest collected in memory (`render_bundle_with`, what the
//! command line does) and with each manifest page written to a file as it is printed
//! (`render_bundle_pages`), which is what keeps memory flat in the roster.
//!
//! `GABARITO_BENCH_STUDENTS=N` runs one size in this process (`GABARITO_BENCH_MANIFEST=file`
//! for the streamed manifest).

#[path = "support/measure.rs"]
mod measure;
#[path = "../tests/common/typeset.rs"]
mod typeset;

use std::time::Instant;

use measure::{peak_rss_kib, thread_cpu_seconds};
use model::{Exam, Student};
use rand::SeedableRng;
use render::{BundleOptions, render_bundle_files, render_bundle_pages, render_bundle_with};

fn main() {
    if let Some(n) = std::env::var("GABARITO_BENCH_STUDENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        run(n);
        return;
    }
    println!(
        "Booklet bundle benchmark: examples/simulado-1.json with booklets (synthetic typeset PDF, \
         4 pages per version, 2 versions); per student 4 booklet pages + 1 answer sheet"
    );
    let exe = std::env::current_exe().expect("this program");
    for manifest in ["memory", "file"] {
        for n in [1_000, 10_000] {
            let status = std::process::Command::new(&exe)
                .env("GABARITO_BENCH_STUDENTS", n.to_string())
                .env("GABARITO_BENCH_MANIFEST", manifest)
                .status()
                .expect("child runs");
            assert!(status.success(), "{n} students failed");
        }
    }
}

fn exam() -> Exam {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("workspace")
        .to_path_buf();
    let mut json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("examples/simulado-1.json")).expect("exam"),
    )
    .expect("json");
    // Booklet content makes the exam print its booklet.
    json["questions"][0]["statement"] = "Quanto é 2 + 2?".into();
    Exam::from_json(&json.to_string()).expect("valid exam")
}

fn roster(n: usize) -> Vec<Student> {
    let names = [
        "José da Silva",
        "Ana Lúcia Antônio",
        "João Brandão",
        "Maria Conceição Gonçalves",
        "Luís Fernando Araújo",
        "Íris Mendonça",
    ];
    (0..n)
        .map(|i| Student {
            student_id: format!("2026{i:05}"),
            name: format!("{} {}", names[i % names.len()], i),
            class: format!("{}º{}", 1 + i % 3, ["A", "B", "C", "D"][i / 3 % 4]),
        })
        .collect()
}

fn run(n: usize) {
    let exam = exam();
    let typeset = typeset::synthetic_typeset(&exam, 4, true);
    let students = roster(n);
    let options = BundleOptions {
        booklets: Some(&typeset),
        ..BundleOptions::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle.pdf");
    let before = peak_rss_kib();
    let (c0, w0) = (thread_cpu_seconds(), Instant::now());
    let mut file = Some(std::fs::File::create(&path).expect("output file"));
    let mut open = |_: &str| file.take().ok_or_else(|| std::io::Error::other("one file"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let streamed = std::env::var("GABARITO_BENCH_MANIFEST").is_ok_and(|m| m == "file");
    let listed = if streamed {
        use std::io::Write;
        let mut pages = std::io::BufWriter::new(
            std::fs::File::create(dir.path().join("pages.jsonl")).expect("pages file"),
        );
        let mut listed = 0;
        render_bundle_pages(
            &exam,
            Some(&students),
            1,
            &options,
            &mut rng,
            &mut open,
            &mut |_, _| {},
            &mut |page| {
                listed += 1;
                let line = serde_json::to_string(&(page.pdf_page, page.sheet_code, page.kind))
                    .expect("json");
                writeln!(pages, "{line}").expect("write");
            },
        )
        .expect("render");
        listed
    } else {
        render_bundle_with(
            &exam,
            Some(&students),
            1,
            &options,
            &mut rng,
            &mut open,
            &mut |_, _| {},
        )
        .expect("render")
        .pages
        .len()
    };
    let (cpu, wall) = (thread_cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    let peak = peak_rss_kib();
    let size = std::fs::metadata(&path).expect("written").len();
    // PDF pages, padding included: 6 a student.
    let pdf_pages = (n * 6) as f64;

    let small_n = 10;
    let small = render_bundle_files(
        &exam,
        Some(&roster(small_n)),
        1,
        &options,
        &mut rand::rngs::StdRng::seed_from_u64(1),
    )
    .expect("render");
    let per_page = (size as f64 - small.pdf_bytes() as f64) / ((n - small_n) * 6) as f64;
    let per_printed = (size as f64 - small.pdf_bytes() as f64) / ((n - small_n) * 5) as f64;
    println!(
        "{n} students, manifest {}: {pdf_pages} PDF pages ({listed} with a code, 5 a student; 1 blank duplex \
         page each), {size} bytes; {:.0} pages per CPU-second ({:.3} ms CPU, {:.3} ms wall per \
         page); {per_page:.0} bytes per page after the first copy ({per_printed:.0} per printed \
         page); peak RSS {} MiB (before rendering {} MiB)",
        if streamed {
            "streamed to a file"
        } else {
            "in memory"
        },
        pdf_pages / cpu,
        cpu / pdf_pages * 1e3,
        wall / pdf_pages * 1e3,
        peak / 1024,
        before / 1024
    );
}
