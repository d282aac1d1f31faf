//! Scoring a sheet's read answers against the key of its version.
//!
//! Pure arithmetic over plain data, so the grader scores a fresh scan and the database re-scores
//! stored marks after a key change with the same code.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exam::{Exam, MultipleCorrect};

/// How a question was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerState {
    /// No bubble marked.
    Blank,
    /// Exactly one bubble marked.
    Answered,
    /// More than one bubble marked.
    Multiple,
    /// The grader is not sure; a person must look. Scores nothing until resolved.
    Uncertain,
}

/// The read answer to one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReadAnswer {
    /// Question number, from 1.
    pub question: u32,
    /// Indices (0 = first choice) of the bubbles read as marked, ascending.
    pub marked: Vec<u8>,
    /// How it was read.
    pub state: AnswerState,
}

/// A sheet's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Score {
    /// Points earned (may be negative under negative marking).
    pub score: f64,
    /// Points available: the sum of weights.
    pub max_score: f64,
    /// Points per question, in question order.
    pub per_question: Vec<f64>,
    /// Questions left unscored because they are uncertain: the score is provisional until a
    /// person resolves them.
    pub pending: Vec<u32>,
}

/// Why a sheet cannot be scored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// The sheet names a version the exam does not have.
    #[error("exam has no version {0:?}")]
    UnknownVersion(String),
}

/// Scores `answers` (any order; missing questions count as blank) for `version` of `exam`.
///
/// Rules: an annulled question gives full weight to everyone; a right answer gives its weight; a
/// wrong or multiply-marked answer gives `scoring.wrong × weight` (0 unless negative marking);
/// blank gives 0; uncertain gives 0 and is listed in [`Score::pending`]. Multiple-correct
/// questions follow `scoring.multiple_correct`.
pub fn score_sheet(
    exam: &Exam,
    version: &str,
    answers: &[ReadAnswer],
) -> Result<Score, ScoreError> {
    if !exam.versions.iter().any(|v| v == version) {
        return Err(ScoreError::UnknownVersion(version.to_string()));
    }
    let mut per_question = Vec::with_capacity(exam.questions.len());
    let mut pending = Vec::new();
    // Position i of a shuffled version prints another question of the file, choices reordered.
    let plan = exam.version_plan(version);
    for (i, printed) in plan.questions.iter().enumerate() {
        let q = &exam.questions[printed.source];
        let number = i as u32 + 1;
        let answer = answers.iter().find(|a| a.question == number);
        let points = if q.annulled {
            q.weight
        } else {
            let key = exam.key_in_plan(&plan, version, i).unwrap_or_default();
            match answer {
                None => 0.0,
                Some(a) => match a.state {
                    AnswerState::Blank => 0.0,
                    AnswerState::Uncertain => {
                        pending.push(number);
                        0.0
                    }
                    AnswerState::Answered | AnswerState::Multiple => question_points(
                        &key,
                        &a.marked,
                        q.weight,
                        exam.scoring.wrong,
                        exam.scoring.multiple_correct,
                    ),
                },
            }
        };
        per_question.push(points);
    }
    Ok(Score {
        score: per_question.iter().sum(),
        max_score: exam.questions.iter().map(|q| q.weight).sum(),
        per_question,
        pending,
    })
}

fn question_points(
    key: &[u8],
    marked: &[u8],
    weight: f64,
    wrong: f64,
    rule: MultipleCorrect,
) -> f64 {
    if marked.is_empty() {
        return 0.0;
    }
    let mut marked = marked.to_vec();
    marked.sort_unstable();
    marked.dedup();
    if marked == key {
        return weight;
    }
    if key.len() > 1 && rule == MultipleCorrect::Partial {
        let right = marked.iter().filter(|m| key.contains(m)).count() as f64;
        let extra = marked.len() as f64 - right;
        let fraction = (right - extra) / key.len() as f64;
        if fraction > 0.0 {
            return weight * fraction;
        }
    }
    wrong * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exam(json: &str) -> Exam {
        Exam::from_json(json).expect("valid exam")
    }

    fn read(question: u32, marked: &[u8], state: AnswerState) -> ReadAnswer {
        ReadAnswer {
            question,
            marked: marked.to_vec(),
            state,
        }
    }

    #[test]
    fn right_wrong_blank_annulled_and_weights() {
        let e = exam(
            r#"{"title":"T","versions":["A","B"],"questions":[
            {"key":"C"},{"key":{"A":"A","B":"B"},"weight":2},{"key":"D","annulled":true},{"key":"E"}]}"#,
        );
        let answers = [
            read(1, &[2], AnswerState::Answered),
            read(2, &[1], AnswerState::Answered),
            read(3, &[], AnswerState::Blank),
        ];
        let a = score_sheet(&e, "A", &answers).expect("scores");
        assert_eq!((a.score, a.max_score), (2.0, 5.0));
        let b = score_sheet(&e, "B", &answers).expect("scores");
        assert_eq!(b.score, 4.0);
        assert!(score_sheet(&e, "Z", &answers).is_err());
    }

    #[test]
    fn certo_errado_penalises_wrong_and_multiple_but_not_blank_or_uncertain() {
        let e = exam(
            r#"{"title":"T","scoring":{"wrong":-1},"questions":[
            {"choices":"true-false","key":"C"},{"choices":"true-false","key":"E"},
            {"choices":"true-false","key":"C"},{"choices":"true-false","key":"C"},
            {"choices":"true-false","key":"C"}]}"#,
        );
        let answers = [
            read(1, &[0], AnswerState::Answered),
            read(2, &[0], AnswerState::Answered),
            read(3, &[0, 1], AnswerState::Multiple),
            read(4, &[], AnswerState::Blank),
            read(5, &[0], AnswerState::Uncertain),
        ];
        let s = score_sheet(&e, "A", &answers).expect("scores");
        assert_eq!(s.per_question, vec![1.0, -1.0, -1.0, 0.0, 0.0]);
        assert_eq!(s.pending, vec![5]);
    }

    #[test]
    fn multiple_correct_all_or_nothing_and_partial() {
        let strict = exam(r#"{"title":"T","questions":[{"key":["A","C"],"weight":2}]}"#);
        let partial = exam(
            r#"{"title":"T","scoring":{"multiple_correct":"partial"},"questions":[{"key":["A","C"],"weight":2}]}"#,
        );
        let both = [read(1, &[0, 2], AnswerState::Multiple)];
        let one = [read(1, &[0], AnswerState::Answered)];
        let one_and_wrong = [read(1, &[0, 1], AnswerState::Multiple)];
        assert_eq!(score_sheet(&strict, "A", &both).map(|s| s.score), Ok(2.0));
        assert_eq!(score_sheet(&strict, "A", &one).map(|s| s.score), Ok(0.0));
        assert_eq!(score_sheet(&partial, "A", &one).map(|s| s.score), Ok(1.0));
        assert_eq!(
            score_sheet(&partial, "A", &one_and_wrong).map(|s| s.score),
            Ok(0.0)
        );
    }
}
