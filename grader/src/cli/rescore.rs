//! `grader rescore EXAM [--annul N] [--restore N] [--key N=C] [--weight N=W]`: change the key
//! and re-score every stored sheet of the exam from its stored marks (no image is read again).

use anyhow::{Context, Result, anyhow};
use clap::Args;
use model::Exam;
use model::exam::{Key, KeyAnswer, Question};

use super::EXIT_OK;
use super::db::DbArgs;

/// Arguments of `grader rescore`.
#[derive(Args, Debug)]
pub struct RescoreArgs {
    /// The exam's id.
    exam: String,
    /// Annul question N (everyone gets its weight). Repeatable.
    #[arg(long, value_name = "N")]
    annul: Vec<u32>,
    /// Undo the annulment of question N. Repeatable.
    #[arg(long, value_name = "N")]
    restore: Vec<u32>,
    /// New key of question N for every version, e.g. `5=C` or `7=A,C`. Repeatable.
    #[arg(long, value_name = "N=KEY")]
    key: Vec<String>,
    /// New weight of question N, e.g. `3=2.5`. Repeatable.
    #[arg(long, value_name = "N=W")]
    weight: Vec<String>,
    #[command(flatten)]
    db: DbArgs,
}

/// Runs the subcommand.
pub fn run(args: RescoreArgs) -> Result<u8> {
    let tenant = args.db.tenant()?;
    let rt = store::runtime()?;
    let report = rt.block_on(async {
        let store = args.db.open().await?;
        let stored = store
            .exam(&tenant, &args.exam)
            .await?
            .ok_or_else(|| anyhow!("exam {:?} not found", args.exam))?;
        let mut exam = stored.exam;
        // Nothing is saved unless every change applies.
        apply(&mut exam, &args)?;
        let report = store.update_exam(&tenant, &args.exam, &exam).await;
        store.close().await;
        anyhow::Ok(report?)
    })?;
    eprintln!(
        "grader: exam {} is at revision {}; {} sheets re-scored",
        args.exam, report.revision, report.sheets
    );
    Ok(EXIT_OK)
}

fn apply(exam: &mut Exam, args: &RescoreArgs) -> Result<()> {
    for &n in &args.annul {
        question(exam, n)?.annulled = true;
    }
    for &n in &args.restore {
        question(exam, n)?.annulled = false;
    }
    for k in &args.key {
        let (n, v) = split(k)?;
        let labels: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
        let key = match labels.as_slice() {
            [one] => KeyAnswer::One(one.clone()),
            _ => KeyAnswer::Many(labels),
        };
        question(exam, n)?.key = Key::Same(key);
    }
    for w in &args.weight {
        let (n, v) = split(w)?;
        question(exam, n)?.weight = v.parse().with_context(|| format!("{w:?}: bad weight"))?;
    }
    Ok(())
}

fn question(exam: &mut Exam, n: u32) -> Result<&mut Question> {
    let count = exam.questions.len();
    n.checked_sub(1)
        .and_then(|i| exam.questions.get_mut(i as usize))
        .ok_or_else(|| anyhow!("question {n} does not exist (the exam has {count})"))
}

fn split(arg: &str) -> Result<(u32, &str)> {
    let (n, v) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("{arg:?}: expected N=VALUE"))?;
    let n = n
        .trim()
        .parse()
        .with_context(|| format!("{arg:?}: bad question number"))?;
    Ok((n, v.trim()))
}
