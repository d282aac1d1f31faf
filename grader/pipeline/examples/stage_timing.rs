//! Per-sheet CPU cost of each pipeline stage, on one thread.
//!
//! ```sh
//! cargo run --release -p grader --example stage_timing -- BUNDLE_DIR SCAN... [--repeat N]
//! ```
//!
//! Prints process CPU time (user + system, from /proc/self/stat) per sheet for the whole
//! pipeline (`Grader::grade_bytes`) and wall time per stage. The machine is shared: CPU time is
//! the figure to trust.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pipeline::{Grader, Limits, align, decode, directory::SheetDirectory, identify, marks};

fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat: utime and stime in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut repeat = 3usize;
    if let Some(i) = args.iter().position(|a| a == "--repeat") {
        repeat = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(3);
        args.drain(i..(i + 2).min(args.len()));
    }
    let Some((bundle_dir, scans)) = args.split_first() else {
        anyhow::bail!("usage: stage_timing BUNDLE_DIR SCAN... [--repeat N]");
    };
    let bundle: model::Bundle = serde_json::from_str(&std::fs::read_to_string(
        PathBuf::from(bundle_dir).join("bundle.json"),
    )?)?;
    let files: Vec<(String, Vec<u8>)> = scans
        .iter()
        .map(|p| Ok((p.clone(), std::fs::read(p)?)))
        .collect::<anyhow::Result<_>>()?;
    let directory = pipeline::BundleDirectory::new(bundle.clone());
    let frames = directory.frames();
    let grader = Grader::new(bundle);
    let limits = Limits::default();

    // Whole pipeline, CPU time.
    let n = files.len() * repeat;
    let (c0, w0) = (cpu_seconds(), Instant::now());
    let mut review = 0;
    for _ in 0..repeat {
        for (name, bytes) in &files {
            let r = grader.grade_bytes(name, bytes);
            review += r
                .iter()
                .filter(|p| !p.review.is_empty() || p.error.is_some())
                .count();
        }
    }
    let (cpu, wall) = (cpu_seconds() - c0, w0.elapsed().as_secs_f64());
    println!(
        "{n} sheets: {:.1} ms CPU/sheet ({:.1} sheets per CPU-second), {:.1} ms wall/sheet; {} page reports needing attention",
        cpu * 1000.0 / n as f64,
        n as f64 / cpu.max(1e-9),
        wall * 1000.0 / n as f64,
        review / repeat
    );

    // Stage by stage, wall time (one thread; noisy on a shared machine).
    let mut t = [Duration::ZERO; 4];
    for (_, bytes) in &files {
        let s = Instant::now();
        let pages = decode::decode(bytes, &limits)?;
        t[0] += s.elapsed();
        for p in pages {
            let Ok(img) = p.image else { continue };
            let s = Instant::now();
            let Ok(a) = align::align(&img, &frames) else {
                continue;
            };
            t[1] += s.elapsed();
            let s = Instant::now();
            let id = identify::identify(&img, &a, &frames, &directory, true, None);
            t[2] += s.elapsed();
            let Ok(id) = id else { continue };
            let s = Instant::now();
            if let Some(h) = align::homography_for(&id.marks, &id.sheet.layout.corner_marks) {
                let _ = marks::read_marks(&img, &h, &id.sheet.layout);
            }
            t[3] += s.elapsed();
        }
    }
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / files.len() as f64;
    println!(
        "per sheet (wall): decode {:.1} ms, align {:.1} ms, identify {:.1} ms, marks {:.1} ms",
        per(t[0]),
        per(t[1]),
        per(t[2]),
        per(t[3])
    );
    Ok(())
}
