//! Driving a simulated set: rasterise the bundle a few pages at a time, simulate each sheet,
//! hand the scan to a consumer (the grader, a file writer), and judge.

use std::path::PathBuf;

use rayon::prelude::*;

use crate::SimError;
use crate::accuracy::{Tally, judge};
use crate::fixture::RenderedFixture;
use crate::rasterize::rasterize_pages;
use crate::scenario::{Mix, SimulatedScan, simulate_sheet};

/// What set to simulate.
#[derive(Debug, Clone)]
pub struct SetOptions {
    /// Master seed: the whole set follows from it.
    pub seed: u64,
    /// Sheets to simulate (bundle pages are reused round-robin when there are fewer).
    pub sheets: usize,
    /// Rasterisation resolution of the clean pages.
    pub dpi: u32,
    /// Proportions of styles and captures.
    pub mix: Mix,
    /// Where to save every scan that was not read perfectly (JPEG + truth JSON), if anywhere.
    pub keep_failures: Option<PathBuf>,
}

/// Simulates the set and passes each scan to `consume`, in parallel, returning the results in
/// sheet order. Clean pages are rasterised in chunks so memory stays bounded.
pub fn for_each_scan<R: Send>(
    fx: &RenderedFixture,
    opts: &SetOptions,
    consume: impl Fn(SimulatedScan) -> R + Sync + Send,
) -> Result<Vec<R>, SimError> {
    let pages = fx.sheet_pages();
    if pages.is_empty() {
        return Err(SimError::Format("bundle has no answer-sheet pages".into()));
    }
    let pdf = fx.pdf_path();
    let chunk = rayon::current_num_threads().max(1) * 4;
    let mut out = Vec::with_capacity(opts.sheets);
    let mut start = 0;
    while start < opts.sheets {
        let end = (start + chunk).min(opts.sheets);
        // The bundle pages this chunk needs, as one contiguous PDF range.
        let wanted: Vec<usize> = (start..end).map(|i| pages[i % pages.len()]).collect();
        let first = wanted.iter().map(|&p| fx.bundle.pages[p].pdf_page).min();
        let last = wanted.iter().map(|&p| fx.bundle.pages[p].pdf_page).max();
        let (Some(first), Some(last)) = (first, last) else {
            break;
        };
        let images = rasterize_pages(&pdf, opts.dpi, first, last)?;
        let results: Vec<Result<R, SimError>> = (start..end)
            .into_par_iter()
            .map(|i| {
                let page = &fx.bundle.pages[pages[i % pages.len()]];
                let img = images
                    .get((page.pdf_page - first) as usize)
                    .ok_or_else(|| SimError::Format(format!("page {} missing", page.pdf_page)))?;
                let (scan, _, _) = simulate_sheet(
                    img,
                    opts.dpi,
                    page,
                    &fx.bundle.exam,
                    opts.seed,
                    i,
                    &opts.mix,
                )?;
                Ok(consume(scan))
            })
            .collect();
        for r in results {
            out.push(r?);
        }
        start = end;
    }
    Ok(out)
}

/// Simulates the set, grades every scan with `grade` (file name, bytes → graded pages, e.g.
/// `Grader::grade_bytes_scanned`), and tallies the judgements, with the grader's fill measures
/// attached to misreads. Scans that were not read perfectly are saved when `keep_failures` is
/// set, with their truth and reports (`.json`) and the grader's annotated image
/// (`.annotated.png`).
pub fn grade_set(
    fx: &RenderedFixture,
    opts: &SetOptions,
    grade: impl Fn(&str, &[u8]) -> Vec<pipeline::GradedPage> + Sync + Send,
) -> Result<Tally, SimError> {
    if let Some(dir) = &opts.keep_failures {
        std::fs::create_dir_all(dir)
            .map_err(|e| SimError::Io(format!("{}: {e}", dir.display())))?;
    }
    // GABARITO_KEEP_SHEETS=3,17: those sheets are kept too, read perfectly or not (to look at
    // what the grader did right).
    let keep_anyway: Vec<usize> = std::env::var("GABARITO_KEEP_SHEETS")
        .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect())
        .unwrap_or_default();
    let judged = for_each_scan(fx, opts, |scan| {
        let pages = grade(&scan.truth.file_name, &scan.bytes);
        let reports: Vec<pipeline::PageReport> = pages.iter().map(|p| p.report.clone()).collect();
        let mut judgement = judge(reports.first(), &scan.truth);
        if let Some(reading) = pages
            .first()
            .and_then(|p| p.scan.as_ref())
            .and_then(|s| s.reading.as_ref())
        {
            judgement.levels = Some([
                reading.empty_level,
                reading.empty_threshold,
                reading.marked_threshold,
                reading.filled_level,
                reading.empty_sigma,
            ]);
            judgement.fills = reading
                .questions
                .iter()
                .map(|q| (q.question, q.fills.clone()))
                .collect();
            if let Some(page) = fx.bundle.page_by_code(&scan.truth.sheet_code) {
                for (q, truth) in reading.questions.iter().zip(&scan.truth.questions) {
                    let labels = page
                        .layout
                        .bubbles
                        .iter()
                        .filter(|b| b.question == q.question)
                        .map(|b| b.choice.as_str());
                    for ((label, fill), peak) in labels.zip(&q.fills).zip(&q.peaks) {
                        let style = truth
                            .marks
                            .iter()
                            .find(|m| m.choice == label)
                            .map_or("empty", |m| m.spec.style.name());
                        judgement
                            .bubble_fills
                            .push((style, fill - reading.empty_level));
                        judgement
                            .bubble_peaks
                            .push((style, peak - reading.empty_peak));
                    }
                }
            }
        }
        let perfect = !judgement.needs_review
            && judgement.right_identity
            && judgement
                .questions
                .iter()
                .all(|q| q.verdict == crate::accuracy::Verdict::Right);
        let asked = keep_anyway.contains(&scan.truth.index);
        if (!perfect || asked)
            && let Some(dir) = &opts.keep_failures
        {
            let _ = std::fs::write(dir.join(&scan.truth.file_name), &scan.bytes);
            if let Ok(json) = serde_json::to_string_pretty(&(&scan.truth, &reports)) {
                let _ = std::fs::write(dir.join(format!("{}.json", scan.truth.file_name)), json);
            }
            // What the grader saw and read, for a person to look at.
            if let Some(page) = pages.first()
                && let Some(seen) = &page.scan
            {
                let _ = pipeline::annotate::annotate(seen, &page.report)
                    .save(dir.join(format!("{}.annotated.png", scan.truth.file_name)));
            }
        }
        (scan.truth, judgement)
    })?;
    let mut tally = Tally::default();
    for (truth, j) in &judged {
        tally.add(truth, j);
    }
    Ok(tally)
}
