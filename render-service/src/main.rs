//! `render-service`: render an exam's answer sheets to `bundle.pdf` + `bundle.json`, print the
//! exam file's JSON Schema, or serve the HTTP API (`serve`, in [`render_service::http`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Parser, Subcommand};
use model::{Exam, read_roster};

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
            db,
        } => render(&exam, roster.as_deref(), copies, &out, &db),
        Command::Migrate { db } => db::migrate(&db),
        Command::Serve { args } => render_service::http::serve(args),
    }
}

fn render(
    exam_path: &Path,
    roster_path: Option<&Path>,
    copies: Option<usize>,
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
    let mut bundle = render::render_bundle(&exam, roster.as_deref(), copies.unwrap_or(1))?;
    // Register only what is written: the PDF goes to a temporary name first, which proves the
    // output directory usable; the manifest, which carries the exam's id, and the renames
    // follow the registration. A failed registration drops the stage, removing its file.
    let staged = bundle.stage(out)?;
    bundle.manifest.exam_id = Some(db::register(db, &bundle.manifest)?);
    staged.commit(&bundle.manifest)?;
    eprintln!(
        "registered exam {}",
        bundle.manifest.exam_id.as_deref().unwrap_or_default()
    );
    eprintln!(
        "wrote {} ({} pages, {} bytes) and {}",
        out.join("bundle.pdf").display(),
        bundle.manifest.pages.len(),
        bundle.pdf.len(),
        out.join("bundle.json").display()
    );
    Ok(())
}
