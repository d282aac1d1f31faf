//! `grader resolve ITEM --answer C | --blank | --dismiss`: a person's decision on a review item;
//! the sheet is re-scored at once.

use anyhow::{Result, bail};
use clap::Args;
use store::Resolution;

use super::EXIT_OK;
use super::db::DbArgs;

/// Arguments of `grader resolve`.
#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// The review item's id (from `grader review`).
    item: i64,
    /// The choice(s) the student marked, e.g. `C` or `A,C`.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["blank", "dismiss"])]
    answer: Vec<String>,
    /// The student left the question blank.
    #[arg(long, conflicts_with = "dismiss")]
    blank: bool,
    /// Nothing to change.
    #[arg(long)]
    dismiss: bool,
    #[command(flatten)]
    db: DbArgs,
}

/// Runs the subcommand.
pub fn run(args: ResolveArgs) -> Result<u8> {
    let resolution = if args.dismiss {
        Resolution::Dismiss
    } else if args.blank {
        Resolution::Blank
    } else if !args.answer.is_empty() {
        Resolution::Choices(args.answer.clone())
    } else {
        bail!("say what the student marked: --answer C (or A,C), --blank, or --dismiss");
    };
    let tenant = args.db.tenant()?;
    let rt = store::runtime()?;
    let outcome = rt.block_on(async {
        let store = args.db.open().await?;
        let outcome = store.resolve_review(&tenant, args.item, &resolution).await;
        store.close().await;
        anyhow::Ok(outcome?)
    })?;
    let item = &outcome.item;
    eprintln!(
        "grader: review item {} {}",
        item.id,
        match &item.resolution {
            Some(r) => format!("resolved: {r}"),
            None => "updated".into(),
        }
    );
    if let Some(score) = &outcome.score {
        let pending = if score.pending.is_empty() {
            String::new()
        } else {
            format!(" (questions {:?} still in review)", score.pending)
        };
        println!(
            "{}: {} / {}{pending}",
            item.student_id
                .as_deref()
                .or(item.sheet_code.as_deref())
                .unwrap_or("sheet"),
            score.score,
            score.max_score
        );
    }
    Ok(EXIT_OK)
}
