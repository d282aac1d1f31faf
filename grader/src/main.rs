//! `grader`: grade scanned answer sheets from the command line.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
