//! `grader grade PATH... --bundle DIR`: grade files and folders, one JSON line per page.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::Args;
use grader::StoreDirectory;
use grader::cloud_ocr::{self, OcrChain, Round, ScanPages};
use grader::grading::{Grading, GradingError, ScanOutcome, ScanVerdict, Taken};
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::{GradedPage, Grader};
use rayon::prelude::*;
use store::{Store, TenantId};

use super::{EXIT_ATTENTION, EXIT_OK};

/// Arguments of `grader grade`.
#[derive(Args, Debug)]
pub struct GradeArgs {
    /// Scans to grade: image files (JPEG, PNG, TIFF), PDFs, or folders searched recursively.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The folder `render-service render` wrote (holding bundle.json), or the bundle.json file.
    /// Without it, sheets are looked up in the database.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Print one JSON object per scanned page on stdout.
    #[arg(long)]
    json: bool,
    /// Write an annotated PNG of every page into this folder.
    #[arg(long, value_name = "OUTDIR")]
    annotate: Option<PathBuf>,
    /// Worker threads, at most the number of cores (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::jobs::parse)]
    jobs: Option<std::num::NonZeroUsize>,
    /// Without --bundle: read the marks of pages whose code cannot be read with this exam's
    /// layout (by default, with the layout all the school's sheets share, if they share one).
    #[arg(long, value_name = "EXAM")]
    exam: Option<String>,
    /// Grade every file again, even one graded cleanly before (its earlier outcome is replaced).
    #[arg(long)]
    regrade: bool,
    #[command(flatten)]
    storage: super::storage::StorageArgs,
    #[command(flatten)]
    ocr: grader::cloud_ocr::OcrArgs,
    #[command(flatten)]
    db: super::db::DbArgs,
}

/// Runs the subcommand; `Err` is a fatal error (exit code 2).
pub fn run(args: GradeArgs) -> Result<u8> {
    let tenant = args.db.tenant()?;
    let rt = std::sync::Arc::new(store::runtime().context("cannot start the database runtime")?);
    let store = rt.block_on(args.db.open())?;
    let objects = rt.block_on(args.storage.open())?;
    let directory: Box<dyn pipeline::SheetDirectory> = match &args.bundle {
        Some(path) => {
            let bundle = load_bundle(path)?;
            ensure_bundle(&rt, &store, &tenant, &bundle)?;
            Box::new(pipeline::BundleDirectory::new(bundle))
        }
        None => Box::new(rt.block_on(StoreDirectory::load(
            std::sync::Arc::clone(&rt),
            store.clone(),
            tenant.clone(),
            args.exam.as_deref(),
        ))?),
    };
    let limits = pipeline::Limits::default();
    let files = super::files::collect(&args.paths)?;
    if files.is_empty() {
        bail!("no images or PDFs found under the given paths");
    }
    if let Some(dir) = &args.annotate {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let chain = OcrChain::from_args(&args.ocr)?;
    let grader = chain.configure(Grader::with_directory(directory).with_limits(limits));
    // Pages no local step identifies wait here, across files, and go to Cloud Vision 16 a
    // call; their files are recorded and reported when their pages are done.
    let round: Mutex<Round<usize>> = Mutex::new(Round::new());
    let inputs: HashMap<String, &super::files::Input> = files
        .iter()
        .map(|i| (i.path.display().to_string(), i))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(super::jobs::worker_threads(args.jobs))
        .build()
        .context("cannot start worker threads")?;
    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files {elapsed} (eta {eta}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let grading = Grading {
        store: &store,
        objects: objects.as_ref(),
        tenant: &tenant,
    };
    let stdout = Mutex::new(super::output::stdout());
    let summary = Mutex::new(Summary::default());
    // Identical bytes under two names in one run are one scan: graded once, reported once.
    let seen: Mutex<HashMap<i64, String>> = Mutex::new(HashMap::new());
    let report = |name: &str, outcome: Result<Option<ScanOutcome>, GradingError>| {
        let outcome = match outcome {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return,
            Err(e) => {
                eprintln!(
                    "grader: {name}: not recorded: {}",
                    store::cli::error_line(&e)
                );
                if let Ok(mut s) = summary.lock() {
                    s.unrecorded += 1;
                }
                return;
            }
        };
        if args.json
            && let Ok(mut out) = stdout.lock()
        {
            for r in &outcome.reports {
                if let Ok(line) = serde_json::to_string(r) {
                    let _ = writeln!(*out, "{line}");
                }
            }
        }
        for r in &outcome.reports {
            if let Some(b) = &r.booklet {
                eprintln!("grader: {name}: page {}: {}", r.page, b.message());
            }
        }
        if let Ok(mut s) = summary.lock() {
            s.add(&outcome);
        }
    };
    let vision_round = |all: bool| {
        let round = VisionRound {
            rt: &rt,
            grading: &grading,
            grader: &grader,
            chain: &chain,
            round: &round,
            annotate: args.annotate.as_deref(),
            inputs: &inputs,
        };
        for (index, outcome) in round.flush(all) {
            let name = files[index].path.display().to_string();
            report(&name, outcome.map(Some));
        }
    };
    pool.install(|| {
        files.par_iter().enumerate().for_each(|(index, input)| {
            let name = input.path.display().to_string();
            let outcome = grade_one(
                &rt, &grading, &grader, &limits, input, index, &name, &args, &seen, &round,
            );
            progress.inc(1);
            report(&name, outcome);
            // A full call's worth of waiting pages goes from whichever worker filled it.
            vision_round(false);
        });
    });
    vision_round(true);
    progress.finish_and_clear();
    if let Ok(mut out) = stdout.lock() {
        let _ = out.flush();
    }
    let summary = summary.into_inner().unwrap_or_default();
    summary.print(files.len());
    rt.block_on(store.close());
    Ok(if summary.open == 0 && summary.unrecorded == 0 {
        EXIT_OK
    } else {
        EXIT_ATTENTION
    })
}

/// One file through the grading path: `None` when its bytes were already taken in by this run
/// under another name.
#[allow(clippy::too_many_arguments)]
fn grade_one(
    rt: &store::Runtime,
    grading: &Grading<'_>,
    grader: &Grader,
    limits: &pipeline::Limits,
    input: &super::files::Input,
    index: usize,
    name: &str,
    args: &GradeArgs,
    seen: &Mutex<HashMap<i64, String>>,
    round: &Mutex<Round<usize>>,
) -> Result<Option<ScanOutcome>, GradingError> {
    let file = input.path.as_path();
    let (ingested, taken) = rt.block_on(grading.ingest_file(file, name, limits, args.regrade))?;
    if let Ok(mut seen) = seen.lock() {
        if let Some(first) = seen.get(&ingested.scan_id) {
            eprintln!("grader: {name}: same bytes as {first}: graded once");
            return Ok(None);
        }
        seen.insert(ingested.scan_id, name.to_string());
    }
    let bytes = match taken {
        Taken::Bytes(bytes) => bytes,
        Taken::Refused(why) => return rt.block_on(grading.refuse(&ingested, name, &why)).map(Some),
        Taken::Stored => return rt.block_on(grading.stored(&ingested, name)).map(Some),
    };
    let pages = cloud_ocr::grade_pages(grader, name, &bytes, |page| {
        // A missing picture is the operator's problem, not a reason to review the sheet.
        if let Some(dir) = &args.annotate
            && let Err(e) = write_annotation(dir, input, page)
        {
            eprintln!("grader: {name}: annotation not written: {e:#}");
        }
    });
    drop(bytes);
    match pages {
        ScanPages::Ready(pages) => rt.block_on(grading.record(&ingested, &pages)).map(Some),
        ScanPages::Waiting(pages) => {
            if let Ok(mut round) = round.lock() {
                round.hold(index, ingested, pages);
            }
            Ok(None)
        }
    }
}

/// What a Cloud Vision round of the command line works with.
struct VisionRound<'a> {
    rt: &'a store::Runtime,
    grading: &'a Grading<'a>,
    grader: &'a Grader,
    chain: &'a OcrChain,
    round: &'a Mutex<Round<usize>>,
    annotate: Option<&'a Path>,
    inputs: &'a HashMap<String, &'a super::files::Input>,
}

impl VisionRound<'_> {
    /// Sends full batches of waiting pages (with `all`, the rest too), finishes their pages
    /// and records the files that are complete: (file index, outcome). The lock is not held
    /// during the call, so other workers go on grading.
    fn flush(&self, all: bool) -> Vec<(usize, Result<ScanOutcome, GradingError>)> {
        let mut out = Vec::new();
        loop {
            let batch = match self.round.lock() {
                Ok(mut round) => round.take(all),
                Err(_) => None,
            };
            let Some(batch) = batch else {
                return out;
            };
            let texts = match &self.chain.vision {
                Some(client) => self.rt.block_on(cloud_ocr::read_batch(client, &batch)),
                None => vec![None; batch.len()],
            };
            let finished = cloud_ocr::finish_batch(self.grader, batch, texts, |page| {
                if let Some(dir) = self.annotate
                    && let Some(input) = self.inputs.get(&page.report.file)
                    && let Err(e) = write_annotation(dir, input, page)
                {
                    eprintln!(
                        "grader: {}: annotation not written: {e:#}",
                        page.report.file
                    );
                }
            });
            let complete = match self.round.lock() {
                Ok(mut round) => round.put(finished),
                Err(_) => Vec::new(),
            };
            for c in complete {
                let recorded = self.rt.block_on(self.grading.record(&c.ingested, &c.pages));
                out.push((c.tag, recorded));
            }
        }
    }
}

/// Registers a bundle rendered without a database (its sheets unknown here), so that its
/// scans can be recorded: under the manifest's `exam_id` when it names one. A bundle already
/// registered is left alone, also when another run registers it at the same time.
fn ensure_bundle(
    rt: &store::Runtime,
    store: &Store,
    tenant: &TenantId,
    bundle: &model::Bundle,
) -> Result<()> {
    if bundle.pages.is_empty() {
        return Ok(());
    }
    let registered = rt.block_on(store.ensure_bundle(tenant, bundle))?;
    if registered.new {
        eprintln!(
            "grader: registered the bundle's exam as {}",
            registered.exam_id
        );
    }
    Ok(())
}

fn load_bundle(path: &Path) -> Result<model::Bundle> {
    let file = if path.is_dir() {
        path.join("bundle.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read bundle manifest {}", file.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("invalid bundle manifest {}", file.display()))
}

fn write_annotation(dir: &Path, input: &super::files::Input, page: &GradedPage) -> Result<()> {
    let Some(scan) = &page.scan else {
        return Ok(());
    };
    let out = input.annotation_path(dir, page.report.page);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    pipeline::annotate(scan, &page.report)
        .save(&out)
        .with_context(|| format!("cannot write {}", out.display()))
}

#[derive(Default)]
struct Summary {
    pages: usize,
    clean: usize,
    review: usize,
    errors: usize,
    /// Files whose bytes were graded by an earlier run (their stored outcome is reported).
    already: usize,
    /// Files graded again, replacing an earlier outcome.
    regraded: usize,
    /// Files with something still waiting for a person (also from earlier runs).
    open: usize,
    /// Files that could not be recorded (database or storage failure).
    unrecorded: usize,
    /// Booklet pages among the pages (not answer sheets: nothing scored).
    booklet: usize,
}

impl Summary {
    fn add(&mut self, outcome: &ScanOutcome) {
        match outcome.verdict {
            ScanVerdict::AlreadyGraded => self.already += 1,
            ScanVerdict::Regraded => self.regraded += 1,
            ScanVerdict::Graded | ScanVerdict::Refused => {}
        }
        if outcome.open {
            self.open += 1;
        }
        for r in &outcome.reports {
            self.pages += 1;
            if r.booklet.is_some() {
                self.booklet += 1;
            } else if r.error.is_some() {
                self.errors += 1;
            } else if !r.review.is_empty() {
                self.review += 1;
            } else {
                self.clean += 1;
            }
        }
    }

    fn print(&self, files: usize) {
        eprintln!(
            "grader: {files} files, {} pages: {} graded, {} need review, {} could not be graded",
            self.pages, self.clean, self.review, self.errors
        );
        if self.booklet > 0 {
            eprintln!(
                "grader: {} booklet pages (not answer sheets: written answers go to review, \
                 nothing is scored)",
                self.booklet
            );
        }
        if self.already > 0 {
            eprintln!(
                "grader: {} files were already graded (their stored outcome is shown)",
                self.already
            );
        }
        if self.regraded > 0 {
            eprintln!(
                "grader: {} files were graded again (their earlier outcome is replaced)",
                self.regraded
            );
        }
        if self.open > 0 {
            eprintln!(
                "grader: {} files have something waiting for a person",
                self.open
            );
        }
        if self.unrecorded > 0 {
            eprintln!("grader: {} files could not be recorded", self.unrecorded);
        }
    }
}
