//! Grading throughput on one core: 300-dpi A4 grayscale JPEG scans (quality 75–85, flatbed and
//! feeder captures of the 90-question example exam), decoding included, timed over
//! `Grader::grade_bytes` on bytes already in memory. Prints CPU ms per sheet (median and mean
//! over several rounds), sheets per second per core, and peak memory.
//!
//! `cargo bench -p gabarito-tests --bench throughput` (needs `pdftoppm`).
//! Environment: `GABARITO_SHEETS` (default 60), `GABARITO_ROUNDS` (default 5).
//!
//! The scans are generated first and written to a temporary folder; a child process of this
//! same program then grades them, so the peak memory it reports is the grader's, not the
//! simulator's.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::run::{SetOptions, for_each_scan};
use gabarito_tests::scenario::Mix;

const SEED: u64 = 0x7E57_2026;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the whole process (all threads), seconds.
fn process_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--grade-only") {
        let dir = args.get(i + 1).context("--grade-only DIR")?;
        return grade_only(Path::new(dir));
    }
    let sheets = env_usize("GABARITO_SHEETS", 60);
    let started = Instant::now();
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(sheets), SEED)?;
    let work = tempfile::tempdir()?;
    let scans = work.path().join("scans");
    std::fs::create_dir_all(&scans)?;
    let opts = SetOptions {
        seed: SEED,
        sheets,
        dpi: 300,
        mix: Mix::scanner((75, 85)),
        keep_failures: None,
    };
    let written = for_each_scan(&fx, &opts, |scan| {
        let path = scans.join(&scan.truth.file_name);
        std::fs::write(&path, &scan.bytes).map(|_| scan.bytes.len())
    })?;
    let bytes: usize = written
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .sum();
    println!(
        "generated {sheets} scans (300 dpi, JPEG 75-85, seed {SEED:#x}), {:.0} KiB each, in {:.0} s",
        bytes as f64 / sheets as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    let bundle_json = work.path().join("bundle.json");
    std::fs::write(&bundle_json, serde_json::to_string(&fx.bundle)?)?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("--grade-only")
        .arg(work.path())
        .status()?;
    anyhow::ensure!(status.success(), "grading child failed: {status}");
    Ok(())
}

fn grade_only(dir: &Path) -> anyhow::Result<()> {
    let rounds = env_usize("GABARITO_ROUNDS", 5);
    let bundle: model::Bundle =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bundle.json"))?)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("scans"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let scans: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            Ok((name.unwrap_or_default(), std::fs::read(p)?))
        })
        .collect::<std::io::Result<_>>()?;
    let in_memory: usize = scans.iter().map(|s| s.1.len()).sum();
    let rss_before = gabarito_tests::measure::peak_rss_mib();
    // One worker thread: whatever the grader runs on rayon runs on this one core.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let grader = pipeline::Grader::new(bundle);
    let mut per_sheet_ms = Vec::new();
    let mut identified = 0usize;
    let (cpu0, wall0) = (process_cpu_seconds(), Instant::now());
    pool.install(|| {
        // Warm-up round, not counted: page cache, allocator, lazy tables.
        for (name, bytes) in scans.iter().take(3) {
            let _ = grader.grade_bytes(name, bytes);
        }
    });
    let (cpu_warm, wall_warm) = (process_cpu_seconds() - cpu0, wall0.elapsed());
    let (cpu1, wall1) = (process_cpu_seconds(), Instant::now());
    for round in 0..rounds {
        pool.install(|| {
            for (name, bytes) in &scans {
                let t = process_cpu_seconds();
                let reports = grader.grade_bytes(name, bytes);
                per_sheet_ms.push((process_cpu_seconds() - t) * 1000.0);
                if round == 0 {
                    identified += reports.iter().filter(|r| r.sheet_code.is_some()).count();
                }
            }
        });
    }
    let cpu = process_cpu_seconds() - cpu1;
    let wall = wall1.elapsed().as_secs_f64();
    let n = per_sheet_ms.len();
    per_sheet_ms.sort_by(f64::total_cmp);
    let median = per_sheet_ms[n / 2];
    let p90 = per_sheet_ms[n * 9 / 10];
    let mean = cpu * 1000.0 / n as f64;
    println!(
        "graded {} scans x {rounds} rounds on 1 thread ({identified}/{} identified in round 1; warm-up {:.0} ms CPU, {:.0} ms wall)",
        scans.len(),
        scans.len(),
        cpu_warm * 1000.0,
        wall_warm.as_secs_f64() * 1000.0
    );
    println!(
        "CPU per sheet: median {median:.1} ms, mean {mean:.1} ms, p90 {p90:.1} ms, max {:.1} ms",
        per_sheet_ms[n - 1]
    );
    println!(
        "THROUGHPUT {:.1} sheets/s per core (1000 / mean CPU ms; {:.1} by median); wall {:.1} sheets/s",
        1000.0 / mean,
        1000.0 / median,
        n as f64 / wall
    );
    println!(
        "PEAK RSS {:.0} MiB (before grading {:.0} MiB, of which scans in memory {:.0} MiB)",
        gabarito_tests::measure::peak_rss_mib(),
        rss_before,
        in_memory as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}
