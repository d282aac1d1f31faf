//! `grader results EXAM [--csv | --json] [--items]`: scores per student and statistics per
//! question, from the database.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use model::results::{ExamResults, write_csv, write_items_csv};

use super::EXIT_OK;
use super::db::DbArgs;

/// Arguments of `grader results`.
#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// The exam's id (as printed by `render-service render` and written in bundle.json).
    exam: String,
    /// CSV on stdout: `student_id,name,class,version,score,max_score`, then one column per
    /// question with what was marked.
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Everything as one JSON document on stdout: students, their answers, item statistics.
    #[arg(long)]
    json: bool,
    /// With --csv: one row per question (option counts, difficulty, discrimination) instead.
    #[arg(long, requires = "csv")]
    items: bool,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    read_db: store::cli::ReadDbArgs,
}

/// Runs the subcommand.
pub fn run(args: ResultsArgs) -> Result<u8> {
    let tenant = args.db.tenant()?;
    let rt = store::runtime()?;
    let results = rt.block_on(async {
        // Only reads: from the replica when there is one (the primary is not even opened).
        let store = match args.read_db.open().await? {
            Some(replica) => replica,
            None => args.db.open().await?,
        };
        let results = store.results(&tenant, &args.exam).await;
        store.close().await;
        anyhow::Ok(results?)
    })?;
    let mut out = super::output::stdout();
    if args.csv && args.items {
        write_items_csv(&results, &mut out).context("cannot write CSV")?;
    } else if args.csv {
        write_csv(&results, &mut out).context("cannot write CSV")?;
    } else if args.json {
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else {
        print_table(&results, &mut out)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

fn print_table(r: &ExamResults, out: &mut impl Write) -> Result<()> {
    writeln!(
        out,
        "{} ({}), revision {}: {} sheets",
        r.title,
        r.exam_id,
        r.revision,
        r.students.len()
    )?;
    for s in &r.students {
        let pending = if s.pending.is_empty() {
            String::new()
        } else {
            format!("  (provisional: questions {:?} in review)", s.pending)
        };
        writeln!(
            out,
            "{:<12} {:<32} {:<8} {:<4} {:>7.2} / {:<7.2}{pending}",
            s.student_id.as_deref().unwrap_or(&s.sheet_code),
            s.name,
            s.class,
            s.version,
            s.score,
            s.max_score
        )?;
    }
    writeln!(out)?;
    writeln!(out, "question  right  difficulty  discrimination  options")?;
    for i in &r.items {
        let options: Vec<String> = i
            .options
            .iter()
            .map(|o| format!("{}:{}", o.label, o.count))
            .collect();
        let fmt = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:>8}{} {:>5}  {:>10}  {:>14}  {} blank:{}{}",
            i.question,
            if i.annulled { "*" } else { " " },
            i.right,
            fmt(i.difficulty),
            fmt(i.discrimination),
            options.join(" "),
            i.blank,
            if i.uncertain > 0 {
                format!(" uncertain:{}", i.uncertain)
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}
