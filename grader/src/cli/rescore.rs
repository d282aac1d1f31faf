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

/// Applies the requested changes, each checked against its question as the teacher numbered it
/// (`question 2: "Z" is not one of the choices A, B, C, D, E`), not as the exam file's JSON
/// path (`questions[1].key`) that the store's validation of the whole exam would name.
fn apply(exam: &mut Exam, args: &RescoreArgs) -> Result<()> {
    let language = exam.language;
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
        let q = question(exam, n)?;
        q.check_answer(&key, language)
            .map_err(|e| anyhow!("question {n}: {e}"))?;
        q.key = Key::Same(key);
    }
    for w in &args.weight {
        let (n, v) = split(w)?;
        let weight: f64 = v
            .parse()
            .with_context(|| format!("question {n}: weight {v:?} is not a number"))?;
        Question::check_weight(weight).map_err(|e| anyhow!("question {n}: weight {e}"))?;
        question(exam, n)?.weight = weight;
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RescoreArgs,
    }

    fn applied(args: &[&str]) -> Result<Exam> {
        let mut exam = Exam::from_json(
            r#"{"title":"T","questions":[{"key":"A"},{"key":"B"},{"choices":"true-false","key":"C"}]}"#,
        )
        .expect("valid");
        let cli = Cli::try_parse_from(["rescore", "EXAM"].iter().chain(args))?;
        apply(&mut exam, &cli.args)?;
        Ok(exam)
    }

    fn error(args: &[&str]) -> String {
        format!("{:#}", applied(args).expect_err("refused"))
    }

    #[test]
    fn a_bad_change_names_the_question_as_the_teacher_numbered_it() {
        assert_eq!(
            error(&["--key", "2=Z"]),
            r#"question 2: "Z" is not one of the choices A, B, C, D, E"#
        );
        assert_eq!(
            error(&["--key", "3=X"]),
            r#"question 3: "X" is not one of the choices C, E"#
        );
        assert_eq!(
            error(&["--key", "1=A,a"]),
            r#"question 1: "a" appears twice"#
        );
        assert_eq!(
            error(&["--weight", "2=-1"]),
            "question 2: weight must be a non-negative number, found -1"
        );
        assert_eq!(
            error(&["--weight", "2=inf"]),
            "question 2: weight must be a non-negative number, found inf"
        );
        assert!(
            error(&["--weight", "2=heavy"])
                .starts_with(r#"question 2: weight "heavy" is not a number"#)
        );
        assert_eq!(
            error(&["--key", "4=A"]),
            "question 4 does not exist (the exam has 3)"
        );
        let exam =
            applied(&["--key", "2=c,e", "--weight", "1=2.5", "--annul", "3"]).expect("valid");
        assert_eq!(exam.key_for("A", 1), Some(vec![2, 4]));
        assert_eq!(exam.questions[0].weight, 2.5);
        assert!(exam.questions[2].annulled);
    }
}
