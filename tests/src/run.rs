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

/// Simulates the set, grades every scan with `grade` (file name, bytes → reports), and tallies
/// the judgements. Scans that were not read perfectly are saved when `keep_failures` is set.
pub fn grade_set(
    fx: &RenderedFixture,
    opts: &SetOptions,
    grade: impl Fn(&str, &[u8]) -> Vec<grader::PageReport> + Sync + Send,
) -> Result<Tally, SimError> {
    if let Some(dir) = &opts.keep_failures {
        std::fs::create_dir_all(dir)
            .map_err(|e| SimError::Io(format!("{}: {e}", dir.display())))?;
    }
    let judged = for_each_scan(fx, opts, |scan| {
        let reports = grade(&scan.truth.file_name, &scan.bytes);
        let judgement = judge(reports.first(), &scan.truth);
        let perfect = !judgement.needs_review
            && judgement.right_identity
            && judgement
                .questions
                .iter()
                .all(|q| q.verdict == crate::accuracy::Verdict::Right);
        if !perfect && let Some(dir) = &opts.keep_failures {
            let _ = std::fs::write(dir.join(&scan.truth.file_name), &scan.bytes);
            if let Ok(json) = serde_json::to_string_pretty(&(&scan.truth, &reports)) {
                let _ = std::fs::write(dir.join(format!("{}.json", scan.truth.file_name)), json);
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
