//! Results of an exam: per student (score, maximum, what was marked on each question) and per
//! question (how many chose each option, difficulty, discrimination). Plain functions over the
//! stored scores and marks; the store fetches them.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde::Serialize;

use crate::exam::Exam;
use crate::roster::Student;
use crate::scoring::{AnswerState, ReadAnswer};

use crate::scoring::Score;

/// The current score of an answer sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetScore {
    /// Code of the sheet's first page.
    pub sheet_group: String,
    /// The sheet's version.
    pub version: String,
    /// Its student: the roster's, or on an anonymous sheet the number read from its grid.
    pub student_id: Option<String>,
    /// The score.
    pub score: Score,
    /// The exam revision it was computed with.
    pub exam_revision: i64,
}

/// Results of one exam.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExamResults {
    /// The exam's id.
    pub exam_id: String,
    /// Its title.
    pub title: String,
    /// The exam revision (keys, weights, annulments) in force.
    pub revision: i64,
    /// Number of questions.
    pub questions: usize,
    /// One entry per scored answer sheet.
    pub students: Vec<StudentResult>,
    /// One entry per question, in order.
    pub items: Vec<ItemStatistics>,
}

/// One student's (answer sheet's) result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudentResult {
    /// Code of the sheet's first page.
    pub sheet_code: String,
    /// The roster's id; on an anonymous sheet the number read from its grid (`None` until one
    /// is read clearly).
    pub student_id: Option<String>,
    /// The roster's name (empty on anonymous sheets).
    pub name: String,
    /// The roster's class.
    pub class: String,
    /// Exam version of the sheet.
    pub version: String,
    /// Points earned (provisional while `pending` is not empty).
    pub score: f64,
    /// Points available.
    pub max_score: f64,
    /// Questions waiting for review.
    pub pending: Vec<u32>,
    /// Every question, in order.
    pub answers: Vec<QuestionResult>,
}

/// One question on one sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionResult {
    /// Question number, from 1.
    pub question: u32,
    /// Printed labels of the choices marked.
    pub marked: Vec<String>,
    /// How it was read (or resolved).
    pub state: AnswerState,
    /// Points it earned.
    pub points: f64,
    /// Whether exactly the key's choices were marked.
    pub right: bool,
}

/// How many sheets chose one option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OptionCount {
    /// The option's printed label.
    pub label: String,
    /// Sheets that marked it (alone or with others).
    pub count: usize,
}

/// Statistics of one question over every scored sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemStatistics {
    /// Question number, from 1.
    pub question: u32,
    /// Its weight.
    pub weight: f64,
    /// Whether it is annulled.
    pub annulled: bool,
    /// Sheets counted.
    pub sheets: usize,
    /// How many sheets marked each option, in printed order.
    pub options: Vec<OptionCount>,
    /// Sheets that left it blank.
    pub blank: usize,
    /// Sheets that marked more than one option.
    pub multiple: usize,
    /// Sheets whose mark is still uncertain.
    pub uncertain: usize,
    /// Sheets that marked exactly the key (of their version).
    pub right: usize,
    /// Share of sheets right (the classical difficulty index, p); `None` without sheets.
    pub difficulty: Option<f64>,
    /// Point-biserial correlation between being right and the score on the other questions;
    /// `None` when undefined (fewer than two sheets, everyone right or wrong, equal scores).
    pub discrimination: Option<f64>,
    /// Upper–lower index: share right among the top 27% minus among the bottom 27% by score.
    pub upper_lower: Option<f64>,
}

/// Builds the results from the stored scores and the effective marks of the pages that count
/// (keyed by sheet group), naming students from the roster.
pub fn compute(
    exam_id: &str,
    revision: i64,
    exam: &Exam,
    scores: Vec<SheetScore>,
    mut answers: HashMap<String, Vec<ReadAnswer>>,
    students: Vec<Student>,
) -> ExamResults {
    let roster: HashMap<String, Student> = students
        .into_iter()
        .map(|s| (s.student_id.clone(), s))
        .collect();
    let mut rows: Vec<StudentResult> = scores
        .into_iter()
        .map(|s| {
            let read = answers.remove(&s.sheet_group).unwrap_or_default();
            let person = s.student_id.as_ref().and_then(|id| roster.get(id));
            StudentResult {
                answers: question_results(exam, &s.version, &read, &s.score.per_question),
                name: person.map(|p| p.name.clone()).unwrap_or_default(),
                class: person.map(|p| p.class.clone()).unwrap_or_default(),
                sheet_code: s.sheet_group,
                student_id: s.student_id,
                version: s.version,
                score: s.score.score,
                max_score: s.score.max_score,
                pending: s.score.pending,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        (
            a.student_id.is_none(),
            &a.class,
            &a.name,
            &a.student_id,
            &a.sheet_code,
        )
            .cmp(&(
                b.student_id.is_none(),
                &b.class,
                &b.name,
                &b.student_id,
                &b.sheet_code,
            ))
    });
    let items = (0..exam.questions.len())
        .map(|i| item_statistics(exam, i, &rows))
        .collect();
    ExamResults {
        exam_id: exam_id.to_string(),
        title: exam.title.clone(),
        revision,
        questions: exam.questions.len(),
        students: rows,
        items,
    }
}

fn question_results(
    exam: &Exam,
    version: &str,
    read: &[ReadAnswer],
    points: &[f64],
) -> Vec<QuestionResult> {
    exam.questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let number = i as u32 + 1;
            let answer = read.iter().find(|a| a.question == number);
            let (marked, state) = match answer {
                Some(a) => (a.marked.clone(), a.state),
                None => (Vec::new(), AnswerState::Blank),
            };
            let labels = q.choices.labels(exam.language);
            let key = exam.key_for(version, i).unwrap_or_default();
            let mut sorted = marked.clone();
            sorted.sort_unstable();
            sorted.dedup();
            QuestionResult {
                question: number,
                marked: marked
                    .iter()
                    .filter_map(|&m| labels.get(usize::from(m)).cloned())
                    .collect(),
                state,
                points: points.get(i).copied().unwrap_or(0.0),
                right: matches!(state, AnswerState::Answered | AnswerState::Multiple)
                    && sorted == key,
            }
        })
        .collect()
}

fn item_statistics(exam: &Exam, i: usize, rows: &[StudentResult]) -> ItemStatistics {
    let q = &exam.questions[i];
    let labels = q.choices.labels(exam.language);
    let mut options: Vec<OptionCount> = labels
        .iter()
        .map(|l| OptionCount {
            label: l.clone(),
            count: 0,
        })
        .collect();
    let (mut blank, mut multiple, mut uncertain, mut right) = (0, 0, 0, 0);
    // (right?, score on the other questions, total score)
    let mut pairs = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(a) = row.answers.get(i) else {
            continue;
        };
        match a.state {
            AnswerState::Blank => blank += 1,
            AnswerState::Uncertain => uncertain += 1,
            AnswerState::Answered | AnswerState::Multiple => {
                if a.state == AnswerState::Multiple {
                    multiple += 1;
                }
                let chosen: HashSet<&String> = a.marked.iter().collect();
                for o in options.iter_mut().filter(|o| chosen.contains(&o.label)) {
                    o.count += 1;
                }
            }
        }
        if a.right {
            right += 1;
        }
        pairs.push((a.right, row.score - a.points, row.score));
    }
    let n = pairs.len();
    ItemStatistics {
        question: i as u32 + 1,
        weight: q.weight,
        annulled: q.annulled,
        sheets: n,
        options,
        blank,
        multiple,
        uncertain,
        right,
        difficulty: (n > 0).then(|| right as f64 / n as f64),
        discrimination: point_biserial(&pairs),
        upper_lower: upper_lower(&pairs),
    }
}

/// Point-biserial correlation of `right` with the rest score.
fn point_biserial(pairs: &[(bool, f64, f64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    let n1 = pairs.iter().filter(|p| p.0).count() as f64;
    let n0 = n - n1;
    if pairs.len() < 2 || n1 == 0.0 || n0 == 0.0 {
        return None;
    }
    let mean = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let var = pairs.iter().map(|p| (p.1 - mean).powi(2)).sum::<f64>() / n;
    if var <= 1e-12 {
        return None;
    }
    let m1 = pairs.iter().filter(|p| p.0).map(|p| p.1).sum::<f64>() / n1;
    let m0 = pairs.iter().filter(|p| !p.0).map(|p| p.1).sum::<f64>() / n0;
    let p = n1 / n;
    Some((m1 - m0) / var.sqrt() * (p * (1.0 - p)).sqrt())
}

/// Share right among the top 27% by total score minus among the bottom 27%.
fn upper_lower(pairs: &[(bool, f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let mut sorted: Vec<&(bool, f64, f64)> = pairs.iter().collect();
    sorted.sort_by(|a, b| b.2.total_cmp(&a.2));
    let k = ((pairs.len() as f64 * 0.27).round() as usize).clamp(1, pairs.len() / 2);
    let share = |group: &[&(bool, f64, f64)]| {
        group.iter().filter(|p| p.0).count() as f64 / group.len() as f64
    };
    Some(share(&sorted[..k]) - share(&sorted[sorted.len() - k..]))
}

/// A number for a spreadsheet: at most four decimals, no trailing zeros.
fn number(x: f64) -> String {
    let s = format!("{x:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// How a question shows in the CSV: the marked labels (`C`, `A+C` for several), empty when
/// blank, `?` while uncertain.
fn cell(a: &QuestionResult) -> String {
    match a.state {
        AnswerState::Blank => String::new(),
        AnswerState::Uncertain => "?".into(),
        AnswerState::Answered | AnswerState::Multiple => a.marked.join("+"),
    }
}

/// Writes one row per student: `student_id,name,class,version,score,max_score`, then one column
/// per question (`q1`, `q2`, …) with what was marked.
pub fn write_csv(results: &ExamResults, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = [
        "student_id",
        "name",
        "class",
        "version",
        "score",
        "max_score",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend((1..=results.questions).map(|q| format!("q{q}")));
    w.write_record(&header)?;
    for s in &results.students {
        let mut record = vec![
            s.student_id.clone().unwrap_or_default(),
            s.name.clone(),
            s.class.clone(),
            s.version.clone(),
            number(s.score),
            number(s.max_score),
        ];
        record.extend(s.answers.iter().map(cell));
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes one row per question: counts per option, blank, multiple, uncertain, right,
/// difficulty, discrimination and the upper–lower index.
pub fn write_items_csv(results: &ExamResults, out: impl Write) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    let most = results
        .items
        .iter()
        .map(|i| i.options.len())
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = ["question", "weight", "annulled", "sheets"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    header.extend((0..most).map(|i| format!("option{}", i + 1)));
    header.extend(
        [
            "blank",
            "multiple",
            "uncertain",
            "right",
            "difficulty",
            "discrimination",
            "upper_lower",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    w.write_record(&header)?;
    let opt = |x: Option<f64>| x.map(number).unwrap_or_default();
    for item in &results.items {
        let mut record = vec![
            item.question.to_string(),
            number(item.weight),
            item.annulled.to_string(),
            item.sheets.to_string(),
        ];
        for i in 0..most {
            record.push(
                item.options
                    .get(i)
                    .map(|o| format!("{}={}", o.label, o.count))
                    .unwrap_or_default(),
            );
        }
        record.extend([
            item.blank.to_string(),
            item.multiple.to_string(),
            item.uncertain.to_string(),
            item.right.to_string(),
            opt(item.difficulty),
            opt(item.discrimination),
            opt(item.upper_lower),
        ]);
        w.write_record(&record)?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::{Score, score_sheet};

    fn answered(question: u32, m: u8) -> ReadAnswer {
        ReadAnswer {
            question,
            marked: vec![m],
            state: AnswerState::Answered,
        }
    }

    #[test]
    fn statistics_of_a_small_class() {
        let exam = Exam::from_json(
            r#"{"title":"T","questions":[{"key":"A"},{"key":"B"},{"key":"C","weight":2}]}"#,
        )
        .expect("valid");
        // Four students: the strong ones get q1 right; q2 everyone right; q3 mixed.
        let sheets = [
            vec![answered(1, 0), answered(2, 1), answered(3, 2)],
            vec![answered(1, 0), answered(2, 1), answered(3, 2)],
            vec![answered(1, 3), answered(2, 1), answered(3, 0)],
            vec![answered(1, 3), answered(2, 1)],
        ];
        let mut answers = HashMap::new();
        let mut scores = Vec::new();
        for (i, read) in sheets.iter().enumerate() {
            let group = format!("G{i}");
            let score: Score = score_sheet(&exam, "A", read).expect("scores");
            scores.push(SheetScore {
                sheet_group: group.clone(),
                version: "A".into(),
                student_id: Some(format!("{i}")),
                score,
                exam_revision: 1,
            });
            answers.insert(group, read.clone());
        }
        let students = (0..4)
            .map(|i| Student {
                student_id: format!("{i}"),
                name: format!("Aluno {i}"),
                class: "3A".into(),
            })
            .collect();
        let r = compute("ex", 1, &exam, scores, answers, students);
        assert_eq!(r.students.len(), 4);
        assert_eq!(r.students[0].score, 4.0);
        assert_eq!(r.students[3].score, 1.0);
        let q1 = &r.items[0];
        assert_eq!(q1.options[0].count, 2);
        assert_eq!(q1.options[3].count, 2);
        assert_eq!(q1.difficulty, Some(0.5));
        assert!(q1.discrimination.is_some_and(|d| d > 0.9), "{q1:?}");
        assert_eq!(q1.upper_lower, Some(1.0));
        let q2 = &r.items[1];
        assert_eq!(q2.difficulty, Some(1.0));
        assert_eq!(q2.discrimination, None);
        assert_eq!(r.items[2].blank, 1);

        let mut csv = Vec::new();
        write_csv(&r, &mut csv).expect("csv");
        let text = String::from_utf8(csv).expect("utf8");
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("student_id,name,class,version,score,max_score,q1,q2,q3")
        );
        assert_eq!(lines.next(), Some("0,Aluno 0,3A,A,4,4,A,B,C"));
        assert!(text.contains("3,Aluno 3,3A,A,1,4,D,B,\n"), "{text}");
    }

    #[test]
    fn numbers_print_plainly() {
        assert_eq!(number(7.0), "7");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(-0.0), "0");
    }
}
