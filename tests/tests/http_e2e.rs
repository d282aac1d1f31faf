//! The acceptance flow of the two HTTP services, over real HTTP: `render-service serve` and
//! `grader serve` started as processes on loopback, meeting only in the database and the
//! object folder. Once on a Postgres database of its own (`GABARITO_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), once on the default SQLite file.
//!
//! Create an exam, render a bundle for 40 students, download its PDF (whole and by range),
//! simulate the scans from that PDF and post them (one image, a PNG, multipart batches, a
//! multi-page PDF, the same bytes twice), read the results as JSON and CSV and the item
//! statistics, resolve an uncertain mark and an unidentified page, annul a question and see
//! the scores change.
//!
//! The binaries are built by `cargo test --workspace`; with `-p gabarito-tests` alone, build
//! them first (`cargo build -p grader -p render-service`).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gabarito_tests::e2e::{
    DPI, Db, destroy_identity, expected_scores, expected_scores_under, parse_results_csv,
    write_scans,
};
use gabarito_tests::fixture::RenderedFixture;
use gabarito_tests::http::{
    Client, Part, Service, ServiceConfig, create_token, download_bundle, exam_file, post_scan,
    queue_bundle, register_exam, scan_pages, scanner_pdf,
};
use gabarito_tests::rasterize::{px_per_pt, rasterize_pages};
use gabarito_tests::scenario::{Profile, SheetTruth};
use model::scoring::{AnswerState, ReadAnswer, score_sheet};
use serde_json::{Value, json};

const STUDENTS: usize = 40;
const TENANT: &str = "escola-http";
/// The sheet whose marks are drawn by hand, one of them too faint to call.
const UNCERTAIN: usize = 26;
/// From this sheet on, the scans go in the last batch; one of them, scanned on a flatbed
/// and upright, has its QR code and printed id destroyed. (A page fed upside down with
/// neither is read as misaligned, every question uncertain: a person would rather rescan it.)
const LAST_BATCH: usize = 27;

/// Both services on `db`, a token for them, an exam registered and a bundle rendered for
/// `students` students and downloaded into `work/bundle`.
struct Rendered {
    render: Service,
    grader: Service,
    token: String,
    exam_id: String,
    fx: RenderedFixture,
}

fn start_and_render(work: &Path, db: &Db, students: usize) -> Rendered {
    let config = ServiceConfig::new(work, db);
    // One after the other: the first applies the migrations.
    let render = Service::start("render-service", &config);
    let grader = Service::start("grader", &config);
    let token = create_token(work, db, TENANT, &["render", "scan", "results"]);
    let api = render.client(Some(&token));

    // Auth: no token, a token without the scope, another school's token.
    render.client(None).get("/v1/exams/nope").expect(401);
    let scan_only = create_token(work, db, TENANT, &["scan"]);
    render
        .client(Some(&scan_only))
        .post("/v1/exams", "application/json", &exam_file())
        .expect(403);

    let exam_id = register_exam(&api);
    api.get(&format!("/v1/exams/{exam_id}")).expect(200);
    let other_school = create_token(work, db, "outra-escola", &["render", "results"]);
    render
        .client(Some(&other_school))
        .get(&format!("/v1/exams/{exam_id}"))
        .expect(404);

    let bundle_id = queue_bundle(&api, &exam_id, students);
    let done = api.poll_job(
        &format!("/v1/bundles/{bundle_id}"),
        Duration::from_secs(300),
    );
    assert_eq!(done["status"], "done", "{done}");

    let fx = download_bundle(&api, &bundle_id, &work.join("bundle"));
    assert_eq!(
        fx.sheet_pages().len() % students,
        0,
        "sheets for every student"
    );
    Rendered {
        render,
        grader,
        token,
        exam_id,
        fx,
    }
}

/// A clean page of sheet `index` with questions 1–10 marked on their first choice, and
/// question 11's second choice shaded just enough that nobody can tell: the shade is the
/// faintest of a few that the pipeline itself calls uncertain. Returns the JPEG and the
/// answers a person reads (question 11: the second choice).
fn uncertain_sheet(fx: &RenderedFixture, index: usize) -> (Vec<u8>, Vec<ReadAnswer>) {
    let page = &fx.bundle.pages[fx.sheet_pages()[index]];
    let clean = rasterize_pages(&fx.pdf_path(), DPI, page.pdf_page, page.pdf_page)
        .expect("rasterise")
        .remove(0);
    let scale = px_per_pt(DPI);
    let fill = |img: &mut image::GrayImage, q: u32, nth: usize, level: u8| {
        let b = page
            .layout
            .bubbles
            .iter()
            .filter(|b| b.question == q)
            .nth(nth)
            .expect("bubble");
        let (cx, cy, r) = (b.x * scale, b.y * scale, b.r * scale * 0.85);
        for y in (cy - r).floor() as u32..=(cy + r).ceil() as u32 {
            for x in (cx - r).floor() as u32..=(cx + r).ceil() as u32 {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r && x < img.width() && y < img.height() {
                    let p = img.get_pixel_mut(x, y);
                    p.0[0] = p.0[0].min(level);
                }
            }
        }
    };
    let mut marked = clean.clone();
    for q in 1..=10 {
        fill(&mut marked, q, 0, 35);
    }
    let grader = pipeline::Grader::new(fx.bundle.clone());
    for level in (150..=235u8).rev().step_by(5) {
        let mut img = marked.clone();
        fill(&mut img, 11, 1, level);
        let jpeg = gabarito_tests::degrade::encode_jpeg(&img, 92).expect("JPEG");
        let reports = grader.grade_bytes("uncertain.jpg", &jpeg);
        let q11 = reports
            .first()
            .and_then(|r| r.answers.iter().find(|a| a.question == 11));
        if q11.is_some_and(|a| a.state == AnswerState::Uncertain) {
            let read = (1..=11)
                .map(|q| ReadAnswer {
                    question: q,
                    marked: vec![if q == 11 { 1 } else { 0 }],
                    state: AnswerState::Answered,
                })
                .chain(
                    (12..=fx.bundle.exam.questions.len() as u32).map(|q| ReadAnswer {
                        question: q,
                        marked: Vec::new(),
                        state: AnswerState::Blank,
                    }),
                )
                .collect();
            return (jpeg, read);
        }
    }
    panic!("no shade of grey made question 11 uncertain");
}

/// `GET /v1/exams/{id}/results` as CSV: student id → (score, max score).
fn results_csv(api: &Client, exam_id: &str) -> HashMap<String, (f64, f64)> {
    let reply = api
        .get_with(
            &format!("/v1/exams/{exam_id}/results"),
            &[("Accept", "text/csv")],
        )
        .expect(200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "{:?}",
        reply.header("content-type")
    );
    parse_results_csv(&reply.body)
}

fn assert_scores(got: &HashMap<String, (f64, f64)>, want: &HashMap<String, f64>, what: &str) {
    for (student, want) in want {
        let (score, _) = got
            .get(student)
            .unwrap_or_else(|| panic!("{what}: {student} missing from the results: {got:?}"));
        assert!(
            (score - want).abs() < 1e-9,
            "{what}: {student} has {score}, the scan deserves {want}"
        );
    }
}

fn the_acceptance_flow(db_of: impl FnOnce(&Path) -> Db) {
    let started = Instant::now();
    let work = tempfile::tempdir().expect("temp dir");
    let db = db_of(work.path());
    let Rendered {
        render: _render,
        grader,
        token,
        exam_id,
        fx,
    } = start_and_render(work.path(), &db, STUDENTS);
    eprintln!("rendered in {:?}", started.elapsed());
    let api = grader.client(Some(&token));

    let scans_dir = work.path().join("scans");
    let truths = write_scans(&fx, &scans_dir, STUDENTS, 0x0E2E_4777);
    let read = |t: &SheetTruth| std::fs::read(scans_dir.join(&t.file_name)).expect("scan");
    let unidentified = (LAST_BATCH..STUDENTS)
        .find(|&i| {
            truths[i].profile == Profile::Flatbed && !truths[i].degradation.geometry.upside_down
        })
        .expect("a flatbed scan among the last sheets");
    destroy_identity(
        &scans_dir.join(&truths[unidentified].file_name),
        &fx,
        &truths[unidentified],
    );
    let (uncertain_jpeg, uncertain_read) = uncertain_sheet(&fx, UNCERTAIN);
    eprintln!("simulated in {:?}", started.elapsed());

    // One image as the body; the same bytes again: recorded once, the same answer.
    let first = post_scan(&api, &truths[0].file_name, &read(&truths[0]));
    assert_eq!(first.len(), 1, "{first:?}");
    let again = post_scan(&api, &truths[0].file_name, &read(&truths[0]));
    assert_eq!(
        strip_volatile(&again),
        strip_volatile(&first),
        "the same bytes, the same outcome"
    );
    // A PNG.
    let png = {
        let img = image::load_from_memory(&read(&truths[1])).expect("scan decodes");
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("PNG");
        out.into_inner()
    };
    assert_eq!(post_scan(&api, "sheet-1.png", &png).len(), 1);
    // A multipart batch of 12 images.
    let parts: Vec<Part> = truths[2..14]
        .iter()
        .map(|t| Part::file(&t.file_name, read(t)))
        .collect();
    let pages = scan_pages(&api, api.post_multipart("/v1/scans", &parts));
    assert_eq!(pages.len(), 12, "{pages:?}");
    // A 12-page PDF, as a sheet feeder writes one.
    let jpegs: Vec<Vec<u8>> = truths[14..26].iter().map(read).collect();
    let pdf = scanner_pdf(&jpegs, DPI);
    let pages = post_scan(&api, "feeder.pdf", &pdf);
    assert_eq!(pages.len(), 12, "{pages:?}");
    // The hand-marked sheet and the rest (the unidentifiable one among them), in one more
    // batch.
    let mut parts = vec![Part::file("uncertain.jpg", uncertain_jpeg)];
    parts.extend(
        truths[LAST_BATCH..]
            .iter()
            .map(|t| Part::file(&t.file_name, read(t))),
    );
    let pages = scan_pages(&api, api.post_multipart("/v1/scans", &parts));
    assert_eq!(pages.len(), 1 + STUDENTS - LAST_BATCH, "{pages:?}");
    eprintln!("posted in {:?}", started.elapsed());

    // Every sheet recorded once: one scan per file (the PDF is one), one page per sheet.
    let (scans, per_sheet) = db.inspect_as(TENANT, async |store, tenant| {
        let scans = store.scans(tenant).await.expect("scans");
        let mut per_sheet = Vec::new();
        for t in &truths {
            per_sheet.push(
                store
                    .pages_of_sheet(tenant, &t.sheet_code)
                    .await
                    .expect("pages")
                    .len(),
            );
        }
        (scans.len(), per_sheet)
    });
    assert_eq!(scans, 1 + 1 + 12 + 1 + 1 + (STUDENTS - LAST_BATCH));
    for (i, n) in per_sheet.iter().enumerate() {
        // The unidentified page counts for no sheet until a person names it.
        let want = usize::from(i != unidentified);
        assert_eq!(*n, want, "sheet {i}: {n} graded pages");
    }

    // Results, CSV, statistics.
    let mut expected = expected_scores(&fx, &truths);
    let uncertain_student = truths[UNCERTAIN].student_id.clone().expect("roster sheet");
    let lost_student = truths[unidentified]
        .student_id
        .clone()
        .expect("roster sheet");
    let uncertain_version = &fx.bundle.pages[fx.sheet_pages()[UNCERTAIN]].version;
    expected.insert(
        uncertain_student.clone(),
        score_sheet(&fx.bundle.exam, uncertain_version, &uncertain_read)
            .expect("scores")
            .score,
    );
    let json = api
        .get(&format!("/v1/exams/{exam_id}/results"))
        .expect(200)
        .json();
    assert!(json.is_object() || json.is_array(), "{json}");
    let before = results_csv(&api, &exam_id);
    assert!(
        !before.contains_key(&lost_student),
        "unscored until named: {before:?}"
    );
    let settled: HashMap<String, f64> = expected
        .iter()
        .filter(|(s, _)| **s != lost_student && **s != uncertain_student)
        .map(|(s, v)| (s.clone(), *v))
        .collect();
    assert_scores(&before, &settled, "as graded");
    let stats = api
        .get(&format!("/v1/exams/{exam_id}/stats"))
        .expect(200)
        .json();
    assert!(
        stats.to_string().contains("discrimination"),
        "per-question statistics: {stats}"
    );

    // The review queue: the uncertain mark and the unidentified page, each with a crop.
    let queue = api
        .get(&format!("/v1/exams/{exam_id}/review"))
        .expect(200)
        .json();
    let items = queue["items"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no items in {queue}"));
    let uncertain = items
        .iter()
        .find(|i| i["question"] == 11 && i["student_id"] == uncertain_student.as_str())
        .unwrap_or_else(|| panic!("no review item for question 11: {items:?}"));
    let lost = items
        .iter()
        .find(|i| i["kind"] == "unidentified")
        .unwrap_or_else(|| panic!("no unidentified page in the queue: {items:?}"));
    for item in [uncertain, lost] {
        let url = item["image_url"].as_str().expect("image_url");
        let path = url.strip_prefix(&api.url("")).unwrap_or(url);
        let crop = api.get(path).expect(200);
        assert!(
            crop.header("content-type")
                .is_some_and(|t| t.starts_with("image/")),
            "a crop is an image"
        );
    }
    api.post_json(
        &format!("/v1/review/{}", uncertain["id"]),
        &json!({"answer": "B"}),
    )
    .expect(200);
    api.post_json(
        &format!("/v1/review/{}", lost["id"]),
        &json!({"sheet_code": truths[unidentified].sheet_code.printed()}),
    )
    .expect(200);
    let after = results_csv(&api, &exam_id);
    assert_eq!(after.len(), STUDENTS, "every student scored: {after:?}");
    assert_scores(&after, &expected, "after review");

    // Annul the question most students got wrong: every score is the truth's under the new
    // rules, and some went up.
    let mut exam = fx.bundle.exam.clone();
    let target = 5u32;
    exam.questions[target as usize - 1].annulled = true;
    api.put_json(
        &format!("/v1/exams/{exam_id}/key"),
        &json!({"changes": [{"question": target, "annulled": true}]}),
    )
    .expect(200);
    let mut rescored = expected_scores_under(&exam, &fx, &truths);
    rescored.insert(
        uncertain_student.clone(),
        score_sheet(&exam, uncertain_version, &uncertain_read)
            .expect("scores")
            .score,
    );
    let annulled = results_csv(&api, &exam_id);
    assert_scores(&annulled, &rescored, "after annulling");
    assert!(
        annulled
            .iter()
            .any(|(s, (score, _))| (score - after[s].0).abs() > 1e-9),
        "annulling a question changes some score"
    );
    eprintln!("done in {:?}", started.elapsed());
}

/// Pages without what may differ between two answers about the same scan (timestamps).
fn strip_volatile(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .map(|p| {
            let mut p = p.clone();
            if let Some(o) = p.as_object_mut() {
                o.retain(|k, _| !k.ends_with("_at") && k != "already_graded");
            }
            p
        })
        .collect()
}

#[test]
fn acceptance_flow_on_postgres() {
    the_acceptance_flow(|_| Db::postgres());
}

#[test]
fn acceptance_flow_on_the_default_sqlite() {
    the_acceptance_flow(Db::default_sqlite);
}
