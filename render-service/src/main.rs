//! `render-service`: render an exam's answer sheets to `bundle.pdf` + `bundle.json`, print the
//! exam file's JSON Schema, or serve the HTTP API (`serve`, in [`render_service::http`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use model::{Exam, read_roster};
use render_service::booklets::{FiguresBeside, typeset_booklets};

mod db;

#[derive(Parser)]
#[command(
    version,
    about = "Gabarito: render exam answer sheets to a printable PDF bundle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render EXAM.json to DIR/bundle.pdf and DIR/bundle.json.
    Render {
        /// The exam file (JSON; see `render-service schema`).
        exam: PathBuf,
        /// Roster CSV (`student_id,name,class`): one sheet per student, in roster order.
        #[arg(long)]
        roster: Option<PathBuf>,
        /// Without a roster: how many anonymous sheets (with a student-number grid) to print.
        #[arg(long)]
        copies: Option<usize>,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Order of the students: by class then name, or as the roster lists them. Default:
        /// class then name when the exam has a booklet, roster order otherwise.
        #[arg(long, value_enum)]
        order: Option<Order>,
        /// One PDF for the bundle, or one per class (`bundle-<class>.pdf`; every page of
        /// bundle.json then names its `pdf_file`).
        #[arg(long, value_enum, default_value_t = SplitArg::Bundle)]
        split: SplitArg,
        /// The exam and its sheets are registered here; bundle.json carries the exam's id.
        #[command(flatten)]
        db: db::DbArgs,
    },
    /// Bring the database schema up to date (render also does it).
    Migrate {
        #[command(flatten)]
        db: db::DbArgs,
    },
    /// Print the JSON Schema of the exam file.
    Schema,
    /// Serve the HTTP API and render queued bundles, until SIGTERM.
    Serve {
        #[command(flatten)]
        args: service::ServeArgs,
    },
}

/// `--order`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Order {
    /// By class, then by name.
    ClassName,
    /// As the roster lists them.
    Roster,
}

/// `--split`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SplitArg {
    /// One `bundle.pdf`.
    Bundle,
    /// One PDF per class.
    Class,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes, each once.
            eprintln!("error: {}", store::cli::error_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&Exam::json_schema())?;
            println!("{schema}");
            Ok(())
        }
        Command::Render {
            exam,
            roster,
            copies,
            out,
            order,
            split,
            db,
        } => {
            let options = render::BundleOptions {
                booklets: None,
                order: order.map(|o| match o {
                    Order::ClassName => render::StudentOrder::ClassThenName,
                    Order::Roster => render::StudentOrder::Roster,
                }),
                split: match split {
                    SplitArg::Bundle => render::Split::Bundle,
                    SplitArg::Class => render::Split::Class,
                },
            };
            render(&exam, roster.as_deref(), copies, &options, &out, &db)
        }
        Command::Migrate { db } => db::migrate(&db),
        Command::Serve { args } => render_service::http::serve(args),
    }
}

fn render(
    exam_path: &Path,
    roster_path: Option<&Path>,
    copies: Option<usize>,
    options: &render::BundleOptions<'_>,
    out: &Path,
    db: &db::DbArgs,
) -> anyhow::Result<()> {
    let text = fs::read_to_string(exam_path)
        .with_context(|| format!("cannot read exam file {}", exam_path.display()))?;
    let exam = Exam::from_json(&text).map_err(|e| {
        if e.path.is_empty() {
            anyhow!("exam file: {}", e.message)
        } else {
            anyhow!("exam file: {e}")
        }
    })?;
    let roster = match roster_path {
        Some(path) => {
            if copies.is_some() {
                bail!(
                    "--copies applies only without --roster (a roster prints one sheet per student)"
                );
            }
            let file = fs::File::open(path)
                .with_context(|| format!("cannot read roster {}", path.display()))?;
            Some(read_roster(std::io::BufReader::new(file))?)
        }
        None => None,
    };
    let booklets = typeset_booklets(&exam, &FiguresBeside::exam_file(exam_path))
        .context("the question booklet")?;
    let options = render::BundleOptions {
        booklets: booklets.as_ref(),
        ..*options
    };
    // Register only what is written: the PDFs are streamed to temporary names in `out` as
    // they are rendered (memory does not grow with the roster), which proves the folder
    // usable; the manifest, which carries the exam's id, and the renames follow the
    // registration. A failed render or registration drops the stage, removing its files.
    let mut staged = render::StagedBundle::begin(out)?;
    let mut names: Vec<String> = Vec::new();
    let mut manifest = render::render_bundle_with(
        &exam,
        roster.as_deref(),
        copies.unwrap_or(1),
        &options,
        &mut rand::rng(),
        &mut |name| {
            names.push(out.join(name).display().to_string());
            staged.create(name).map_err(std::io::Error::other)
        },
        &mut |_, _| {},
    )?;
    manifest.exam_id = Some(db::register(db, &manifest)?);
    staged.commit(&manifest)?;
    // Under their final names now.
    let pdf_bytes: u64 = names
        .iter()
        .filter_map(|n| fs::metadata(n).ok())
        .map(|m| m.len())
        .sum();
    eprintln!(
        "registered exam {}",
        manifest.exam_id.as_deref().unwrap_or_default()
    );
    // The PDF's pages include the blank ones that keep duplex printing aligned, which the
    // manifest (pages with a code) does not list.
    let pdf_pages =
        render::bundle_page_count_with(&exam, roster.as_deref(), copies.unwrap_or(1), &options)?;
    eprintln!(
        "wrote {} ({pdf_pages} PDF pages, {} with a code; {} bytes) and {}",
        names.join(", "),
        manifest.pages.len(),
        pdf_bytes,
        out.join("bundle.json").display()
    );
    Ok(())
}
