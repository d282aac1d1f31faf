//! `grader migrate`: bring the database schema up to date (the other commands also do it).

use anyhow::Result;
use clap::Args;

use super::EXIT_OK;
use super::db::DbArgs;

/// Arguments of `grader migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// Runs the subcommand.
pub fn run(args: MigrateArgs) -> Result<u8> {
    let rt = store::runtime()?;
    rt.block_on(async {
        let store = args.db.open().await?;
        eprintln!("grader: {} database is up to date", store.backend_name());
        store.close().await;
        Ok(EXIT_OK)
    })
}
