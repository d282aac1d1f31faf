//! `grader grade PATH... --bundle DIR`: grade files and folders, one JSON line per page.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use pipeline::{GradedPage, Grader, PageReport};
use rayon::prelude::*;

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
    /// Folder where every scan is stored (by content hash) before it is graded.
    #[arg(
        long,
        env = "GABARITO_OBJECTS",
        default_value = "gabarito-objects",
        value_name = "DIR"
    )]
    objects: PathBuf,
    #[command(flatten)]
    db: super::db::DbArgs,
}

/// Runs the subcommand; `Err` is a fatal error (exit code 2).
pub fn run(args: GradeArgs) -> Result<u8> {
    // Database recording (issue 4): see record.rs.
    let recorder = super::record::Recorder::open(&args.db, &args.objects)?;
    let directory: Box<dyn pipeline::SheetDirectory> = match &args.bundle {
        Some(path) => {
            let bundle = load_bundle(path)?;
            recorder.ensure_bundle(&bundle)?;
            Box::new(pipeline::BundleDirectory::new(bundle))
        }
        None => Box::new(recorder.directory()),
    };
    let limits = pipeline::Limits::default();
    let files = super::files::collect(&args.paths)?;
    if files.is_empty() {
        bail!("no images or PDFs found under the given paths");
    }
    if let Some(dir) = &args.annotate {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let grader = Grader::with_directory(directory);
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
    let stdout = Mutex::new(super::output::stdout());
    let summary = Mutex::new(Summary::default());
    pool.install(|| {
        files.par_iter().for_each(|input| {
            let file = &input.path;
            let pages = match recorder.grade(&grader, &limits, file) {
                Ok(super::record::FileOutcome::Graded(pages)) => pages,
                Ok(super::record::FileOutcome::AlreadyGraded) => {
                    if let Ok(mut s) = summary.lock() {
                        s.already += 1;
                    }
                    progress.inc(1);
                    return;
                }
                Err(e) => {
                    eprintln!("grader: {}: not recorded: {e:#}", file.display());
                    if let Ok(mut s) = summary.lock() {
                        s.unrecorded += 1;
                    }
                    progress.inc(1);
                    return;
                }
            };
            let mut reports = Vec::with_capacity(pages.len());
            for page in &pages {
                // A missing picture is the operator's problem, not a reason to review the sheet.
                if let Some(dir) = &args.annotate
                    && let Err(e) = write_annotation(dir, input, page)
                {
                    eprintln!("grader: {}: annotation not written: {e:#}", file.display());
                }
                reports.push(page.report.clone());
            }
            if args.json
                && let Ok(mut out) = stdout.lock()
            {
                for r in &reports {
                    if let Ok(line) = serde_json::to_string(r) {
                        let _ = writeln!(*out, "{line}");
                    }
                }
            }
            if let Ok(mut s) = summary.lock() {
                for r in &reports {
                    s.add(r);
                }
            }
            progress.inc(1);
        });
    });
    progress.finish_and_clear();
    if let Ok(mut out) = stdout.lock() {
        let _ = out.flush();
    }
    let summary = summary.into_inner().unwrap_or_default();
    summary.print(files.len());
    recorder.close();
    Ok(
        if summary.review == 0 && summary.errors == 0 && summary.unrecorded == 0 {
            EXIT_OK
        } else {
            EXIT_ATTENTION
        },
    )
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
    /// Files whose bytes were graded by an earlier run (not graded again).
    already: usize,
    /// Files graded but not recorded (database or storage failure).
    unrecorded: usize,
}

impl Summary {
    fn add(&mut self, r: &PageReport) {
        self.pages += 1;
        if r.error.is_some() {
            self.errors += 1;
        } else if !r.review.is_empty() {
            self.review += 1;
        } else {
            self.clean += 1;
        }
    }

    fn print(&self, files: usize) {
        eprintln!(
            "grader: {files} files, {} pages: {} graded, {} need review, {} could not be graded",
            self.pages, self.clean, self.review, self.errors
        );
        if self.already > 0 {
            eprintln!("grader: {} files were already graded", self.already);
        }
        if self.unrecorded > 0 {
            eprintln!("grader: {} files could not be recorded", self.unrecorded);
        }
    }
}
