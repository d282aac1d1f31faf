//! Batched recording, for national-scale batches (`grader batch`): a chunk of scans is
//! received in one transaction ([`Store::receive_scans`]) and its gradings recorded in another
//! ([`Store::record_chunk`]), with multi-row statements throughout, so that the database costs a
//! few round trips per chunk instead of a dozen per page. Recording a chunk does what
//! [`Store::record_grading`] (or [`Store::replace_grading`], [`Store::record_scan_failure`])
//! does for each of its scans, with the same rules and the same rows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use model::outcome::IdentifiedBy;
use model::scoring::{AnswerState, ReadAnswer, Score};
use model::sheet_code::SheetCode;

use super::{
    Access, Backend, R, Store, answers_by_group, check_answers, failure_reason, forget_grading,
    not_found, now_ms, parse_exam, scan_record, score_groups,
};
use crate::repo::{ChunkTx, CurrentPageRow, GroupRow, NewReview, PageRow, ScoreRow, SheetRow, Tx};
use crate::types::*;
use model::exam::Exam;

/// What grading one scan of a chunk produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanGrading {
    /// Its pages, as the grader read them.
    Pages(Vec<GradedPage>),
    /// The whole file could not be graded (corrupt, not an image, too large): why. It is
    /// recorded as failed, with a review item, as [`Store::record_scan_failure`] does.
    Failed(String),
}

/// One scan of a chunk to record ([`Store::record_chunk`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkScan {
    /// The received scan.
    pub scan_id: i64,
    /// What grading it produced.
    pub grading: ScanGrading,
    /// `true`: replace whatever was recorded of the scan before (as
    /// [`Store::replace_grading`]); `false`: a scan no longer `received` is left alone and
    /// reported `already_graded`.
    pub again: bool,
}

/// How many times a chunk is tried when Postgres aborts it to break a deadlock.
const DEADLOCK_TRIES: usize = 3;

impl Store {
    /// Receives several uploaded files at once (see [`Store::receive_scan`]): in the order
    /// given, each one's scan, `new` when these bytes were never received before. The same
    /// bytes twice in one call are one scan, new at most once.
    pub async fn receive_scans(
        &self,
        tenant: &TenantId,
        scans: &[NewScan],
    ) -> R<Vec<ReceivedScan>> {
        for scan in scans {
            check_hash(&scan.content_hash)?;
        }
        if scans.is_empty() {
            return Ok(Vec::new());
        }
        with_tx!(self, Write, |tx| receive_scans(tx, tenant, scans))
    }

    /// Records the gradings of a chunk of received scans in one transaction: every page, its
    /// marks and review items, each scan's status, and the new score of every answer sheet the
    /// chunk touched. Either all of it is recorded or none (a task killed mid-chunk leaves its
    /// scans `received`, to be graded again by its retry); a scan already recorded (by this
    /// chunk's earlier try, another task, another service) is left alone, unless
    /// [`ChunkScan::again`]. Returns one outcome per scan, in the order given.
    ///
    /// A scan still `received` with pages recorded (which no transaction of this store leaves
    /// behind, but an older version or a hand-made repair may) has those pages forgotten first,
    /// so that nothing is counted twice.
    pub async fn record_chunk(
        &self,
        tenant: &TenantId,
        scans: &[ChunkScan],
    ) -> R<Vec<GradingOutcome>> {
        let mut tries = 0;
        loop {
            tries += 1;
            match with_tx!(self, Write, |tx| record_chunk(tx, tenant, scans)) {
                Err(StoreError::Database(e)) if tries < DEADLOCK_TRIES && is_deadlock(&e) => {}
                other => return other,
            }
        }
    }
}

/// Postgres broke a deadlock (or a serialization failure) by aborting this transaction: trying
/// again succeeds once the other one is done.
fn is_deadlock(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "40P01" || c == "40001")
}

fn check_hash(hash: &str) -> R<()> {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Invalid(format!(
            "content hash {hash:?} is not a hex SHA-256"
        )));
    }
    Ok(())
}

async fn receive_scans<T: Tx + ChunkTx>(
    mut tx: T,
    tenant: &TenantId,
    scans: &[NewScan],
) -> R<Vec<ReceivedScan>> {
    let t = tenant.as_str();
    let now = now_ms();
    tx.ensure_tenant(t, t, now).await?;
    let mut seen = HashSet::new();
    let distinct: Vec<NewScan> = scans
        .iter()
        .filter(|s| seen.insert(s.content_hash.as_str()))
        .cloned()
        .collect();
    let inserted: HashSet<String> = tx
        .insert_scans(t, &distinct, now)
        .await?
        .into_iter()
        .collect();
    let hashes: Vec<&str> = distinct.iter().map(|s| s.content_hash.as_str()).collect();
    let rows: HashMap<String, ScanRow> = tx
        .scans_by_hashes(t, &hashes)
        .await?
        .into_iter()
        .map(|r| (r.content_hash.clone(), r))
        .collect();
    tx.commit().await?;
    let mut out = Vec::with_capacity(scans.len());
    let mut told = HashSet::new();
    for scan in scans {
        let row = rows
            .get(&scan.content_hash)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt("scan vanished after insert".into()))?;
        let new = inserted.contains(&scan.content_hash) && told.insert(row.id);
        out.push(ReceivedScan {
            scan: scan_record(row)?,
            new,
        });
    }
    Ok(out)
}

use crate::repo::ScanRow;

/// A review item about to be made: (scan, page id, exam, code read, question, reason).
type Reason<'a> = (
    i64,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i32>,
    String,
);

/// A page of the chunk about to be stored.
struct Planned<'a> {
    scan_id: i64,
    page: &'a GradedPage,
    page_no: i32,
    /// The code read, printed form.
    code: Option<String>,
    sheet: Option<&'a SheetRow>,
    error: Option<String>,
}

async fn record_chunk<T: Tx + ChunkTx>(
    mut tx: T,
    tenant: &TenantId,
    scans: &[ChunkScan],
) -> R<Vec<GradingOutcome>> {
    let t = tenant.as_str();
    let mut ids: Vec<i64> = scans.iter().map(|s| s.scan_id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::Invalid(format!(
            "scan {} appears twice in one chunk",
            w[0]
        )));
    }
    let mut status = HashMap::with_capacity(ids.len());
    for (id, s) in tx.lock_scans(t, &ids).await? {
        status.insert(id, ScanStatus::parse(&s)?);
    }
    let received: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| status.get(id).is_some_and(|s| s.needs_grading()))
        .collect();
    let stale: HashSet<i64> = tx
        .scans_with_pages(t, &received)
        .await?
        .into_iter()
        .collect();
    let now = now_ms();
    let mut record = Vec::with_capacity(scans.len());
    for s in scans {
        let st = *status
            .get(&s.scan_id)
            .ok_or_else(|| not_found("scan", &s.scan_id.to_string()))?;
        let forget = if st.needs_grading() {
            stale.contains(&s.scan_id)
        } else {
            s.again
        };
        if forget {
            forget_grading(&mut tx, tenant, s.scan_id, now).await?;
        }
        record.push(st.needs_grading() || s.again);
    }

    // Every sheet the chunk's pages name, in one look-up; then their exams.
    let codes: BTreeSet<String> = scans
        .iter()
        .zip(&record)
        .filter(|(_, r)| **r)
        .filter_map(|(s, _)| match &s.grading {
            ScanGrading::Pages(pages) => Some(pages),
            ScanGrading::Failed(_) => None,
        })
        .flatten()
        .filter_map(|p| p.sheet_code.map(|c| c.printed()))
        .collect();
    let codes: Vec<String> = codes.into_iter().collect();
    let sheets: HashMap<String, SheetRow> = tx
        .lock_sheets(t, &codes)
        .await?
        .into_iter()
        .map(|s| (s.code.clone(), s))
        .collect();
    let mut exams: HashMap<String, (Exam, i64)> = HashMap::new();
    let exam_ids: BTreeSet<&str> = sheets.values().map(|s| s.exam_id.as_str()).collect();
    for id in exam_ids {
        let (json, revision) = tx
            .exam(t, id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("sheet of missing exam {id}")))?;
        exams.insert(id.to_string(), (parse_exam(&json)?, revision));
    }

    // The pages, as `record_grading` decides them.
    let mut planned: Vec<Planned<'_>> = Vec::new();
    for (s, _) in scans.iter().zip(&record).filter(|(_, r)| **r) {
        let ScanGrading::Pages(pages) = &s.grading else {
            continue;
        };
        for page in pages {
            let code = page.sheet_code.map(|c| c.printed());
            let sheet = code.as_ref().and_then(|c| sheets.get(c));
            let error = page.error.clone().or_else(|| match (&code, sheet) {
                (None, _) => Some("sheet not identified".to_string()),
                (Some(c), None) => Some(format!("sheet code {c} is not registered")),
                _ => None,
            });
            if let (None, Some(sh)) = (&error, sheet)
                && let Some((exam, _)) = exams.get(&sh.exam_id)
            {
                check_answers(exam, &page.answers).map_err(|e| match e {
                    StoreError::Invalid(m) => {
                        StoreError::Invalid(format!("scan {}: {m}", s.scan_id))
                    }
                    other => other,
                })?;
            }
            let page_no = i32::try_from(page.page)
                .map_err(|_| StoreError::Invalid(format!("page {} out of range", page.page)))?;
            planned.push(Planned {
                scan_id: s.scan_id,
                page,
                page_no,
                code,
                sheet,
                error,
            });
        }
    }
    let rows: Vec<PageRow<'_>> = planned
        .iter()
        .map(|p| PageRow {
            scan_id: p.scan_id,
            page: p.page_no,
            // A page whose code is known but which failed still names its exam, so that the
            // review item shows up under it.
            sheet_code: p.sheet.map(|s| s.code.as_str()).or(p.code.as_deref()),
            exam_id: p.sheet.map(|s| s.exam_id.as_str()),
            identified_by: p.page.identified_by.map(IdentifiedBy::as_str),
            error: p.error.as_deref(),
            student_number: p.page.student_number.as_deref(),
            outcome: p.page.outcome.as_deref(),
        })
        .collect();
    let page_ids: HashMap<(i64, i32), i64> = tx
        .insert_pages(t, &rows, now)
        .await?
        .into_iter()
        .map(|p| ((p.scan_id, p.page), p.id))
        .collect();
    let page_id = |p: &Planned<'_>| {
        page_ids
            .get(&(p.scan_id, p.page_no))
            .copied()
            .ok_or_else(|| StoreError::Corrupt("page vanished after insert".into()))
    };

    // Marks of every page (also of a page nobody could name: see `assign_page`).
    let mut marks: Vec<(i64, &ReadAnswer)> = Vec::new();
    for p in &planned {
        let id = page_id(p)?;
        marks.extend(p.page.answers.iter().map(|a| (id, a)));
    }
    tx.insert_marks_of(t, &marks).await?;

    // Review items: (scan, page id, exam, code, question, reason).
    let mut reasons: Vec<Reason<'_>> = Vec::new();
    let mut resupersede: BTreeSet<String> = BTreeSet::new();
    let mut touched: BTreeSet<(String, String)> = BTreeSet::new();
    // In the order of the scans, as recording them one by one would number the items.
    let mut next = planned.iter().peekable();
    for (s, _) in scans.iter().zip(&record).filter(|(_, r)| **r) {
        if let ScanGrading::Failed(error) = &s.grading {
            reasons.push((s.scan_id, None, None, None, None, failure_reason(error)));
            continue;
        }
        while let Some(p) = next.next_if(|p| p.scan_id == s.scan_id) {
            let id = Some(page_id(p)?);
            let exam_id = p.sheet.map(|s| s.exam_id.as_str());
            let code = p.code.as_deref();
            if let Some(e) = &p.error {
                reasons.push((p.scan_id, id, exam_id, code, None, e.clone()));
            } else if let Some(s) = p.sheet {
                resupersede.insert(s.code.clone());
                touched.insert((s.exam_id.clone(), s.sheet_group.clone()));
                for a in p
                    .page
                    .answers
                    .iter()
                    .filter(|a| a.state == AnswerState::Uncertain)
                {
                    let q = i32::try_from(a.question).unwrap_or(i32::MAX);
                    let reason = format!("question {}: uncertain mark", a.question);
                    reasons.push((p.scan_id, id, exam_id, code, Some(q), reason));
                }
                for reason in &p.page.review {
                    reasons.push((p.scan_id, id, exam_id, code, None, reason.to_string()));
                }
            }
        }
    }
    let items: Vec<NewReview<'_>> = reasons
        .iter()
        .map(
            |(scan_id, page_id, exam_id, code, question, reason)| NewReview {
                exam_id: *exam_id,
                scan_id: *scan_id,
                page_id: *page_id,
                sheet_code: *code,
                question: *question,
                reason,
            },
        )
        .collect();
    let mut items_of_page: HashMap<i64, Vec<i64>> = HashMap::new();
    for item in tx.insert_reviews(t, &items, now).await? {
        if let Some(p) = item.page_id {
            items_of_page.entry(p).or_default().push(item.id);
        }
    }
    for ids in items_of_page.values_mut() {
        ids.sort_unstable();
    }

    let resupersede: Vec<String> = resupersede.into_iter().collect();
    tx.resupersede_codes(t, &resupersede).await?;
    let mut graded = Vec::new();
    for (s, _) in scans.iter().zip(&record).filter(|(_, r)| **r) {
        match &s.grading {
            ScanGrading::Pages(_) => graded.push(s.scan_id),
            ScanGrading::Failed(error) => {
                tx.set_scan_status(t, s.scan_id, ScanStatus::Failed.as_str(), Some(error), now)
                    .await?;
            }
        }
    }
    tx.set_scans_graded(t, &graded, now).await?;

    // Every answer sheet touched, scored from what now counts: the marks just written are at
    // hand; only a sheet with a page that counts from elsewhere (another page of it, recorded
    // before) has marks read back.
    let mut written: HashMap<i64, &[ReadAnswer]> = HashMap::with_capacity(planned.len());
    for p in planned.iter().filter(|p| p.error.is_none()) {
        written.insert(page_id(p)?, &p.page.answers);
    }
    let scores = rescore_groups(&mut tx, t, &exams, &touched, &written, now).await?;

    let mut outcomes: Vec<GradingOutcome> = scans
        .iter()
        .zip(&record)
        .map(|(_, r)| GradingOutcome {
            already_graded: !*r,
            pages: Vec::new(),
        })
        .collect();
    let position: HashMap<i64, usize> = scans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.scan_id, i))
        .collect();
    for p in &planned {
        let id = page_id(p)?;
        let sheet = p.sheet;
        let outcome = PageOutcome {
            page: p.page.page,
            page_id: id,
            sheet_code: sheet.and_then(|s| SheetCode::parse(&s.code).ok()),
            student_id: sheet
                .and_then(|s| s.student_id.clone())
                .or_else(|| sheet.and(p.page.student_number.clone())),
            version: sheet.map(|s| s.version.clone()),
            score: match (&p.error, sheet) {
                (None, Some(s)) => scores.get(&s.sheet_group).cloned(),
                _ => None,
            },
            review_items: items_of_page.remove(&id).unwrap_or_default(),
            error: p.error.clone(),
        };
        if let Some(o) = position.get(&p.scan_id).and_then(|&i| outcomes.get_mut(i)) {
            o.pages.push(outcome);
        }
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// Re-scores the answer sheets `touched` ((exam, sheet group)) and stores the scores (one
/// multi-row upsert per exam). Which pages count is read in one query; their marks come from
/// `written` (page id → the marks this transaction wrote) where it has them, else from one more
/// query.
async fn rescore_groups<T: Tx + ChunkTx>(
    tx: &mut T,
    tenant: &str,
    exams: &HashMap<String, (Exam, i64)>,
    touched: &BTreeSet<(String, String)>,
    written: &HashMap<i64, &[ReadAnswer]>,
    now: i64,
) -> R<HashMap<String, Score>> {
    let mut scores = HashMap::new();
    if touched.is_empty() {
        return Ok(scores);
    }
    let all: Vec<String> = touched.iter().map(|(_, g)| g.clone()).collect();
    let exam_of: HashMap<&str, &str> = touched
        .iter()
        .map(|(e, g)| (g.as_str(), e.as_str()))
        .collect();
    let current = CurrentPages::of(tx.current_pages_in(tenant, &all).await?);
    let mut answers: HashMap<String, Vec<ReadAnswer>> = HashMap::new();
    let mut unread: Vec<String> = Vec::new();
    for (group, pages) in &current.pages {
        let at_hand: Option<Vec<&[ReadAnswer]>> =
            pages.iter().map(|id| written.get(id).copied()).collect();
        match at_hand {
            Some(marks) => {
                let mut read: Vec<ReadAnswer> = marks.into_iter().flatten().cloned().collect();
                // As the stored marks are read: by question.
                read.sort_by_key(|a| a.question);
                answers.insert(group.clone(), read);
            }
            None => unread.push(group.clone()),
        }
    }
    if !unread.is_empty() {
        answers.extend(answers_by_group(tx.marks_in(tenant, &unread).await?)?);
    }
    let mut by_exam: BTreeMap<&str, Vec<_>> = BTreeMap::new();
    for g in current.groups {
        if let Some(e) = exam_of.get(g.sheet_group.as_str()) {
            by_exam.entry(e).or_default().push(g);
        }
    }
    for (exam_id, groups) in by_exam {
        let Some((exam, revision)) = exams.get(exam_id) else {
            continue;
        };
        let (rows, scored): (Vec<ScoreRow>, _) =
            score_groups(exam, *revision, groups, &mut answers)?;
        tx.upsert_scores(tenant, exam_id, &rows, now).await?;
        for (g, score) in scored {
            scores.insert(g.sheet_group, score);
        }
    }
    Ok(scores)
}

/// The pages that count of some answer sheets, as the sheets to score and the pages of each.
struct CurrentPages {
    /// One per (sheet group, version), in group order, as [`crate::repo::Tx::groups`] gives.
    groups: Vec<GroupRow>,
    /// The ids of each group's pages that count.
    pages: BTreeMap<String, Vec<i64>>,
}

impl CurrentPages {
    /// Aggregates `rows` (ordered by group) as the groups query does: a sheet printed for a
    /// student keeps that student; an anonymous one takes the number read on its pages.
    fn of(rows: Vec<CurrentPageRow>) -> Self {
        let mut groups: Vec<GroupRow> = Vec::new();
        let mut numbers: Vec<Option<String>> = Vec::new();
        let mut pages: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in rows {
            pages
                .entry(row.sheet_group.clone())
                .or_default()
                .push(row.page_id);
            let same = groups
                .last()
                .is_some_and(|g| g.sheet_group == row.sheet_group && g.version == row.version);
            if !same {
                groups.push(GroupRow {
                    sheet_group: row.sheet_group,
                    version: row.version,
                    student_id: None,
                });
                numbers.push(None);
            }
            if let (Some(g), Some(n)) = (groups.last_mut(), numbers.last_mut()) {
                g.student_id = g.student_id.take().max(row.student_id);
                *n = n.take().max(row.student_number);
            }
        }
        for (g, n) in groups.iter_mut().zip(numbers) {
            if g.student_id.is_none() {
                g.student_id = n;
            }
        }
        Self { groups, pages }
    }
}
