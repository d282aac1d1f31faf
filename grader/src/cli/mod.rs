//! Command-line front end. Each subcommand lives in its own module; add new ones to
//! [`Command`] and dispatch them in [`run`].

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod batch;
mod files;
mod grade;
mod jobs;
mod output;
// Database commands (issue 4).
mod db;
mod migrate;
mod rescore;
mod resolve;
mod results;
// Object storage (issue 11).
mod retention;
mod review;
// Service tokens (issue 9).
mod serve;
mod storage;
mod token;

/// Exit code: every page graded, nothing needs a person.
pub const EXIT_OK: u8 = 0;
/// Exit code: some pages need review, or some files could not be graded.
pub const EXIT_ATTENTION: u8 = 1;
/// Exit code: bad usage or a fatal error (e.g. an unreadable bundle).
pub const EXIT_FATAL: u8 = 2;

#[derive(Parser)]
#[command(
    name = "grader",
    version,
    about = "Grade scanned Gabarito answer sheets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Grade scans (images, multi-page PDFs, folders of them) against a rendered bundle.
    Grade(grade::GradeArgs),
    /// Grade every scan under gs://BUCKET/PREFIX (or a folder), this task's shard of it, once.
    Batch(batch::BatchArgs),
    /// Scores per student and statistics per question of a graded exam.
    Results(results::ResultsArgs),
    /// List what needs a person's look.
    Review(review::ReviewArgs),
    /// Decide a review item (the sheet is re-scored at once).
    Resolve(resolve::ResolveArgs),
    /// Change an exam's key, weights or annulments and re-score every stored sheet.
    Rescore(rescore::RescoreArgs),
    /// Bring the database schema up to date.
    Migrate(migrate::MigrateArgs),
    /// Create, list or revoke the API tokens of the HTTP services.
    Token(token::TokenArgs),
    /// Serve the HTTP API (and grade queued scan batches) until SIGTERM.
    Serve(serve::ServeCommand),
    /// Delete stored scans, bundles and annotated images past their retention (local folder).
    Retention(retention::RetentionArgs),
}

/// Parses the command line and runs the subcommand.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_FATAL } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Grade(args) => grade::run(args),
        Command::Batch(args) => batch::run(args),
        Command::Results(args) => results::run(args),
        Command::Review(args) => review::run(args),
        Command::Resolve(args) => resolve::run(args),
        Command::Rescore(args) => rescore::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Token(args) => token::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Retention(args) => retention::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("grader: {}", store::cli::error_line(e.as_ref()));
            ExitCode::from(EXIT_FATAL)
        }
    }
}
