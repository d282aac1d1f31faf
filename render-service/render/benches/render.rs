//! Rendering benchmark (a program that prints figures, not a timed test):
//! `cargo bench -p gabarito-render --bench render`.
//!
//! Prints the PDF bytes each additional sheet costs, the CPU time per page of a 1,000-sheet
//! bundle rendered on one thread (median of several runs; CPU time, because the machine is
//! shared and wall time is noisy), and the process's peak resident memory.
//!
//! With `GABARITO_BENCH_SHEETS=N`, renders one bundle of N sheets alone in the process, as
//! the render service does: streamed with `render_bundle_to` into a file (into
//! `GABARITO_BENCH_OUT`, else a temporary file, removed), and prints its size, pages per
//! CPU-second and the process's peak RSS (`VmHWM`).

use std::time::Instant;

#[path = "support/measure.rs"]
mod measure;

use measure::{peak_rss_kib, thread_cpu_seconds};

use model::{Exam, Student};
use rand::SeedableRng;
use render::{render_bundle_seeded, render_bundle_to};

const RUNS: usize = 5;
const SHEETS: usize = 1000;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("workspace")
        .to_path_buf();
    let exam = Exam::from_json(
        &std::fs::read_to_string(root.join("examples/simulado-1.json")).expect("exam"),
    )
    .expect("valid exam");
    let names = [
        "José da Silva",
        "Ana Lúcia Antônio",
        "João Brandão",
        "Maria Conceição Gonçalves",
        "Luís Fernando Araújo",
        "Íris Mendonça",
    ];
    let roster = |n: usize| -> Vec<Student> {
        (0..n)
            .map(|i| Student {
                student_id: format!("2026{i:05}"),
                name: format!("{} {}", names[i % names.len()], i),
                class: format!("3º{}", ["A", "B", "C"][i % 3]),
            })
            .collect()
    };

    // Memory for a big bundle, alone in its process (peak RSS is per process):
    // GABARITO_BENCH_SHEETS=10000 cargo bench -p gabarito-render --bench render
    if let Some(n) = std::env::var("GABARITO_BENCH_SHEETS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let students = roster(n);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = std::env::var_os("GABARITO_BENCH_OUT")
            .map_or_else(|| dir.path().join("bundle.pdf"), std::path::PathBuf::from);
        let file = std::fs::File::create(&path).expect("output file");
        let before = peak_rss_kib();
        let (c0, w0) = (thread_cpu_seconds(), Instant::now());
        let mut reports = 0;
        let manifest = render_bundle_to(
            &exam,
            Some(&students),
            1,
            &mut rand::rngs::StdRng::seed_from_u64(9),
            file,
            &mut |_, _| reports += 1,
        )
        .expect("render");
        let (cpu, wall) = (thread_cpu_seconds() - c0, w0.elapsed().as_secs_f64());
        let pages = manifest.pages.len() as f64;
        println!(
            "{n} sheets, {pages} pages streamed to a file: {} bytes; {:.0} pages per CPU-second \
             ({:.3} ms CPU, {:.3} ms wall per page); {reports} progress reports",
            std::fs::metadata(&path).expect("written").len(),
            pages / cpu,
            cpu / pages * 1e3,
            wall / pages * 1e3,
        );
        println!(
            "peak RSS: {} MiB (before rendering: {} MiB, the roster included)",
            peak_rss_kib() / 1024,
            before / 1024
        );
        return;
    }

    // Warm up.
    let _ = render_bundle_seeded(&exam, Some(&roster(10)), 1, 1).expect("render");

    let small_n = 40;
    let small = render_bundle_seeded(&exam, Some(&roster(small_n)), 1, 2).expect("render");
    let big_roster = roster(small_n + SHEETS);
    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    let mut big_len = 0;
    for run in 0..RUNS {
        let (c0, w0) = (thread_cpu_seconds(), Instant::now());
        let big =
            render_bundle_seeded(&exam, Some(&big_roster), 1, 3 + run as u64).expect("render");
        cpu.push(thread_cpu_seconds() - c0);
        wall.push(w0.elapsed().as_secs_f64());
        big_len = big.pdf.len();
    }
    cpu.sort_by(f64::total_cmp);
    wall.sort_by(f64::total_cmp);
    let pages = (small_n + SHEETS) as f64;
    let per_sheet = (big_len as f64 - small.pdf.len() as f64) / SHEETS as f64;

    println!(
        "Rendering benchmark: examples/simulado-1.json (90 questions, 5 choices, 2 versions), roster sheets"
    );
    println!(
        "PDF size: {small_n} sheets {} bytes; {} sheets {big_len} bytes",
        small.pdf.len(),
        small_n + SHEETS
    );
    println!(
        "bytes per additional sheet: {per_sheet:.0} ({:.2} KB)",
        per_sheet / 1024.0
    );
    println!(
        "CPU per page, {} pages on one thread: median {:.3} ms (min {:.3}, max {:.3}) over {RUNS} runs",
        small_n + SHEETS,
        cpu[RUNS / 2] / pages * 1e3,
        cpu[0] / pages * 1e3,
        cpu[RUNS - 1] / pages * 1e3
    );
    println!(
        "wall per page: median {:.3} ms; pages per CPU-second: {:.0}",
        wall[RUNS / 2] / pages * 1e3,
        pages / cpu[RUNS / 2]
    );
    println!("peak RSS: {} MiB", peak_rss_kib() / 1024);
}
