//! Work outlives an instance, over real HTTP on a Postgres database of its own
//! (`GABARITO_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`):
//!
//! - a grader stopped with SIGTERM in the middle of 300 scans posted as batches stops within
//!   Cloud Run's 10 s, and a new instance finishes them: every scan graded exactly once;
//! - a bundle job whose render-service instance is killed with SIGKILL mid-render is finished
//!   by the other instance once the lease (shortened to 2 s) runs out.
//!
//! The binaries are built by `cargo test --workspace`; with `-p gabarito-tests` alone, build
//! them first (`cargo build -p grader -p render-service`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use gabarito_tests::e2e::{Db, parse_results_csv};
use gabarito_tests::http::{
    Part, ScannedBundle, Service, ServiceConfig, batch_id, create_token, download_bundle,
    queue_bundle, register_exam,
};
use store::ScanStatus;

const TENANT: &str = "escola-resiliente";

/// (scans received, scans graded) of the tenant.
fn scan_counts(db: &Db) -> (usize, usize) {
    db.inspect_as(TENANT, async |store, tenant| {
        let scans = store.scans(tenant).await.expect("scans");
        let graded = scans
            .iter()
            .filter(|s| s.status == ScanStatus::Graded)
            .count();
        (scans.len(), graded)
    })
}

#[test]
fn a_grader_stopped_mid_batch_leaves_every_scan_to_the_next_instance_graded_once() {
    const SHEETS: usize = 300;
    const BATCHES: usize = 6;
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::postgres();
    let config = ServiceConfig::new(work.path(), &db);
    let token = create_token(work.path(), &db, TENANT, &["render", "scan", "results"]);
    let ScannedBundle {
        exam_id,
        scans,
        truths,
        ..
    } = ScannedBundle::make(
        work.path(),
        &config,
        &token,
        SHEETS,
        0x5167_7E12,
        Duration::from_secs(600),
    );

    let mut first = Service::start("grader", &config);
    let grader = first.client(Some(&token));
    let mut batches = Vec::new();
    for chunk in truths.chunks(SHEETS.div_ceil(BATCHES)) {
        let parts: Vec<Part> = chunk
            .iter()
            .map(|t| {
                Part::file(
                    &t.file_name,
                    std::fs::read(scans.join(&t.file_name)).expect("scan"),
                )
            })
            .collect();
        let reply = grader.post_multipart("/v1/scans", &parts).expect(202);
        batches.push(batch_id(&reply.json()));
    }
    // Stop it once a third are graded.
    let started = Instant::now();
    loop {
        let (_, graded) = scan_counts(&db);
        if graded >= SHEETS / 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "grading did not get under way:\n{}",
            first.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let stopping = Instant::now();
    first.sigterm();
    let status = first
        .wait_exit(Duration::from_secs(12))
        .unwrap_or_else(|| panic!("still running 12 s after SIGTERM:\n{}", first.log_tail()));
    let stop_time = stopping.elapsed();
    let (received, graded) = scan_counts(&db);
    eprintln!("stopped ({status}) in {stop_time:?} with {graded} of {received} scans graded");
    assert_eq!(received, SHEETS, "every posted scan is on the record");
    assert!(
        graded < SHEETS,
        "the stop came too late to test anything: {graded} graded"
    );

    let second = Service::start("grader", &config);
    let grader = second.client(Some(&token));
    for id in &batches {
        let done = grader.poll_job(&format!("/v1/scan-batches/{id}"), Duration::from_secs(600));
        assert_eq!(done["status"], "done", "batch {id}: {done}");
    }
    assert_eq!(scan_counts(&db), (SHEETS, SHEETS), "every scan graded");
    let (pages, scan_ids) = db.inspect_as(TENANT, async |store, tenant| {
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
        let ids: HashSet<String> = store
            .scans(tenant)
            .await
            .expect("scans")
            .into_iter()
            .map(|s| s.content_hash)
            .collect();
        (pages, ids)
    });
    assert_eq!(scan_ids.len(), SHEETS, "no scan recorded twice");
    let wrong: Vec<(usize, usize)> = pages
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| n != 1)
        .collect();
    assert!(
        wrong.is_empty(),
        "sheets not graded exactly once: {wrong:?}"
    );
    let csv = grader
        .get_with(
            &format!("/v1/exams/{exam_id}/results"),
            &[("Accept", "text/csv")],
        )
        .expect(200);
    assert_eq!(parse_results_csv(&csv.body).len(), SHEETS);
}

#[test]
fn a_bundle_whose_instance_is_killed_is_finished_by_the_other() {
    // Big enough to be caught mid-render: the streamed writer does ~2,000 sheets a second, so
    // 400 could be done before the first status poll saw it running.
    const STUDENTS: usize = 4_000;
    let work = tempfile::tempdir().expect("temp dir");
    let db = Db::postgres();
    let config = ServiceConfig::new(work.path(), &db).with_env("GABARITO_JOB_LEASE_SECS", "2");
    let mut a = Service::start("render-service", &config);
    let mut b = Service::start("render-service", &config);
    let token = create_token(work.path(), &db, TENANT, &["render"]);
    let api = a.client(Some(&token));
    let exam_id = register_exam(&api);
    let bundle_id = queue_bundle(&api, &exam_id, STUDENTS);

    // Whichever instance claimed the job says so in its log; kill it once pages are done.
    let started = Instant::now();
    let (victim, survivor) = loop {
        let status = api
            .get(&format!("/v1/bundles/{bundle_id}"))
            .expect(200)
            .json();
        assert_ne!(
            status["status"], "done",
            "rendered before it could be killed"
        );
        let running = status["status"] == "running" && progress(&status) > 0;
        let in_a = std::fs::read_to_string(&a.log)
            .unwrap_or_default()
            .contains("job started");
        let in_b = std::fs::read_to_string(&b.log)
            .unwrap_or_default()
            .contains("job started");
        if running && (in_a || in_b) {
            break if in_a {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the bundle did not start: {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    victim.sigkill();
    eprintln!("killed {} after {:?}", victim.base, started.elapsed());

    let api = survivor.client(Some(&token));
    let done = api.poll_job(
        &format!("/v1/bundles/{bundle_id}"),
        Duration::from_secs(600),
    );
    assert_eq!(done["status"], "done", "{done}");
    let log = std::fs::read_to_string(&survivor.log).unwrap_or_default();
    assert!(log.contains("job started"), "the survivor ran it");
    let fx = download_bundle(&api, &bundle_id, &work.path().join("bundle"));
    let students: HashSet<&str> = fx
        .bundle
        .pages
        .iter()
        .filter_map(|p| p.student_id.as_deref())
        .collect();
    assert_eq!(students.len(), STUDENTS, "a sheet for every student");
}

/// Pages done of a bundle's status answer, wherever the service puts them.
fn progress(status: &serde_json::Value) -> u64 {
    status["progress"]["pages_done"]
        .as_u64()
        .or(status["progress"]["done"].as_u64())
        .or(status["pages_done"].as_u64())
        .unwrap_or(0)
}
