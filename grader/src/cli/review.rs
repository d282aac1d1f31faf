//! `grader review [EXAM] [--all] [--json]`: what needs a person's look.

use std::io::Write;

use anyhow::Result;
use clap::Args;

use super::EXIT_OK;
use super::db::DbArgs;

/// Arguments of `grader review`.
#[derive(Args, Debug)]
pub struct ReviewArgs {
    /// The exam's id; without it, every item of the school (unidentified pages included).
    exam: Option<String>,
    /// Also list resolved and dismissed items, and items of superseded scans.
    #[arg(long)]
    all: bool,
    /// One JSON object per item on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// Runs the subcommand.
pub fn run(args: ReviewArgs) -> Result<u8> {
    let tenant = args.db.tenant()?;
    let rt = store::runtime()?;
    let items = rt.block_on(async {
        let store = args.db.open().await?;
        let items = store
            .review_items(&tenant, args.exam.as_deref(), !args.all)
            .await;
        store.close().await;
        anyhow::Ok(items?)
    })?;
    let mut out = super::output::stdout();
    for item in &items {
        if args.json {
            serde_json::to_writer(&mut out, item)?;
            writeln!(out)?;
            continue;
        }
        let place = match item.page {
            Some(p) => format!("{} p{p}", item.file_name),
            None => item.file_name.clone(),
        };
        let who = match (&item.student_id, &item.sheet_code) {
            (Some(s), _) => format!("student {s}"),
            (None, Some(c)) => format!("sheet {c}"),
            (None, None) => "unidentified".into(),
        };
        let status = match &item.resolution {
            Some(r) => format!(" [{:?}: {r}]", item.status).to_lowercase(),
            None => String::new(),
        };
        writeln!(
            out,
            "{:>6}  {place}  {who}  {}{status}",
            item.id, item.reason
        )?;
    }
    out.flush()?;
    if !args.json {
        eprintln!("grader: {} review items", items.len());
    }
    Ok(EXIT_OK)
}
