//! `grader resolve ITEM --answer C | --blank | --dismiss | --sheet CODE | --student ID --exam E`:
//! a person's decision on a review item; the sheet is re-scored at once.

use anyhow::{Result, bail};
use clap::Args;
use grader::student_sheet::{StudentSheet, student_sheet};
use model::SheetCode;
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
    #[arg(long, conflicts_with_all = ["sheet", "student"])]
    dismiss: bool,
    /// An unidentified page is this sheet's (the code printed under its QR code): the page is
    /// recorded under it and scored from the marks read.
    #[arg(long, value_name = "CODE", conflicts_with_all = ["answer", "blank", "student"])]
    sheet: Option<String>,
    /// An unidentified page is this student's answer sheet (of the exam given with --exam).
    #[arg(long, value_name = "ID", requires = "exam", conflicts_with_all = ["answer", "blank"])]
    student: Option<String>,
    /// The exam of --student.
    #[arg(long, value_name = "EXAM")]
    exam: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

/// Runs the subcommand.
pub fn run(args: ResolveArgs) -> Result<u8> {
    let decision = if args.dismiss {
        Decision::Review(Resolution::Dismiss)
    } else if args.blank {
        Decision::Review(Resolution::Blank)
    } else if !args.answer.is_empty() {
        Decision::Review(Resolution::Choices(args.answer.clone()))
    } else if let Some(code) = &args.sheet {
        Decision::Sheet(SheetCode::parse(code.trim()).map_err(|e| {
            anyhow::anyhow!("--sheet {code:?} is not a sheet code ({e}); copy the code printed under the QR code, e.g. K7QM4-XRT9H-WDA3C")
        })?)
    } else if let (Some(student), Some(exam)) = (&args.student, &args.exam) {
        Decision::Student {
            student: student.clone(),
            exam: exam.clone(),
        }
    } else {
        bail!(
            "say what the student marked (--answer C or A,C, --blank), whose page it is \
             (--sheet CODE, or --student ID --exam EXAM), or --dismiss"
        );
    };
    let tenant = args.db.tenant()?;
    let rt = store::runtime()?;
    let outcome = rt.block_on(async {
        let store = args.db.open().await?;
        let outcome = decide(&store, &tenant, args.item, &decision).await;
        store.close().await;
        outcome
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

/// What the person decided.
enum Decision {
    /// About a question's mark, or nothing to change.
    Review(Resolution),
    /// The unidentified page is this sheet's.
    Sheet(SheetCode),
    /// The unidentified page is this student's (single-page) answer sheet.
    Student { student: String, exam: String },
}

async fn decide(
    store: &store::Store,
    tenant: &store::TenantId,
    item: i64,
    decision: &Decision,
) -> Result<store::ResolveOutcome> {
    Ok(match decision {
        Decision::Review(resolution) => store.resolve_review(tenant, item, resolution).await?,
        Decision::Sheet(code) => store.assign_page(tenant, item, code).await?,
        Decision::Student { student, exam } => {
            let code = match student_sheet(store, tenant, exam, student).await? {
                StudentSheet::Missing => {
                    bail!("exam {exam} has no answer sheet for student {student:?}")
                }
                StudentSheet::One(code) => code,
                StudentSheet::Several(n) => bail!(
                    "student {student:?} has {n} answer-sheet pages in exam {exam}: say which with --sheet CODE"
                ),
            };
            store.assign_page(tenant, item, &code).await?
        }
    })
}
