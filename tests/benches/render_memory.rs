//! Peak memory of a render-service instance rendering a large answer-sheet bundle over HTTP:
//! `render-service serve` as a child process, a roster of `GABARITO_BENCH_STUDENTS` students
//! (default 10,000) posted as JSON, the job followed to the end, the PDF downloaded (streamed
//! to nowhere). The child's peak resident set (`VmHWM` of /proc/PID/status, which the kernel
//! keeps, read just before the process is stopped) is the figure; the target is < 400 MB
//! (a 512 MiB Cloud Run instance).
//!
//! `cargo bench -p gabarito-tests --bench render_memory` (uses the release binaries:
//! `cargo build --release -p grader -p render-service` first). On the default SQLite file,
//! or on Postgres with `GABARITO_BENCH_POSTGRES=1`.

use std::time::{Duration, Instant};

use gabarito_tests::e2e::Db;
use gabarito_tests::http::{Service, ServiceConfig, create_token, queue_bundle, register_exam};

/// `VmHWM` and `VmRSS` of a process, MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn main() {
    let students: usize = std::env::var("GABARITO_BENCH_STUDENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let work = tempfile::tempdir().expect("temp dir");
    let db = if std::env::var_os("GABARITO_BENCH_POSTGRES").is_some() {
        Db::postgres()
    } else {
        Db::default_sqlite(work.path())
    };
    let config = ServiceConfig::new(work.path(), &db);
    let render = Service::start("render-service", &config);
    let pid = render.pid();
    let (idle, _) = memory_mib(pid);
    let token = create_token(work.path(), &db, "escola-grande", &["render"]);
    let api = render.client(Some(&token));
    let exam_id = register_exam(&api);

    let started = Instant::now();
    let bundle_id = queue_bundle(&api, &exam_id, students);
    let mut samples = 0usize;
    let mut rss_max = 0.0f64;
    let status = loop {
        let status = api
            .get(&format!("/v1/bundles/{bundle_id}"))
            .expect(200)
            .json();
        let (_, rss) = memory_mib(pid);
        rss_max = rss_max.max(rss);
        samples += 1;
        match status["status"].as_str() {
            Some("done" | "failed") => break status,
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let render_time = started.elapsed();
    assert_eq!(status["status"], "done", "{status}");
    let (hwm_render, _) = memory_mib(pid);

    let download = Instant::now();
    let (code, pdf_bytes) = api.download(
        &format!("/v1/bundles/{bundle_id}/pdf"),
        &mut std::io::sink(),
    );
    assert_eq!(code, 200);
    let download_time = download.elapsed();
    let (hwm, _) = memory_mib(pid);

    println!(
        "render_memory: render-service serve, {students}-student answer-sheet bundle over HTTP"
    );
    println!(
        "  rendered in {:.1} s ({:.0} students/s); PDF {:.1} MiB ({:.1} KiB/student), downloaded in {:.1} s",
        render_time.as_secs_f64(),
        students as f64 / render_time.as_secs_f64(),
        pdf_bytes as f64 / (1024.0 * 1024.0),
        pdf_bytes as f64 / 1024.0 / students as f64,
        download_time.as_secs_f64()
    );
    println!(
        "  peak RSS (VmHWM): {hwm:.0} MiB ({:.0} MB) — idle {idle:.0} MiB, after rendering \
         {hwm_render:.0} MiB, largest sampled VmRSS {rss_max:.0} MiB ({samples} samples); target < 400 MB",
        hwm * 1.048_576
    );
    assert!(
        hwm * 1.048_576 < 400.0,
        "peak RSS {hwm:.0} MiB is over the 400 MB target"
    );
}
