//! The repository contract, run against both backends: every test below runs once on an SQLite
//! file and once on Postgres (`GABARITO_TEST_POSTGRES`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`), each run in its own fresh schema.

mod common;

use std::time::Duration;

use common::*;
use model::SheetCode;
use model::exam::{Key, KeyAnswer};
use model::scoring::{AnswerState, ReadAnswer, score_sheet};
use store::{
    GradedPage, JobStatus, NewBundle, Resolution, ReviewStatus, ScanStatus, Scope, Store,
    StoreError, results,
};

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    crate::common::run_sqlite(super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    crate::common::run_postgres(super::$name).await
                }
            }
        )*
    };
}

contract!(
    migrations_are_idempotent,
    registers_exams_and_sheets,
    tenant_isolation,
    same_bytes_are_graded_once,
    later_scan_of_a_sheet_counts,
    anonymous_sheets_take_the_student_number_read,
    failed_recording_leaves_the_scan_to_grade,
    rescoring_follows_key_annulment_and_weight,
    review_resolution_rescores_the_sheet,
    results_and_item_statistics,
    jobs_are_claimed_once,
    concurrent_workers_share_nothing,
    racing_registrations_of_one_bundle_make_one_exam,
    a_bundle_naming_its_exam_is_registered_under_that_id,
    api_tokens_grant_their_tenant_and_scopes,
    jobs_are_claimed_across_tenants,
    concurrent_claimers_never_share_a_job,
    expired_leases_are_claimed_again_until_max_attempts,
    released_jobs_do_not_count_an_attempt,
    bundles_take_their_status_from_their_job,
    scan_batches_follow_their_scans,
    a_chunk_records_what_single_scans_record,
    concurrent_chunks_count_each_scan_and_sheet_once,
    booklet_pages_are_registered_and_never_scored,
);

async fn migrations_are_idempotent(store: Store) {
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
}

async fn registers_exams_and_sheets(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(3));
    let id = store.register_bundle(&t, &bundle).await.expect("register");
    let stored = store.exam(&t, &id).await.expect("exam").expect("exists");
    assert_eq!(stored.exam, bundle.exam);
    assert_eq!(stored.revision, 1);
    let listed = store.exams(&t).await.expect("exams");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    let sheets = store.sheets(&t, &id).await.expect("sheets");
    assert_eq!(sheets.len(), 3);
    let page = &bundle.pages[1];
    let sheet = store
        .sheet(&t, &page.sheet_code)
        .await
        .expect("sheet")
        .expect("registered");
    assert_eq!(sheet.exam_id, id);
    assert_eq!(sheet.version, "B");
    assert_eq!(sheet.student_id.as_deref(), Some("002"));
    assert_eq!(sheet.layout, *page.layout);
    assert_eq!(sheet.sheet_group, page.sheet_code);
    assert_eq!(sheet.layout_version, bundle.layout_version);
    assert!(
        store
            .sheet(&t, &SheetCode::random())
            .await
            .expect("sheet")
            .is_none()
    );
    // A second bundle of the same exam for another class.
    let more = bundle_for(&bundle.exam, &[("100", "Zé", "3B")]);
    store
        .register_sheets(&t, &id, more.layout_version, &more.pages)
        .await
        .expect("more sheets");
    assert_eq!(store.sheets(&t, &id).await.expect("sheets").len(), 4);
    assert!(matches!(
        store.register_sheets(&t, "ex-none", 1, &more.pages).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn tenant_isolation(store: Store) {
    let a = tenant("escola-a");
    let b = tenant("escola-b");
    let objects_dir = tempfile::tempdir().expect("tempdir");
    let objects = store::LocalObjects::new(objects_dir.path());

    let bundle_a = bundle(&exam(), &roster(2));
    let exam_a = store.register_bundle(&a, &bundle_a).await.expect("a");
    let bundle_b = bundle(&exam(), &roster(2));
    let exam_b = store.register_bundle(&b, &bundle_b).await.expect("b");

    // B grades a sheet with an uncertain mark and queues a job.
    let bytes = b"the same scanner bytes in two schools".to_vec();
    let scan_b = store::ingest_scan(&store, &objects, &b, "b.png", &bytes)
        .await
        .expect("ingest b");
    let code_b = bundle_b.pages[0].sheet_code;
    let mut answers = all_right(&bundle_b.exam, "A");
    answers[1].state = AnswerState::Uncertain;
    store
        .record_grading(&b, scan_b.scan.id, &[page(1, code_b, answers)])
        .await
        .expect("grade b");
    let item_b = store.review_items(&b, None, true).await.expect("review")[0].id;
    store
        .enqueue_job(&b, "grade-scan", "{}")
        .await
        .expect("job b");

    // The same bytes in A are A's own scan.
    let scan_a = store::ingest_scan(&store, &objects, &a, "a.png", &bytes)
        .await
        .expect("ingest a");
    assert!(scan_a.new);
    assert_ne!(scan_a.scan.id, scan_b.scan.id);
    assert_eq!(scan_a.scan.status, ScanStatus::Received);

    // Nothing of B through A.
    assert!(store.exam(&a, &exam_b).await.expect("exam").is_none());
    let exams = store.exams(&a).await.expect("exams");
    assert_eq!(exams.len(), 1);
    assert_eq!(exams[0].id, exam_a);
    assert!(store.sheet(&a, &code_b).await.expect("sheet").is_none());
    assert!(store.sheets(&a, &exam_b).await.expect("sheets").is_empty());
    assert!(store.scores(&a, &exam_b).await.expect("scores").is_empty());
    assert!(matches!(
        store.results(&a, &exam_b).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .scan(&a, scan_b.scan.id)
            .await
            .expect("scan")
            .is_none()
    );
    let scans = store.scans(&a).await.expect("scans");
    assert_eq!(scans.len(), 1);
    assert_eq!(scans[0].id, scan_a.scan.id);
    assert_eq!(
        store
            .scan_by_hash(&a, &scan_b.scan.content_hash)
            .await
            .expect("by hash")
            .map(|s| s.id),
        Some(scan_a.scan.id)
    );
    assert!(
        store
            .review_items(&a, None, false)
            .await
            .expect("review")
            .is_empty()
    );
    assert!(
        store
            .review_items(&a, Some(&exam_b), false)
            .await
            .expect("review")
            .is_empty()
    );
    assert!(store.review_item(&a, item_b).await.expect("item").is_none());
    assert!(
        store
            .pages_of_sheet(&a, &code_b)
            .await
            .expect("pages")
            .is_empty()
    );
    assert!(matches!(
        store
            .resolve_review(&a, item_b, &Resolution::Choices(vec!["B".into()]))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.record_grading(&a, scan_b.scan.id, &[]).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.annul_question(&a, &exam_b, 1, true).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.rescore_exam(&a, &exam_b).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .claim_job(&a, "w", Duration::from_secs(60))
            .await
            .expect("claim")
            .is_none()
    );

    // A scan in A naming B's sheet is not identified as B's sheet.
    let outcome = store
        .record_grading(
            &a,
            scan_a.scan.id,
            &[page(1, code_b, all_right(&bundle_b.exam, "A"))],
        )
        .await
        .expect("grade a");
    let p = &outcome.pages[0];
    assert!(
        p.error
            .as_deref()
            .is_some_and(|e| e.contains("not registered"))
    );
    assert!(p.score.is_none());
    assert!(store.scores(&a, &exam_a).await.expect("scores").is_empty());

    // And B still sees exactly its own.
    assert_eq!(store.scores(&b, &exam_b).await.expect("scores").len(), 1);
    assert_eq!(
        store
            .review_items(&b, None, true)
            .await
            .expect("review")
            .len(),
        1
    );
    assert!(
        store
            .claim_job(&b, "w", Duration::from_secs(60))
            .await
            .expect("claim")
            .is_some()
    );
}

async fn same_bytes_are_graded_once(store: Store) {
    let t = tenant("escola-a");
    let objects_dir = tempfile::tempdir().expect("tempdir");
    let objects = store::LocalObjects::new(objects_dir.path());
    let bundle = bundle(&exam(), &roster(1));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let bytes = b"scan of sheet 1".to_vec();
    let first = store::ingest_scan(&store, &objects, &t, "1.png", &bytes)
        .await
        .expect("ingest");
    assert!(first.new);
    use store::ObjectStore;
    assert_eq!(
        objects
            .get(&first.scan.object_key)
            .await
            .expect("stored first"),
        bytes
    );
    let code = bundle.pages[0].sheet_code;
    let graded = store
        .record_grading(
            &t,
            first.scan.id,
            &[page(1, code, all_right(&bundle.exam, "A"))],
        )
        .await
        .expect("grade");
    assert!(!graded.already_graded);
    assert_eq!(graded.pages[0].score.as_ref().map(|s| s.score), Some(6.0));

    let again = store::ingest_scan(&store, &objects, &t, "copy-of-1.png", &bytes)
        .await
        .expect("ingest again");
    assert!(!again.new);
    assert_eq!(again.scan.id, first.scan.id);
    assert_eq!(again.scan.status, ScanStatus::Graded);
    assert!(!again.scan.status.needs_grading());
    assert_eq!(again.scan.file_name, "1.png");
    let twice = store
        .record_grading(
            &t,
            first.scan.id,
            &[page(1, code, all_right(&bundle.exam, "A"))],
        )
        .await
        .expect("grade twice");
    assert!(twice.already_graded);
    assert_eq!(store.scans(&t).await.expect("scans").len(), 1);
    assert_eq!(
        store.pages_of_sheet(&t, &code).await.expect("pages").len(),
        1
    );
    assert_eq!(store.scores(&t, &exam_id).await.expect("scores").len(), 1);
}

async fn later_scan_of_a_sheet_counts(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(2));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let code = bundle.pages[0].sheet_code;
    let first = receive(&store, &t, b"first image").await;
    let mut wrong = all_right(&bundle.exam, "A");
    wrong[0].marked = vec![4];
    store
        .record_grading(&t, first, &[page(1, code, wrong)])
        .await
        .expect("first");
    let score = |s: &[store::SheetScore]| s[0].score.score;
    assert_eq!(
        score(&store.scores(&t, &exam_id).await.expect("scores")),
        5.0
    );

    let second = receive(&store, &t, b"second image of the same sheet").await;
    let outcome = store
        .record_grading(&t, second, &[page(1, code, all_right(&bundle.exam, "A"))])
        .await
        .expect("second");
    assert_eq!(outcome.pages[0].score.as_ref().map(|s| s.score), Some(6.0));
    let scores = store.scores(&t, &exam_id).await.expect("scores");
    assert_eq!(scores.len(), 1);
    assert_eq!(score(&scores), 6.0);

    let pages = store.pages_of_sheet(&t, &code).await.expect("pages");
    assert_eq!(pages.len(), 2, "the earlier scan is kept for audit");
    assert_eq!(pages[0].scan_id, first);
    assert!(pages[0].superseded);
    assert_eq!(pages[1].scan_id, second);
    assert!(!pages[1].superseded);
    let results = store.results(&t, &exam_id).await.expect("results");
    assert_eq!(results.students.len(), 1);
    assert_eq!(results.students[0].score, 6.0);
    assert_eq!(store.scans(&t).await.expect("scans").len(), 2);
}

async fn anonymous_sheets_take_the_student_number_read(store: Store) {
    let t = tenant("escola-a");
    let mut bundle = bundle(&exam(), &roster(2));
    for p in &mut bundle.pages {
        (p.student_id, p.student_name, p.class) = (None, None, None);
    }
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let [a, b] = [bundle.pages[0].sheet_code, bundle.pages[1].sheet_code];
    let first = receive(&store, &t, b"anonymous sheet").await;
    let outcome = store
        .record_grading(
            &t,
            first,
            &[GradedPage {
                student_number: Some("20260042".into()),
                outcome: None,
                ..page(1, a, all_right(&bundle.exam, "A"))
            }],
        )
        .await
        .expect("record");
    assert_eq!(outcome.pages[0].student_id.as_deref(), Some("20260042"));
    // A grid that could not be read leaves the sheet without a student, still scored.
    let second = receive(&store, &t, b"unreadable grid").await;
    store
        .record_grading(&t, second, &[page(1, b, all_right(&bundle.exam, "B"))])
        .await
        .expect("record");
    let results = store.results(&t, &exam_id).await.expect("results");
    let mut students: Vec<(Option<&str>, f64)> = results
        .students
        .iter()
        .map(|s| (s.student_id.as_deref(), s.score))
        .collect();
    students.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(students, [(None, 6.0), (Some("20260042"), 6.0)]);

    // A re-scan whose grid reads another number: the scan that counts names the student.
    let third = receive(&store, &t, b"anonymous sheet, rescanned").await;
    store
        .record_grading(
            &t,
            third,
            &[GradedPage {
                student_number: Some("20260043".into()),
                outcome: None,
                ..page(1, a, all_right(&bundle.exam, "A"))
            }],
        )
        .await
        .expect("record");
    let scores = store.scores(&t, &exam_id).await.expect("scores");
    assert!(
        scores
            .iter()
            .any(|s| s.student_id.as_deref() == Some("20260043")),
        "{scores:?}"
    );
    assert!(
        scores
            .iter()
            .all(|s| s.student_id.as_deref() != Some("20260042"))
    );
}

async fn failed_recording_leaves_the_scan_to_grade(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(1));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let code = bundle.pages[0].sheet_code;
    let scan = receive(&store, &t, b"an image").await;
    let mut bad = all_right(&bundle.exam, "A");
    bad.push(ReadAnswer {
        question: 99,
        marked: vec![0],
        state: AnswerState::Answered,
    });
    // Two pages: the first fine, the second wrong; nothing of either may remain.
    let err = store
        .record_grading(
            &t,
            scan,
            &[
                page(1, code, all_right(&bundle.exam, "A")),
                page(2, code, bad),
            ],
        )
        .await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    let record = store.scan(&t, scan).await.expect("scan").expect("exists");
    assert_eq!(record.status, ScanStatus::Received);
    assert!(
        store
            .pages_of_sheet(&t, &code)
            .await
            .expect("pages")
            .is_empty()
    );
    assert!(store.scores(&t, &exam_id).await.expect("scores").is_empty());
    let outcome = store
        .record_grading(&t, scan, &[page(1, code, all_right(&bundle.exam, "A"))])
        .await
        .expect("regrade");
    assert!(!outcome.already_graded);
    assert_eq!(
        store.pages_of_sheet(&t, &code).await.expect("pages").len(),
        1
    );

    // A file that cannot be graded at all is final, with a review item.
    let broken = receive(&store, &t, b"not an image").await;
    assert!(
        store
            .record_scan_failure(&t, broken, "unsupported format")
            .await
            .expect("fail")
    );
    assert!(
        !store
            .record_scan_failure(&t, broken, "again")
            .await
            .expect("fail")
    );
    let record = store.scan(&t, broken).await.expect("scan").expect("exists");
    assert_eq!(record.status, ScanStatus::Failed);
    assert_eq!(record.error.as_deref(), Some("unsupported format"));
    let items = store.review_items(&t, None, true).await.expect("review");
    assert_eq!(items.len(), 1);
    assert!(items[0].reason.contains("unsupported format"));
}

async fn rescoring_follows_key_annulment_and_weight(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(4));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    // Student i answers question i+1 wrong (choice E), the rest right.
    for (i, p) in bundle.pages.iter().enumerate() {
        let mut answers = all_right(&bundle.exam, &p.version);
        answers[i].marked = vec![4];
        let scan = receive(&store, &t, format!("scan {i}").as_bytes()).await;
        store
            .record_grading(&t, scan, &[page(1, p.sheet_code, answers)])
            .await
            .expect("grade");
    }
    let expect_scores = |exam: &model::Exam| {
        bundle
            .pages
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut answers = all_right(&bundle.exam, &p.version);
                answers[i].marked = vec![4];
                score_sheet(exam, &p.version, &answers).expect("score")
            })
            .collect::<Vec<_>>()
    };
    let stored = |scores: Vec<store::SheetScore>| {
        bundle
            .pages
            .iter()
            .map(|p| {
                scores
                    .iter()
                    .find(|s| s.sheet_group == p.sheet_code.printed())
                    .map(|s| s.score.clone())
                    .expect("scored")
            })
            .collect::<Vec<_>>()
    };
    let mut exam = bundle.exam.clone();
    assert_eq!(
        stored(store.scores(&t, &exam_id).await.expect("scores")),
        expect_scores(&exam)
    );

    // Key change: question 1 becomes E, so student 0 is now right there and the rest wrong.
    let report = store
        .set_key(&t, &exam_id, 1, Key::Same(KeyAnswer::One("E".into())))
        .await
        .expect("set key");
    assert_eq!(report.sheets, 4);
    assert_eq!(report.revision, 2);
    exam.questions[0].key = Key::Same(KeyAnswer::One("E".into()));
    let now = stored(store.scores(&t, &exam_id).await.expect("scores"));
    assert_eq!(now, expect_scores(&exam));
    assert_eq!(now[0].score, 6.0);
    assert_eq!(now[1].score, 4.0);

    // Annulment: question 2 gives everyone its weight.
    store
        .annul_question(&t, &exam_id, 2, true)
        .await
        .expect("annul");
    exam.questions[1].annulled = true;
    let now = stored(store.scores(&t, &exam_id).await.expect("scores"));
    assert_eq!(now, expect_scores(&exam));
    assert_eq!(now[1].score, 5.0);

    // Weight: question 3 now counts 3.
    let report = store
        .set_weight(&t, &exam_id, 3, 3.0)
        .await
        .expect("weight");
    assert_eq!(report.revision, 4);
    exam.questions[2].weight = 3.0;
    let now = stored(store.scores(&t, &exam_id).await.expect("scores"));
    assert_eq!(now, expect_scores(&exam));
    assert_eq!(now[0].max_score, 8.0);
    let scores = store.scores(&t, &exam_id).await.expect("scores");
    assert!(scores.iter().all(|s| s.exam_revision == 4));
    assert_eq!(
        store
            .exam(&t, &exam_id)
            .await
            .expect("exam")
            .expect("exists")
            .exam,
        exam
    );

    // The whole exam at once, and a change that would break printed sheets.
    let mut changed = exam.clone();
    changed.scoring.wrong = -1.0;
    store
        .update_exam(&t, &exam_id, &changed)
        .await
        .expect("update");
    let now = stored(store.scores(&t, &exam_id).await.expect("scores"));
    assert_eq!(now, expect_scores(&changed));
    let mut broken = changed.clone();
    broken.questions.pop();
    assert!(matches!(
        store.update_exam(&t, &exam_id, &broken).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.annul_question(&t, &exam_id, 9, true).await,
        Err(StoreError::Invalid(_))
    ));
    let report = store.rescore_exam(&t, &exam_id).await.expect("rescore");
    assert_eq!(report.sheets, 4);
    assert_eq!(report.revision, 5);
}

async fn review_resolution_rescores_the_sheet(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(2));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let code = bundle.pages[0].sheet_code;
    let mut answers = all_right(&bundle.exam, "A");
    answers[1].state = AnswerState::Uncertain;
    let scan = receive(&store, &t, b"uncertain").await;
    let mut graded = page(1, code, answers);
    graded
        .review
        .push(model::outcome::ReviewReason::PageTooDark { empty_level: 0.45 });
    let outcome = store
        .record_grading(&t, scan, &[graded])
        .await
        .expect("grade");
    let score = outcome.pages[0].score.clone().expect("scored");
    assert_eq!(score.pending, vec![2]);
    assert_eq!(score.score, 5.0);
    assert_eq!(outcome.pages[0].review_items.len(), 2);

    // An unidentified page goes to review too.
    let lost = receive(&store, &t, b"no qr").await;
    let outcome = store
        .record_grading(
            &t,
            lost,
            &[GradedPage {
                page: 1,
                sheet_code: None,
                identified_by: None,
                answers: Vec::new(),
                review: Vec::new(),
                error: None,
                student_number: None,
                outcome: None,
            }],
        )
        .await
        .expect("grade lost");
    assert_eq!(
        outcome.pages[0].error.as_deref(),
        Some("sheet not identified")
    );

    let items = store
        .review_items(&t, Some(&exam_id), true)
        .await
        .expect("review");
    assert_eq!(items.len(), 2, "{items:?}");
    let mark = items
        .iter()
        .find(|i| i.question == Some(2))
        .expect("mark item");
    assert_eq!(mark.student_id.as_deref(), Some("001"));
    assert_eq!(mark.sheet_code.as_deref(), Some(code.printed().as_str()));
    assert_eq!(mark.page, Some(1));
    let stray = items
        .iter()
        .find(|i| i.question.is_none())
        .expect("page item");
    assert_eq!(
        store.review_items(&t, None, true).await.expect("all").len(),
        3
    );

    assert!(matches!(
        store
            .resolve_review(&t, mark.id, &Resolution::Choices(vec!["Z".into()]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store
            .resolve_review(&t, stray.id, &Resolution::Choices(vec!["A".into()]))
            .await,
        Err(StoreError::Invalid(_))
    ));
    let resolved = store
        .resolve_review(&t, mark.id, &Resolution::Choices(vec!["b".into()]))
        .await
        .expect("resolve");
    assert_eq!(resolved.item.status, ReviewStatus::Resolved);
    assert_eq!(resolved.item.resolution.as_deref(), Some("B"));
    let score = resolved.score.expect("rescored");
    assert!(score.pending.is_empty());
    assert_eq!(score.score, 6.0);
    let stored = store.scores(&t, &exam_id).await.expect("scores");
    assert_eq!(stored[0].score, score);
    // The resolution survives a re-scoring of the whole exam.
    store.rescore_exam(&t, &exam_id).await.expect("rescore");
    assert_eq!(
        store.scores(&t, &exam_id).await.expect("scores")[0].score,
        score
    );

    let dismissed = store
        .resolve_review(&t, stray.id, &Resolution::Dismiss)
        .await
        .expect("dismiss");
    assert_eq!(dismissed.item.status, ReviewStatus::Dismissed);
    assert!(dismissed.score.is_none());
    assert!(
        store
            .review_items(&t, Some(&exam_id), true)
            .await
            .expect("review")
            .is_empty()
    );
    assert_eq!(
        store
            .review_items(&t, Some(&exam_id), false)
            .await
            .expect("review")
            .len(),
        2
    );

    // Blank is a resolution too.
    let mut answers = all_right(&bundle.exam, "B");
    answers[0].state = AnswerState::Uncertain;
    let scan = receive(&store, &t, b"second student").await;
    let outcome = store
        .record_grading(&t, scan, &[page(1, bundle.pages[1].sheet_code, answers)])
        .await
        .expect("grade");
    let item = outcome.pages[0].review_items[0];
    let resolved = store
        .resolve_review(&t, item, &Resolution::Blank)
        .await
        .expect("blank");
    assert_eq!(resolved.score.map(|s| s.score), Some(5.0));
}

async fn results_and_item_statistics(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(4));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    // Students 0 and 1 all right; 2 and 3 miss question 1 (choose D) and leave 5 blank.
    for (i, p) in bundle.pages.iter().enumerate() {
        let mut answers = all_right(&bundle.exam, &p.version);
        if i >= 2 {
            answers[0].marked = vec![3];
            answers[4] = ReadAnswer {
                question: 5,
                marked: Vec::new(),
                state: AnswerState::Blank,
            };
        }
        let scan = receive(&store, &t, format!("scan {i}").as_bytes()).await;
        store
            .record_grading(&t, scan, &[page(1, p.sheet_code, answers)])
            .await
            .expect("grade");
    }
    let r = store.results(&t, &exam_id).await.expect("results");
    assert_eq!(r.students.len(), 4);
    assert_eq!(r.questions, 5);
    let s0 = r
        .students
        .iter()
        .find(|s| s.student_id.as_deref() == Some("001"))
        .expect("student 001");
    assert_eq!(s0.name, "Aluno 1");
    assert_eq!(s0.class, "3A");
    assert_eq!((s0.score, s0.max_score), (6.0, 6.0));
    let s3 = r
        .students
        .iter()
        .find(|s| s.student_id.as_deref() == Some("004"))
        .expect("student 004");
    assert_eq!(s3.score, 4.0);
    assert_eq!(s3.answers[0].marked, vec!["D".to_string()]);
    assert!(!s3.answers[0].right);
    let q1 = &r.items[0];
    assert_eq!(q1.sheets, 4);
    assert_eq!(q1.right, 2);
    assert_eq!(q1.difficulty, Some(0.5));
    assert_eq!(
        q1.options.iter().map(|o| o.count).collect::<Vec<_>>(),
        vec![0, 0, 2, 2, 0]
    );
    assert!(q1.discrimination.is_some_and(|d| d > 0.5));
    assert_eq!(r.items[4].blank, 2);
    assert_eq!(r.items[1].difficulty, Some(1.0));

    let mut csv = Vec::new();
    results::write_csv(&r, &mut csv).expect("csv");
    let text = String::from_utf8(csv).expect("utf8");
    assert!(
        text.starts_with("student_id,name,class,version,score,max_score,q1,q2,q3,q4,q5\n"),
        "{text}"
    );
    assert!(text.contains("\n001,Aluno 1,3A,A,6,6,"), "{text}");
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["students"].as_array().map(Vec::len), Some(4));
}

async fn jobs_are_claimed_once(store: Store) {
    let t = tenant("escola-a");
    let first = store
        .enqueue_job(&t, "grade-scan", r#"{"scan":1}"#)
        .await
        .expect("enqueue");
    let second = store
        .enqueue_job(&t, "grade-scan", r#"{"scan":2}"#)
        .await
        .expect("enqueue");
    let lease = Duration::from_secs(600);
    let a = store
        .claim_job(&t, "w1", lease)
        .await
        .expect("claim")
        .expect("job");
    let b = store
        .claim_job(&t, "w2", lease)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((a.id, b.id), (first, second));
    assert_eq!(a.attempts, 1);
    assert!(
        store
            .claim_job(&t, "w3", lease)
            .await
            .expect("claim")
            .is_none()
    );
    store.complete_job(&t, a.id).await.expect("complete");
    store
        .fail_job(&t, b.id, "transient", Some(Duration::ZERO))
        .await
        .expect("fail");
    let again = store
        .claim_job(&t, "w3", lease)
        .await
        .expect("claim")
        .expect("retry");
    assert_eq!((again.id, again.attempts), (second, 2));
    store
        .fail_job(&t, again.id, "permanent", None)
        .await
        .expect("fail");
    assert!(
        store
            .claim_job(&t, "w4", lease)
            .await
            .expect("claim")
            .is_none()
    );
    // A lease that ran out makes the job claimable again.
    let third = store.enqueue_job(&t, "k", "{}").await.expect("enqueue");
    let c = store
        .claim_job(&t, "w5", Duration::ZERO)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(c.id, third);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let c2 = store
        .claim_job(&t, "w6", lease)
        .await
        .expect("claim")
        .expect("expired lease");
    assert_eq!((c2.id, c2.attempts), (third, 2));
    assert!(matches!(
        store.complete_job(&t, 999_999).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn concurrent_workers_share_nothing(store: Store) {
    let t = tenant("escola-a");
    for i in 0..20 {
        store
            .enqueue_job(&t, "k", &format!("{{\"i\":{i}}}"))
            .await
            .expect("enqueue");
    }
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (store, t) = (store.clone(), t.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = store
                    .claim_job(&t, &format!("w{w}"), Duration::from_secs(600))
                    .await
                    .expect("claim")
                {
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (20, 20), "every job claimed exactly once");

    // Two instances recording the same scan at once: one records, the other finds it graded.
    let bundle = bundle(&exam(), &roster(1));
    store.register_bundle(&t, &bundle).await.expect("register");
    let scan = receive(&store, &t, b"raced").await;
    let code = bundle.pages[0].sheet_code;
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (store, t, answers) = (store.clone(), t.clone(), all_right(&bundle.exam, "A"));
            tokio::spawn(async move {
                store
                    .record_grading(&t, scan, &[page(1, code, answers)])
                    .await
                    .expect("record")
                    .already_graded
            })
        })
        .collect();
    let mut recorded = 0;
    for r in racers {
        if !r.await.expect("racer") {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
    assert_eq!(
        store.pages_of_sheet(&t, &code).await.expect("pages").len(),
        1
    );
}

/// Runs started at once on a database that does not know the bundle all register it: one exam
/// holding every page, whose id each of them learns (never a second, empty exam).
async fn racing_registrations_of_one_bundle_make_one_exam(store: Store) {
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(12));
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (store, t, bundle) = (store.clone(), t.clone(), bundle.clone());
            tokio::spawn(async move { store.ensure_bundle(&t, &bundle).await.expect("register") })
        })
        .collect();
    let mut ids = Vec::new();
    let mut new = 0;
    for r in racers {
        let registered = r.await.expect("racer");
        new += usize::from(registered.new);
        ids.push(registered.exam_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every racer learns the one exam: {ids:?}");
    assert_eq!(new, 1, "one racer registered it");
    let exams = store.exams(&t).await.expect("exams");
    assert_eq!(exams.len(), 1, "one exam, no empty twin: {exams:?}");
    assert_eq!(
        store.sheets(&t, &ids[0]).await.expect("sheets").len(),
        bundle.pages.len()
    );
}

/// A manifest that names its exam (rendered against another database) is registered under
/// that id, so that `grader results <exam_id>` finds it; registering it again changes nothing.
async fn a_bundle_naming_its_exam_is_registered_under_that_id(store: Store) {
    let t = tenant("escola-a");
    let mut bundle = bundle(&exam(), &roster(3));
    bundle.exam_id = Some("ex-from-elsewhere".into());
    let first = store.ensure_bundle(&t, &bundle).await.expect("register");
    assert_eq!(first.exam_id, "ex-from-elsewhere");
    assert!(first.new);
    let again = store.register_bundle(&t, &bundle).await.expect("again");
    assert_eq!(again, "ex-from-elsewhere");
    assert_eq!(store.exams(&t).await.expect("exams").len(), 1);
    assert_eq!(
        store
            .sheets(&t, "ex-from-elsewhere")
            .await
            .expect("sheets")
            .len(),
        3
    );
    // Racing runs with such a manifest also meet in that one exam.
    let mut other = common::bundle(&exam(), &roster(4));
    other.exam_id = Some("ex-raced".into());
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let (store, t, other) = (store.clone(), t.clone(), other.clone());
            tokio::spawn(async move { store.register_bundle(&t, &other).await.expect("register") })
        })
        .collect();
    for r in racers {
        assert_eq!(r.await.expect("racer"), "ex-raced");
    }
    assert_eq!(store.sheets(&t, "ex-raced").await.expect("sheets").len(), 4);
}

/// Many processes writing one SQLite file at once (here: stores of their own, each with its
/// own connection, as separate `grader grade` runs have): every write goes through, none fails
/// with "database is locked", every scan ends graded exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_on_one_sqlite_file_all_finish() {
    const WRITERS: usize = 6;
    const SCANS: usize = 25;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("shared.sqlite").display());
    let setup = Store::connect(&url).await.expect("open");
    setup.migrate().await.expect("migrate");
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(SCANS));
    setup.register_bundle(&t, &bundle).await.expect("register");
    setup.close().await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (url, t, bundle) = (url.clone(), t.clone(), bundle.clone());
            tokio::spawn(async move {
                let store = Store::connect(&url).await.expect("open");
                store.migrate().await.expect("migrate");
                let mut recorded = 0;
                // Every writer records every scan (the same bytes): one of them grades each.
                for i in 0..SCANS {
                    let p = &bundle.pages[(i + w) % SCANS];
                    let bytes = format!("scan of {}", p.sheet_code.printed());
                    let scan = receive(&store, &t, bytes.as_bytes()).await;
                    let answers = all_right(&bundle.exam, &p.version);
                    let outcome = store
                        .record_grading(&t, scan, &[page(1, p.sheet_code, answers)])
                        .await
                        .unwrap_or_else(|e| panic!("writer {w}, scan {i}: {e}"));
                    recorded += usize::from(!outcome.already_graded);
                }
                store.close().await;
                recorded
            })
        })
        .collect();
    let mut recorded = 0;
    for w in writers {
        recorded += w.await.expect("writer");
    }
    assert_eq!(recorded, SCANS, "each scan graded by exactly one writer");
    let store = Store::connect(&url).await.expect("open");
    let scans = store.scans(&t).await.expect("scans");
    assert_eq!(scans.len(), SCANS);
    assert!(scans.iter().all(|s| s.status == ScanStatus::Graded));
    for p in &bundle.pages {
        assert_eq!(
            store
                .pages_of_sheet(&t, &p.sheet_code)
                .await
                .expect("pages")
                .len(),
            1
        );
    }
    store.close().await;
}

/// A database opened read-only (`?mode=ro`: SQLite refuses every write, also for root) can be
/// read, since opening it writes nothing when its schema is current; a write says, in one line,
/// which database is read-only.
#[tokio::test]
async fn a_read_only_sqlite_file_can_be_read_and_refuses_writes_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ro.sqlite");
    let store = Store::connect(&format!("sqlite:{}", file.display()))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let t = tenant("escola-a");
    let bundle = bundle(&exam(), &roster(2));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    store.close().await;

    let ro = Store::connect(&format!("sqlite:{}?mode=ro", file.display()))
        .await
        .expect("open read-only");
    ro.migrate().await.expect("a current schema needs no write");
    assert_eq!(ro.exams(&t).await.expect("exams").len(), 1);
    ro.results(&t, &exam_id).await.expect("results");
    let error = ro
        .receive_scan(
            &t,
            &store::NewScan {
                content_hash: store::content_hash(b"x"),
                object_key: "k".into(),
                byte_len: 1,
                file_name: "x.png".into(),
            },
        )
        .await
        .expect_err("a write on a read-only file");
    assert!(matches!(error, StoreError::ReadOnly { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("database sqlite:{} is read-only", file.display())
    );
    ro.close().await;
}

/// An SQLite file in a folder that does not exist: the message names the file and the folder.
#[tokio::test]
async fn a_database_in_a_missing_folder_is_named() {
    let error = Store::connect("/no/such/dir/x.sqlite")
        .await
        .expect_err("no folder");
    assert_eq!(
        error.to_string(),
        "cannot open database /no/such/dir/x.sqlite: folder /no/such/dir does not exist"
    );
    let error = Store::connect("sqlite:/no/such/dir/x.sqlite")
        .await
        .expect_err("no folder");
    assert!(
        matches!(error, StoreError::MissingFolder { .. }),
        "{error:?}"
    );
}

/// A Postgres error reaches the user as the server's message, without the position in the
/// server's source that the driver appends ("… at line 334").
#[tokio::test]
async fn postgres_errors_carry_no_server_source_line() {
    let mut schema = common::PgSchema::create().await;
    let t = tenant("escola-a");
    schema.store.ensure_tenant(&t, "A").await.expect("tenant");
    schema.execute("DROP TABLE exams CASCADE").await;
    let error = schema.store.exams(&t).await.expect_err("no exams table");
    let mut chain = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push(cause.to_string());
        source = cause.source();
    }
    schema.drop().await;
    assert!(
        chain[0].contains("relation \"exams\" does not exist"),
        "the server's message: {chain:?}"
    );
    assert!(
        chain.iter().all(|text| !text.contains(" at line ")),
        "no server source line: {chain:?}"
    );
}

// The HTTP services' part of the repository (issue 9).

async fn api_tokens_grant_their_tenant_and_scopes(store: Store) {
    let a = tenant("escola-a");
    let b = tenant("escola-b");
    assert!(matches!(
        store.create_token(&a, &[], None).await,
        Err(StoreError::Invalid(_))
    ));
    let scan = store
        .create_token(
            &a,
            &[Scope::Scan, Scope::Results, Scope::Scan],
            Some("station 1"),
        )
        .await
        .expect("create");
    assert!(scan.token.starts_with("gab_"), "{}", scan.token);
    assert!(scan.token.contains(&scan.id));
    let admin = store
        .create_token(&b, &[Scope::Admin], None)
        .await
        .expect("create");

    let grant = store
        .verify_token(&scan.token)
        .await
        .expect("verify")
        .expect("valid");
    assert_eq!(grant.tenant, a);
    assert_eq!(grant.token_id, scan.id);
    assert_eq!(grant.scopes, vec![Scope::Scan, Scope::Results]);
    assert!(grant.allows(Scope::Scan) && !grant.allows(Scope::Render));
    let grant_b = store
        .verify_token(&admin.token)
        .await
        .expect("verify")
        .expect("valid");
    assert_eq!(grant_b.tenant, b);
    assert!(grant_b.allows(Scope::Render));

    // Wrong, malformed or altered tokens grant nothing.
    let mut altered = scan.token.clone();
    let last = if altered.ends_with('0') { "1" } else { "0" };
    altered.replace_range(altered.len() - 1.., last);
    let other_id = format!("gab_{}_{}", admin.id, &scan.token[scan.token.len() - 64..]);
    for bad in ["", "gab_", "nonsense", &altered, &other_id, &scan.id] {
        assert!(
            store.verify_token(bad).await.expect("verify").is_none(),
            "{bad:?}"
        );
    }

    let listed = store.tokens(Some(&a)).await.expect("tokens");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, scan.id);
    assert_eq!(listed[0].label.as_deref(), Some("station 1"));
    assert_eq!(listed[0].scopes, vec![Scope::Scan, Scope::Results]);
    assert!(listed[0].revoked_at.is_none());
    assert_eq!(store.tokens(None).await.expect("tokens").len(), 2);

    assert!(store.revoke_token(&scan.id).await.expect("revoke"));
    assert!(!store.revoke_token(&scan.id).await.expect("revoke twice"));
    assert!(!store.revoke_token("nosuchtoken1").await.expect("revoke"));
    assert!(
        store
            .verify_token(&scan.token)
            .await
            .expect("verify")
            .is_none()
    );
    assert!(
        store.tokens(Some(&a)).await.expect("tokens")[0]
            .revoked_at
            .is_some()
    );
    // Revoking one leaves the other.
    assert!(
        store
            .verify_token(&admin.token)
            .await
            .expect("verify")
            .is_some()
    );
    store.ping().await.expect("ping");
}

async fn jobs_are_claimed_across_tenants(store: Store) {
    let a = tenant("escola-a");
    let b = tenant("escola-b");
    let lease = Duration::from_secs(600);
    let ja = store
        .enqueue_job(&a, "render-bundle", r#"{"a":1}"#)
        .await
        .expect("a");
    let jb = store
        .enqueue_job(&b, "render-bundle", r#"{"b":1}"#)
        .await
        .expect("b");
    let jg = store.enqueue_job(&b, "grade-batch", "{}").await.expect("g");

    assert!(
        store
            .claim_next_job("w", &[], lease, 3)
            .await
            .expect("claim")
            .is_none()
    );
    let first = store
        .claim_next_job("w1", &["render-bundle"], lease, 3)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((first.id, &first.tenant, first.attempts), (ja, &a, 1));
    assert_eq!(first.payload, r#"{"a":1}"#);
    let second = store
        .claim_next_job("w2", &["render-bundle", "other"], lease, 3)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((second.id, &second.tenant), (jb, &b));
    assert_eq!(second.kind, "render-bundle");
    assert!(
        store
            .claim_next_job("w3", &["render-bundle"], lease, 3)
            .await
            .expect("claim")
            .is_none()
    );
    let counts = store.job_counts().await.expect("counts");
    let count = |kind: &str, status: JobStatus| {
        counts
            .iter()
            .find(|c| c.kind == kind && c.status == status)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count("render-bundle", JobStatus::Running), 2);
    assert_eq!(count("grade-batch", JobStatus::Queued), 1);

    // A job is its tenant's only.
    let record = store.job(&a, ja).await.expect("job").expect("a's");
    assert_eq!((record.status, record.attempts), (JobStatus::Running, 1));
    assert_eq!(record.kind, "render-bundle");
    assert!(store.job(&a, jb).await.expect("job").is_none());

    store.complete_job(&a, ja).await.expect("complete");
    assert_eq!(
        store.job(&a, ja).await.expect("job").expect("a's").status,
        JobStatus::Done
    );
    let g = store
        .claim_next_job("w3", &["grade-batch", "render-bundle"], lease, 3)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(g.id, jg);
}

/// Workers claiming at once (on Postgres, each in a transaction on a connection of its own)
/// never get the same job, and every job is claimed.
async fn concurrent_claimers_never_share_a_job(store: Store) {
    let tenants = [tenant("escola-a"), tenant("escola-b")];
    for i in 0..40 {
        store
            .enqueue_job(&tenants[i % 2], "k", &format!("{{\"i\":{i}}}"))
            .await
            .expect("enqueue");
    }
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = store
                    .claim_next_job(&format!("w{w}"), &["k"], Duration::from_secs(600), 3)
                    .await
                    .expect("claim")
                {
                    mine.push(job.id);
                }
                mine
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!((n, all.len()), (40, 40), "every job claimed exactly once");
}

async fn expired_leases_are_claimed_again_until_max_attempts(store: Store) {
    let t = tenant("escola-a");
    let job = store.enqueue_job(&t, "k", "{}").await.expect("enqueue");
    let short = Duration::ZERO;
    let first = store
        .claim_next_job("dead", &["k"], short, 2)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((first.id, first.attempts), (job, 1));
    assert!(store.renew_job(job, "dead", short).await.expect("renew"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The lease ran out: another worker takes the job, and the first one has lost it.
    let second = store
        .claim_next_job("alive", &["k"], short, 2)
        .await
        .expect("claim")
        .expect("expired lease");
    assert_eq!((second.id, second.attempts), (job, 2));
    assert!(
        !store
            .renew_job(job, "dead", Duration::from_secs(600))
            .await
            .expect("renew")
    );
    // A later job stays claimable while the exhausted one is given up on.
    let next = store.enqueue_job(&t, "k", "{}").await.expect("enqueue");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let third = store
        .claim_next_job("w3", &["k"], Duration::from_secs(600), 2)
        .await
        .expect("claim")
        .expect("the next job");
    assert_eq!(third.id, next);
    let gone = store.job(&t, job).await.expect("job").expect("kept");
    assert_eq!((gone.status, gone.attempts), (JobStatus::Failed, 2));
    assert_eq!(
        gone.last_error.as_deref(),
        Some("gave up after 2 attempts: the worker stopped (lease expired)")
    );
    assert!(
        !store
            .renew_job(job, "alive", Duration::from_secs(600))
            .await
            .expect("renew")
    );
    // A job failed and queued again on its last attempt is given up on with its own error.
    let retried = store.enqueue_job(&t, "r", "{}").await.expect("enqueue");
    let claimed = store
        .claim_next_job("w", &["r"], Duration::from_secs(600), 1)
        .await
        .expect("claim")
        .expect("job");
    store
        .fail_job(&t, claimed.id, "disk full", Some(Duration::ZERO))
        .await
        .expect("fail");
    assert!(
        store
            .claim_next_job("w", &["r"], Duration::from_secs(600), 1)
            .await
            .expect("claim")
            .is_none()
    );
    let record = store.job(&t, retried).await.expect("job").expect("kept");
    assert_eq!(record.status, JobStatus::Failed);
    assert_eq!(
        record.last_error.as_deref(),
        Some("gave up after 1 attempts: disk full")
    );
}

async fn released_jobs_do_not_count_an_attempt(store: Store) {
    let t = tenant("escola-a");
    let lease = Duration::from_secs(600);
    let job = store.enqueue_job(&t, "k", "{}").await.expect("enqueue");
    let claimed = store
        .claim_next_job("w1", &["k"], lease, 1)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.attempts, 1);
    // Only the holder can release it.
    store.release_job(job, "w2").await.expect("release");
    assert_eq!(
        store.job(&t, job).await.expect("job").expect("kept").status,
        JobStatus::Running
    );
    store.release_job(job, "w1").await.expect("release");
    let record = store.job(&t, job).await.expect("job").expect("kept");
    assert_eq!((record.status, record.attempts), (JobStatus::Queued, 0));
    assert!(!store.renew_job(job, "w1", lease).await.expect("renew"));
    // Claimed again at once, as its first attempt (max_attempts 1 still allows it).
    let again = store
        .claim_next_job("w2", &["k"], lease, 1)
        .await
        .expect("claim")
        .expect("released job");
    assert_eq!((again.id, again.attempts), (job, 1));
}

async fn bundles_take_their_status_from_their_job(store: Store) {
    let t = tenant("escola-a");
    let other = tenant("escola-b");
    let exam_id = store.register_exam(&t, &exam()).await.expect("exam");
    let new = NewBundle {
        id: "bd-1",
        exam_id: &exam_id,
        request_json: r#"{"copies":3}"#,
        pages_total: 3,
    };
    assert!(matches!(
        store
            .queue_bundle(&other, &new, "render-bundle", "{}")
            .await,
        Err(StoreError::NotFound { what: "exam", .. })
    ));
    let queued = store
        .queue_bundle(&t, &new, "render-bundle", r#"{"bundle":"bd-1"}"#)
        .await
        .expect("queue");
    assert_eq!(queued.status, JobStatus::Queued);
    assert_eq!((queued.pages_done, queued.pages_total), (0, 3));
    assert_eq!(queued.request_json, r#"{"copies":3}"#);
    assert!(queued.pdf_key.is_none());
    assert!(matches!(
        store.queue_bundle(&t, &new, "render-bundle", "{}").await,
        Err(StoreError::Invalid(_))
    ));
    // The refused second bundle queued no job.
    assert_eq!(
        store
            .job_counts()
            .await
            .expect("counts")
            .iter()
            .map(|c| c.count)
            .sum::<u64>(),
        1
    );
    assert!(
        store
            .bundle(&other, "bd-1")
            .await
            .expect("bundle")
            .is_none()
    );

    let job = store
        .claim_next_job("w", &["render-bundle"], Duration::from_secs(600), 3)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!((job.id, &job.tenant), (queued.job_id, &t));
    store
        .bundle_progress(&t, "bd-1", 2)
        .await
        .expect("progress");
    let running = store
        .bundle(&t, "bd-1")
        .await
        .expect("bundle")
        .expect("kept");
    assert_eq!(
        (running.status, running.pages_done, running.attempts),
        (JobStatus::Running, 2, 1)
    );
    store
        .bundle_written(
            &t,
            "bd-1",
            "escola-a/bundles/bd-1.pdf",
            "escola-a/bundles/bd-1.json",
            1234,
        )
        .await
        .expect("written");
    store.complete_job(&t, job.id).await.expect("complete");
    let done = store
        .bundle(&t, "bd-1")
        .await
        .expect("bundle")
        .expect("kept");
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.pages_done, 3);
    assert_eq!(done.pdf_key.as_deref(), Some("escola-a/bundles/bd-1.pdf"));
    assert_eq!(
        done.manifest_key.as_deref(),
        Some("escola-a/bundles/bd-1.json")
    );
    assert_eq!(done.pdf_bytes, Some(1234));
    assert!(done.updated_at >= running.updated_at);
    assert!(matches!(
        store.bundle_progress(&other, "bd-1", 1).await,
        Err(StoreError::NotFound { .. })
    ));

    // A failed job is a failed bundle, with its error.
    let failing = NewBundle { id: "bd-2", ..new };
    let queued = store
        .queue_bundle(&t, &failing, "render-bundle", "{}")
        .await
        .expect("queue");
    store
        .fail_job(&t, queued.job_id, "font missing", None)
        .await
        .expect("fail");
    let failed = store
        .bundle(&t, "bd-2")
        .await
        .expect("bundle")
        .expect("kept");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("font missing"));
}

async fn scan_batches_follow_their_scans(store: Store) {
    let t = tenant("escola-a");
    let other = tenant("escola-b");
    let bundle = bundle(&exam(), &roster(2));
    store.register_bundle(&t, &bundle).await.expect("register");
    let s1 = receive(&store, &t, b"first").await;
    let s2 = receive(&store, &t, b"second").await;
    let theirs = receive(&store, &other, b"theirs").await;
    assert!(matches!(
        store
            .queue_scan_batch(&t, "sb-1", &[s1, theirs], "grade-batch", "{}")
            .await,
        Err(StoreError::NotFound { what: "scan", .. })
    ));
    assert!(matches!(
        store
            .queue_scan_batch(&t, "sb-1", &[], "grade-batch", "{}")
            .await,
        Err(StoreError::Invalid(_))
    ));
    let batch = store
        .queue_scan_batch(&t, "sb-1", &[s2, s1], "grade-batch", r#"{"batch":"sb-1"}"#)
        .await
        .expect("queue");
    assert_eq!(batch.status, JobStatus::Queued);
    assert_eq!(
        batch
            .scans
            .iter()
            .map(|s| (s.position, s.scan_id))
            .collect::<Vec<_>>(),
        vec![(0, s2), (1, s1)]
    );
    assert!(batch.scans.iter().all(|s| s.status == ScanStatus::Received));
    assert_eq!(batch.scans_done(), 0);
    assert!(matches!(
        store
            .queue_scan_batch(&t, "sb-1", &[s1], "grade-batch", "{}")
            .await,
        Err(StoreError::Invalid(_))
    ));
    assert!(
        store
            .scan_batch(&other, "sb-1")
            .await
            .expect("batch")
            .is_none()
    );

    let job = store
        .claim_next_job("w", &["grade-batch"], Duration::from_secs(600), 3)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(job.id, batch.job_id);
    store
        .record_grading(
            &t,
            s1,
            &[page(
                1,
                bundle.pages[0].sheet_code,
                all_right(&bundle.exam, "A"),
            )],
        )
        .await
        .expect("grade");
    let half = store
        .scan_batch(&t, "sb-1")
        .await
        .expect("batch")
        .expect("kept");
    assert_eq!(half.status, JobStatus::Running);
    assert_eq!(half.scans_done(), 1);
    assert_eq!(half.scans[1].status, ScanStatus::Graded);
    assert_eq!(half.scans[1].file_name, "scan.png");
    store.complete_job(&t, job.id).await.expect("complete");
    assert_eq!(
        store
            .scan_batch(&t, "sb-1")
            .await
            .expect("batch")
            .expect("kept")
            .status,
        JobStatus::Done
    );
}

/// The scans of [`a_chunk_records_what_single_scans_record`]: what grading each produced.
fn chunk_gradings(bundle: &model::Bundle) -> Vec<store::ScanGrading> {
    use model::outcome::ReviewReason;
    let exam = &bundle.exam;
    let code = |i: usize| bundle.pages[i].sheet_code;
    let version = |i: usize| bundle.pages[i].version.clone();
    let mut uncertain = all_right(exam, &version(1));
    uncertain[1].state = AnswerState::Uncertain;
    let mut reviewed = page(1, code(1), uncertain);
    reviewed.review = vec![ReviewReason::StudentNumberBlank];
    let mut unidentified = page(1, code(2), all_right(exam, &version(2)));
    unidentified.sheet_code = None;
    unidentified.identified_by = None;
    let unregistered = page(1, SheetCode::random(), all_right(exam, "A"));
    let mut wrong = all_right(exam, &version(3));
    wrong[0].marked = vec![(wrong[0].marked[0] + 1) % 5];
    vec![
        store::ScanGrading::Pages(vec![page(1, code(0), all_right(exam, &version(0)))]),
        store::ScanGrading::Pages(vec![reviewed]),
        store::ScanGrading::Pages(vec![unidentified]),
        store::ScanGrading::Failed("unsupported format".into()),
        store::ScanGrading::Pages(vec![unregistered]),
        // Two pages of one file: the second a rescan of the fourth sheet, after a wrong one.
        store::ScanGrading::Pages(vec![
            page(1, code(3), wrong),
            page(2, code(3), all_right(exam, &version(3))),
        ]),
    ]
}

/// What a tenant's state looks like, to compare two ways of recording the same gradings.
async fn state_of(
    store: &Store,
    t: &store::TenantId,
    exam_id: &str,
    bundle: &model::Bundle,
) -> String {
    let mut out = Vec::new();
    for s in store.scores(t, exam_id).await.expect("scores") {
        out.push(format!(
            "score {:?} {} {} {:?}",
            s.student_id, s.score.score, s.score.max_score, s.score.pending
        ));
    }
    for i in store.review_items(t, None, false).await.expect("review") {
        out.push(format!(
            "review {:?} {:?} {} {:?} {:?} {:?}",
            i.sheet_code,
            i.question,
            i.reason,
            i.status,
            i.exam_id.is_some(),
            i.page
        ));
    }
    for p in &bundle.pages {
        for r in store.pages_of_sheet(t, &p.sheet_code).await.expect("pages") {
            out.push(format!(
                "page {} {} {:?} {:?} {}",
                r.page,
                p.student_id.as_deref().unwrap_or(""),
                r.identified_by,
                r.error,
                r.superseded
            ));
        }
    }
    for s in store.scans(t).await.expect("scans") {
        out.push(format!("scan {} {:?} {:?}", s.file_name, s.status, s.error));
    }
    let results = store.results(t, exam_id).await.expect("results");
    out.push(serde_json::to_string(&results.students).expect("json"));
    out.join("\n")
}

async fn a_chunk_records_what_single_scans_record(store: Store) {
    let exam = exam();
    let bundle = bundle(&exam, &roster(4));
    let gradings = chunk_gradings(&bundle);

    // One scan at a time, through the single-file path.
    let single = tenant("escola-um");
    let single_exam = store
        .register_bundle(&single, &bundle)
        .await
        .expect("register");
    for (i, g) in gradings.iter().enumerate() {
        let scan = receive_named(&store, &single, i).await;
        match g {
            store::ScanGrading::Pages(pages) => {
                store
                    .record_grading(&single, scan, pages)
                    .await
                    .expect("record");
            }
            store::ScanGrading::Failed(e) => {
                assert!(
                    store
                        .record_scan_failure(&single, scan, e)
                        .await
                        .expect("fail")
                );
            }
        }
    }

    // The same in one chunk, received in one call.
    let batched = tenant("escola-lote");
    let mut other = bundle.clone();
    other.exam_id = Some(single_exam.clone());
    let batched_exam = store
        .register_bundle(&batched, &other)
        .await
        .expect("register");
    let received = store
        .receive_scans(
            &batched,
            &(0..gradings.len()).map(new_scan).collect::<Vec<_>>(),
        )
        .await
        .expect("receive");
    assert!(received.iter().all(|r| r.new));
    let again = store
        .receive_scans(&batched, &[new_scan(0), new_scan(0)])
        .await
        .expect("receive again");
    assert!(
        again
            .iter()
            .all(|r| !r.new && r.scan.id == received[0].scan.id)
    );
    let chunk: Vec<store::ChunkScan> = received
        .iter()
        .zip(&gradings)
        .map(|(r, g)| store::ChunkScan {
            scan_id: r.scan.id,
            grading: g.clone(),
            again: false,
        })
        .collect();
    let outcomes = store.record_chunk(&batched, &chunk).await.expect("chunk");
    assert_eq!(outcomes.len(), chunk.len());
    assert!(outcomes.iter().all(|o| !o.already_graded));
    assert_eq!(
        outcomes[0].pages[0].score.as_ref().map(|s| s.score),
        Some(6.0)
    );
    assert_eq!(
        outcomes[1].pages[0].review_items.len(),
        2,
        "uncertain + orientation"
    );
    assert!(outcomes[2].pages[0].error.is_some());
    assert!(outcomes[3].pages.is_empty());
    assert_eq!(outcomes[5].pages.len(), 2);

    assert_eq!(
        state_of(&store, &single, &single_exam, &bundle).await,
        state_of(&store, &batched, &batched_exam, &other).await,
        "a chunk records exactly what the scans recorded one by one record"
    );

    // Recorded again (a retried task): nothing changes.
    let before = state_of(&store, &batched, &batched_exam, &other).await;
    let twice = store
        .record_chunk(&batched, &chunk)
        .await
        .expect("chunk again");
    assert!(twice.iter().all(|o| o.already_graded && o.pages.is_empty()));
    assert_eq!(
        state_of(&store, &batched, &batched_exam, &other).await,
        before
    );

    // `again` replaces, like `replace_grading`: the failed file, now read.
    let fixed = vec![store::ChunkScan {
        scan_id: received[3].scan.id,
        grading: store::ScanGrading::Pages(vec![page(
            1,
            bundle.pages[2].sheet_code,
            all_right(&exam, &bundle.pages[2].version),
        )]),
        again: true,
    }];
    let replaced = store.record_chunk(&batched, &fixed).await.expect("again");
    assert!(!replaced[0].already_graded);
    let scan = store
        .scan(&batched, received[3].scan.id)
        .await
        .expect("scan")
        .expect("exists");
    assert_eq!(scan.status, ScanStatus::Graded);
    let open: Vec<_> = store
        .review_items(&batched, None, true)
        .await
        .expect("review");
    assert!(
        open.iter()
            .all(|i| !i.reason.contains("unsupported format")),
        "{open:?}"
    );

    // Bad marks refuse the whole chunk, naming the scan, and leave nothing behind.
    let bad_scan = store
        .receive_scans(&batched, &[new_scan(99)])
        .await
        .expect("receive")[0]
        .scan
        .id;
    let mut bad = all_right(&exam, "A");
    bad.push(ReadAnswer {
        question: 99,
        marked: vec![0],
        state: AnswerState::Answered,
    });
    let err = store
        .record_chunk(
            &batched,
            &[store::ChunkScan {
                scan_id: bad_scan,
                grading: store::ScanGrading::Pages(vec![page(1, bundle.pages[0].sheet_code, bad)]),
                again: false,
            }],
        )
        .await;
    assert!(
        matches!(&err, Err(StoreError::Invalid(m)) if m.contains(&bad_scan.to_string())),
        "{err:?}"
    );
    let scan = store
        .scan(&batched, bad_scan)
        .await
        .expect("scan")
        .expect("exists");
    assert_eq!(scan.status, ScanStatus::Received);
}

fn new_scan(i: usize) -> store::NewScan {
    let hash = store::content_hash(format!("chunk scan {i}").as_bytes());
    store::NewScan {
        object_key: format!("t/scans/{hash}"),
        content_hash: hash,
        byte_len: 10,
        file_name: format!("scan-{i}.jpg"),
    }
}

async fn receive_named(store: &Store, t: &store::TenantId, i: usize) -> i64 {
    store
        .receive_scan(t, &new_scan(i))
        .await
        .expect("receive")
        .scan
        .id
}

async fn concurrent_chunks_count_each_scan_and_sheet_once(store: Store) {
    let t = tenant("escola-a");
    let exam = exam();
    let bundle = bundle(&exam, &roster(40));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let scans: Vec<store::NewScan> = (0..60).map(new_scan).collect();
    let received = store.receive_scans(&t, &scans).await.expect("receive");
    // Scans 0..40 grade sheets 0..40; scans 40..60 are rescans of sheets 0..20. Two writers
    // take overlapping halves (scans 20..40 in both), each in chunks of 10, at once.
    let chunk_of = |range: std::ops::Range<usize>| -> Vec<store::ChunkScan> {
        range
            .map(|i| {
                let sheet = i % 40;
                let mut answers = all_right(&exam, &bundle.pages[sheet].version);
                if i < 40 && sheet < 20 {
                    answers[0].marked = vec![(answers[0].marked[0] + 1) % 5];
                }
                store::ChunkScan {
                    scan_id: received[i].scan.id,
                    grading: store::ScanGrading::Pages(vec![page(
                        1,
                        bundle.pages[sheet].sheet_code,
                        answers,
                    )]),
                    again: false,
                }
            })
            .collect()
    };
    let a = chunk_of(0..40);
    let b = chunk_of(20..60);
    let (sa, sb) = (store.clone(), store.clone());
    let (ta, tb) = (t.clone(), t.clone());
    let wa = tokio::spawn(async move {
        let mut recorded = 0;
        for c in a.chunks(10) {
            recorded += sa
                .record_chunk(&ta, c)
                .await
                .expect("chunk")
                .iter()
                .filter(|o| !o.already_graded)
                .count();
        }
        recorded
    });
    let wb = tokio::spawn(async move {
        let mut recorded = 0;
        for c in b.chunks(10) {
            recorded += sb
                .record_chunk(&tb, c)
                .await
                .expect("chunk")
                .iter()
                .filter(|o| !o.already_graded)
                .count();
        }
        recorded
    });
    let recorded = wa.await.expect("a") + wb.await.expect("b");
    assert_eq!(recorded, 60, "each scan recorded by exactly one writer");
    let scores = store.scores(&t, &exam_id).await.expect("scores");
    assert_eq!(scores.len(), 40);
    for p in &bundle.pages {
        let pages = store
            .pages_of_sheet(&t, &p.sheet_code)
            .await
            .expect("pages");
        assert_eq!(
            pages.iter().filter(|p| !p.superseded).count(),
            1,
            "{pages:?}"
        );
    }
    // Sheets 0..20 were rescanned by a later scan (a higher id): the right answers count.
    assert!(scores.iter().all(|s| s.score.score == 6.0), "{scores:?}");
}

/// A scan whose pages and marks are recorded but whose row still says `received` (what an
/// interrupted non-transactional writer, an older version, or a hand repair could leave): a
/// retried chunk forgets those pages and records the scan once.
async fn half_recorded_scan_is_counted_once(store: Store, reset: impl AsyncFnOnce(i64)) {
    let t = tenant("escola-a");
    let exam = exam();
    let bundle = bundle(&exam, &roster(2));
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    let scan = store
        .receive_scans(&t, &[new_scan(1)])
        .await
        .expect("receive")[0]
        .scan
        .id;
    let mut uncertain = all_right(&exam, "A");
    uncertain[4].state = AnswerState::Uncertain;
    let chunk = [store::ChunkScan {
        scan_id: scan,
        grading: store::ScanGrading::Pages(vec![page(1, bundle.pages[0].sheet_code, uncertain)]),
        again: false,
    }];
    store.record_chunk(&t, &chunk).await.expect("first");
    reset(scan).await;
    assert_eq!(
        store
            .scan(&t, scan)
            .await
            .expect("scan")
            .expect("exists")
            .status,
        ScanStatus::Received
    );
    let retried = store.record_chunk(&t, &chunk).await.expect("retried");
    assert!(!retried[0].already_graded);
    let pages = store
        .pages_of_sheet(&t, &bundle.pages[0].sheet_code)
        .await
        .expect("pages");
    assert_eq!(pages.len(), 1, "{pages:?}");
    let open = store.review_items(&t, None, true).await.expect("review");
    assert_eq!(open.len(), 1, "{open:?}");
    let results = store.results(&t, &exam_id).await.expect("results");
    assert_eq!(results.students.len(), 1);
    assert_eq!(
        store
            .scan(&t, scan)
            .await
            .expect("scan")
            .expect("exists")
            .status,
        ScanStatus::Graded
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_recorded_scan_is_counted_once_on_postgres() {
    let schema = std::sync::Arc::new(tokio::sync::Mutex::new(PgSchema::create().await));
    let store = schema.lock().await.store.clone();
    let s = schema.clone();
    half_recorded_scan_is_counted_once(store, async move |scan| {
        s.lock()
            .await
            .execute(&format!(
                "UPDATE scans SET status = 'received' WHERE id = {scan}"
            ))
            .await;
    })
    .await;
    if let Ok(schema) = std::sync::Arc::try_unwrap(schema) {
        schema.into_inner().drop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_recorded_scan_is_counted_once_on_sqlite() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("gabarito.sqlite");
    let store = Store::connect(&format!("sqlite:{}", path.display()))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    half_recorded_scan_is_counted_once(store.clone(), async |scan| {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
            .await
            .expect("connect");
        sqlx::query("UPDATE scans SET status = 'received' WHERE id = $1")
            .bind(scan)
            .execute(&mut conn)
            .await
            .expect("reset");
    })
    .await;
    store.close().await;
}

/// Issue 12: a bundle's booklet pages are registered with their kind, page number and answer
/// boxes; a scanned booklet page with a written answer becomes a review item under its
/// student, and no booklet page is ever a score.
async fn booklet_pages_are_registered_and_never_scored(store: Store) {
    use model::{AnswerBox, PageKind};
    let t = tenant("escola-a");
    let mut bundle = bundle(&exam(), &roster(2));
    let booklet_layout = std::sync::Arc::new(model::layout::booklet_page_layout(bundle.exam.paper));
    // Each student: 2 booklet pages (the second with an answer box), then the sheet.
    let sheets = std::mem::take(&mut bundle.pages);
    let mut pdf_page = 0;
    for sheet in sheets {
        for k in 1..=2u32 {
            pdf_page += 1;
            bundle.pages.push(model::BundlePage {
                pdf_page,
                sheet_code: SheetCode::random(),
                sheet_page: 1,
                sheet_pages: 1,
                layout: std::sync::Arc::clone(&booklet_layout),
                kind: PageKind::Booklet,
                booklet_page: Some(k),
                answer_boxes: if k == 2 {
                    vec![AnswerBox {
                        open_question: 0,
                        rect: model::layout::Rect {
                            x: 40.0,
                            y: 400.0,
                            width: 500.0,
                            height: 200.0,
                        },
                    }]
                } else {
                    Vec::new()
                },
                ..sheet.clone()
            });
        }
        pdf_page += 1;
        bundle.pages.push(model::BundlePage { pdf_page, ..sheet });
    }
    let exam_id = store.register_bundle(&t, &bundle).await.expect("register");
    assert_eq!(store.sheets(&t, &exam_id).await.expect("sheets").len(), 6);
    let (cover, written, sheet) = (&bundle.pages[3], &bundle.pages[4], &bundle.pages[5]);
    let record = |code| {
        let store = store.clone();
        let t = t.clone();
        async move {
            store
                .sheet(&t, &code)
                .await
                .expect("sheet")
                .expect("registered")
        }
    };
    let booklet = record(written.sheet_code).await;
    assert_eq!(booklet.kind, PageKind::Booklet);
    assert_eq!(booklet.booklet_page, Some(2));
    assert_eq!(booklet.answer_boxes, written.answer_boxes);
    assert_eq!(
        booklet.sheet_group, written.sheet_code,
        "a group of its own"
    );
    assert_eq!(booklet.student_id.as_deref(), Some("002"));
    let answer_sheet = record(sheet.sheet_code).await;
    assert_eq!(answer_sheet.kind, PageKind::Sheet);
    assert_eq!(answer_sheet.booklet_page, None);
    assert_eq!(answer_sheet.sheet_group, sheet.sheet_code);

    // One scan: the cover page, the written page (a review item), the answer sheet.
    let scan = receive(&store, &t, b"booklet and sheet").await;
    let mut written_page = page(2, written.sheet_code, Vec::new());
    written_page
        .review
        .push(model::outcome::ReviewReason::WrittenAnswer(vec![1]));
    let outcome = store
        .record_grading(
            &t,
            scan,
            &[
                page(1, cover.sheet_code, Vec::new()),
                written_page,
                page(3, sheet.sheet_code, all_right(&bundle.exam, &sheet.version)),
            ],
        )
        .await
        .expect("recorded");
    assert!(outcome.pages[0].score.is_none() && outcome.pages[0].error.is_none());
    assert!(outcome.pages[1].score.is_none());
    assert_eq!(outcome.pages[1].review_items.len(), 1);
    assert_eq!(outcome.pages[1].student_id.as_deref(), Some("002"));
    assert!(outcome.pages[2].score.is_some());
    let scores = store.scores(&t, &exam_id).await.expect("scores");
    assert_eq!(
        scores.len(),
        1,
        "only the answer sheet is scored: {scores:?}"
    );
    let items = store
        .review_items(&t, Some(&exam_id), true)
        .await
        .expect("review");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].student_id.as_deref(), Some("002"));
    assert_eq!(items[0].reason, "written answer to grade: open question 1");
    assert_eq!(
        items[0].sheet_code.as_deref(),
        Some(written.sheet_code.printed().as_str())
    );
    let stored = store.scan_outcome(&t, scan).await.expect("outcome");
    assert_eq!(
        stored.loose_pages, 0,
        "booklet pages are identified, not loose"
    );
    // Re-scoring the exam leaves the booklet pages out too.
    store.rescore_exam(&t, &exam_id).await.expect("rescore");
    assert_eq!(store.scores(&t, &exam_id).await.expect("scores").len(), 1);
}
