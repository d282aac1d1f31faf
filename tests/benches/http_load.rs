//! Load on the grader over HTTP: two `grader serve` instances on one Postgres database, two
//! clients each posting its own simulated scans — single images, and 4-page scanner PDFs —
//! to its instance, and one post in ten sent again to the *other* instance (the same bytes
//! recorded once wherever they land). Asserts that no request failed, that every sheet was
//! graded exactly once and nothing was lost; prints throughput and the p50/p99 latency of a
//! post.
//!
//! `cargo bench -p gabarito-tests --bench http_load` (builds and uses the release binaries:
//! `cargo build --release -p grader -p render-service` first). `GABARITO_BENCH_SCANS` sheets
//! per client (default 500), `GABARITO_BENCH_THREADS` concurrent posts per client (default 2),
//! `GABARITO_TEST_POSTGRES` the server (a database of its own is created and dropped).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gabarito_tests::e2e::{Db, parse_results_csv};
use gabarito_tests::http::{
    Client, ScannedBundle, Service, ServiceConfig, create_token, media_type, pages_of, scanner_pdf,
};
use gabarito_tests::scenario::SheetTruth;
use store::ScanStatus;

const TENANT: &str = "escola-carga";
const PDF_PAGES: usize = 4;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One request a client sends: a file name and its bytes, and how many sheets it holds.
struct Post {
    name: String,
    bytes: Vec<u8>,
    sheets: usize,
}

/// A client's posts: every fourth group of sheets as a PDF, the rest one image each.
fn posts(truths: &[SheetTruth], dir: &std::path::Path, dpi: u32) -> Vec<Post> {
    let read = |t: &SheetTruth| std::fs::read(dir.join(&t.file_name)).expect("scan");
    let mut out = Vec::new();
    for (i, group) in truths.chunks(PDF_PAGES).enumerate() {
        if i % 4 == 3 && group.len() == PDF_PAGES {
            let jpegs: Vec<Vec<u8>> = group.iter().map(read).collect();
            out.push(Post {
                name: format!("feeder-{}.pdf", group[0].index),
                bytes: scanner_pdf(&jpegs, dpi),
                sheets: group.len(),
            });
        } else {
            out.extend(group.iter().map(|t| Post {
                name: t.file_name.clone(),
                bytes: read(t),
                sheets: 1,
            }));
        }
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let per_client = env_usize("GABARITO_BENCH_SCANS", 500);
    let threads = env_usize("GABARITO_BENCH_THREADS", 2).max(1);
    let sheets = 2 * per_client;
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::postgres();
    let config = ServiceConfig::new(work.path(), &db).with_env("GABARITO_WORKERS", "2");

    // The sheets: rendered by the service, scanned by the simulator.
    let t0 = Instant::now();
    let token = create_token(work.path(), &db, TENANT, &["render", "scan", "results"]);
    let ScannedBundle {
        exam_id,
        scans: dir,
        truths,
        ..
    } = ScannedBundle::make(
        work.path(),
        &config,
        &token,
        sheets,
        0x10AD_0001,
        Duration::from_secs(3600),
    );
    let dpi = gabarito_tests::e2e::DPI;
    let mine: Vec<Vec<Post>> = truths
        .chunks(per_client)
        .map(|c| posts(c, &dir, dpi))
        .collect();
    eprintln!(
        "{sheets} sheets rendered and simulated in {:.0?}",
        t0.elapsed()
    );

    let instances = [
        Service::start("grader", &config),
        Service::start("grader", &config),
    ];
    let clients: Vec<Client> = instances.iter().map(|s| s.client(Some(&token))).collect();
    let latencies = Mutex::new(Vec::new());
    let errors = Mutex::new(Vec::new());
    let (mut posted, mut repeats, mut bytes) = (0usize, 0usize, 0usize);
    for list in &mine {
        posted += list.len();
        repeats += list.len().div_ceil(10);
        bytes += list.iter().map(|p| p.bytes.len()).sum::<usize>();
    }
    let started = Instant::now();
    std::thread::scope(|s| {
        for (c, list) in mine.iter().enumerate() {
            for t in 0..threads {
                let (own, other) = (&clients[c], &clients[1 - c]);
                let (latencies, errors) = (&latencies, &errors);
                s.spawn(move || {
                    for (i, post) in list.iter().enumerate().skip(t).step_by(threads) {
                        let send = |client: &Client| {
                            let at = Instant::now();
                            let reply = client.try_request(
                                "POST",
                                "/v1/scans",
                                &[],
                                Some((media_type(&post.name), &post.bytes)),
                            );
                            let took = at.elapsed();
                            match reply {
                                Ok(r) if r.status == 200 || r.status == 201 => {
                                    let pages = pages_of(&r.json()).len();
                                    if pages != post.sheets {
                                        errors
                                            .lock()
                                            .expect("lock")
                                            .push(format!("{}: {pages} pages answered", post.name));
                                    }
                                    latencies.lock().expect("lock").push(took);
                                }
                                Ok(r) => errors.lock().expect("lock").push(format!(
                                    "{}: {} {}",
                                    post.name,
                                    r.status,
                                    r.text()
                                )),
                                Err(e) => errors.lock().expect("lock").push(e),
                            }
                        };
                        send(own);
                        // One post in ten again, at the other instance.
                        if i % 10 == 0 {
                            send(other);
                        }
                    }
                });
            }
        }
    });
    let wall = started.elapsed();
    let errors = errors.into_inner().expect("lock");
    assert!(
        errors.is_empty(),
        "{} failed posts: {errors:#?}",
        errors.len()
    );

    // Nothing lost, nothing twice.
    let (scans, graded, pages) = db.inspect_as(TENANT, async |store, tenant| {
        let scans = store.scans(tenant).await.expect("scans");
        let graded = scans
            .iter()
            .filter(|s| s.status == ScanStatus::Graded)
            .count();
        let mut pages = Vec::with_capacity(truths.len());
        for t in &truths {
            pages.push(
                store
                    .pages_of_sheet(tenant, &t.sheet_code)
                    .await
                    .expect("pages")
                    .len(),
            );
        }
        (scans.len(), graded, pages)
    });
    assert_eq!(scans, posted, "one scan recorded per distinct file");
    assert_eq!(graded, posted, "every scan graded");
    let twice = pages.iter().filter(|&&n| n != 1).count();
    assert_eq!(twice, 0, "{twice} sheets not graded exactly once");
    let csv = clients[0]
        .get_with(
            &format!("/v1/exams/{exam_id}/results"),
            &[("Accept", "text/csv")],
        )
        .expect(200);
    assert_eq!(
        parse_results_csv(&csv.body).len(),
        sheets,
        "every student scored"
    );

    let mut lat = latencies.into_inner().expect("lock");
    lat.sort();
    let requests = lat.len();
    println!("http_load: 2 grader instances on one Postgres, 2 clients x {threads} threads");
    println!(
        "  {sheets} sheets in {posted} posts ({} PDFs of {PDF_PAGES} pages) + {repeats} repeats \
         at the other instance; {:.1} MiB",
        mine.iter().flatten().filter(|p| p.sheets > 1).count(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  wall {:.1} s: {:.1} sheets/s, {:.1} requests/s; errors 0; every sheet graded once",
        wall.as_secs_f64(),
        sheets as f64 / wall.as_secs_f64(),
        requests as f64 / wall.as_secs_f64()
    );
    println!(
        "  latency per post: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({requests} requests)",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    println!(
        "  machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
