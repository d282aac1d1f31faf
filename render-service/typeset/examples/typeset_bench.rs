//! Prints the typesetting time of the 30-question, 2-version sample exam (the tests' exam),
//! cold and warm, per version, and the process's peak memory.
//!
//! `cargo run --release -p gabarito-typeset --example typeset_bench [-- ROUNDS [OUT.pdf]]`
//! (with OUT.pdf, the booklets are also written there, e.g. to look at them).

use std::time::Instant;

#[path = "../tests/common/mod.rs"]
#[allow(dead_code, missing_docs)]
mod common;

/// CPU seconds of this process so far (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let out_pdf = std::env::args().nth(2);
    let exam = common::exam();
    let files = common::files();
    let versions = exam.versions.len() as f64;
    for round in 0..=rounds {
        let (wall, cpu) = (Instant::now(), cpu_seconds());
        let out = typeset::typeset(&exam, &files).expect("typeset");
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu;
        let pages: usize = out.versions.iter().map(|v| v.pages.len()).sum();
        println!(
            "{} {round}: {} versions, {pages} pages, {} bytes; {:.1} ms wall, {:.2} CPU-s, \
             {:.1} ms per version; peak RSS {:.0} MiB",
            if round == 0 { "cold" } else { "warm" },
            out.versions.len(),
            out.pdf.len(),
            wall * 1000.0,
            cpu,
            wall * 1000.0 / versions,
            peak_rss_mib()
        );
        if let Some(path) = &out_pdf {
            std::fs::write(path, &out.pdf).expect("write the PDF");
        }
    }
}
