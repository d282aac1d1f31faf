//! The exam file: what the school platform sends to describe an exam.
//!
//! Field names are a contract with the platform. [`Exam::from_json`] deserialises with the path of
//! any bad field in its error, then [`Exam::validate`] checks what types cannot (ranges, keys that
//! name existing choices, one key per version), so an invalid exam is refused with one line that
//! names the field.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Paper size of the printed bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Paper {
    /// ISO A4, 210 × 297 mm.
    #[default]
    A4,
    /// US Letter, 8.5 × 11 in.
    Letter,
}

impl Paper {
    /// Width and height in PDF points (1/72 in).
    pub fn size_pt(self) -> (f32, f32) {
        match self {
            Paper::A4 => (595.276, 841.89),
            Paper::Letter => (612.0, 792.0),
        }
    }
}

/// Language of every printed label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Language {
    /// Brazilian Portuguese.
    #[default]
    #[serde(rename = "pt-BR")]
    PtBr,
    /// English.
    #[serde(rename = "en")]
    En,
}

/// The choices of a question: a count of lettered choices, or a true/false item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Choices {
    /// Lettered choices A, B, C, … (2 to 10).
    Count(u8),
    /// Two choices: "Certo/Errado" (C, E) in pt-BR, "True/False" (T, F) in English.
    TrueFalse(TrueFalse),
}

/// The literal `"true-false"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TrueFalse {
    /// `"true-false"`.
    #[serde(rename = "true-false")]
    TrueFalse,
}

impl Default for Choices {
    fn default() -> Self {
        Choices::Count(5)
    }
}

/// Fewest lettered choices a question may have.
pub const MIN_CHOICES: u8 = 2;
/// Most lettered choices a question may have.
pub const MAX_CHOICES: u8 = 10;

impl Choices {
    /// How many bubbles the question has.
    pub fn count(self) -> u8 {
        match self {
            Choices::Count(n) => n,
            Choices::TrueFalse(_) => 2,
        }
    }

    /// The label printed in each bubble, in order.
    pub fn labels(self, language: Language) -> Vec<String> {
        match self {
            Choices::TrueFalse(_) => match language {
                Language::PtBr => vec!["C".into(), "E".into()],
                Language::En => vec!["T".into(), "F".into()],
            },
            Choices::Count(n) => (0..n).map(|i| char::from(b'A' + i).to_string()).collect(),
        }
    }

    /// The choice index a key or answer letter names, if any. True/false items accept both
    /// languages' letters (C/T for the first, E/F for the second).
    pub fn index_of(self, label: &str) -> Option<u8> {
        let label = label.trim().to_ascii_uppercase();
        match self {
            Choices::TrueFalse(_) => match label.as_str() {
                "C" | "T" | "TRUE" | "CERTO" => Some(0),
                "E" | "F" | "FALSE" | "ERRADO" => Some(1),
                _ => None,
            },
            Choices::Count(n) => {
                let b = *label.as_bytes().first()?;
                (label.len() == 1 && b >= b'A' && b < b'A' + n).then_some(b - b'A')
            }
        }
    }
}

/// One or several correct choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum KeyAnswer {
    /// A single correct choice, e.g. `"C"`.
    One(String),
    /// Several correct choices (a multiple-correct question), e.g. `["A", "C"]`.
    Many(Vec<String>),
}

impl KeyAnswer {
    fn labels(&self) -> Vec<&str> {
        match self {
            KeyAnswer::One(s) => vec![s.as_str()],
            KeyAnswer::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The answer key of a question: the same for every version, or one per version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Key {
    /// The same answer for every version.
    Same(KeyAnswer),
    /// One answer per version label, e.g. `{"A": "C", "B": "E"}`.
    PerVersion(BTreeMap<String, KeyAnswer>),
}

/// A question of the exam.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Number of choices (2–10) or `"true-false"` for Certo/Errado items. Default 5.
    #[serde(default)]
    pub choices: Choices,
    /// The correct choice(s).
    pub key: Key,
    /// Points for a right answer. Default 1.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// An annulled question gives every student full credit.
    #[serde(default)]
    pub annulled: bool,
}

fn default_weight() -> f64 {
    1.0
}

/// How multiple-correct questions are scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MultipleCorrect {
    /// Full weight only when exactly the key's choices are marked.
    #[default]
    AllOrNothing,
    /// Weight × (right choices marked − wrong choices marked) / choices in the key, when positive.
    Partial,
}

/// Scoring rules common to every question.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    /// Points per unit of weight for a wrong answer: 0 (default) or negative, e.g. −1 for
    /// Certo/Errado. Blank answers score 0.
    #[serde(default)]
    pub wrong: f64,
    /// How multiple-correct questions are scored.
    #[serde(default)]
    pub multiple_correct: MultipleCorrect,
}

/// An exam, as the school platform describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exam {
    /// Title printed on every sheet, e.g. "Simulado 1 — Matemática".
    pub title: String,
    /// School name printed on every sheet.
    #[serde(default)]
    pub school: String,
    /// Subject printed on every sheet.
    #[serde(default)]
    pub subject: String,
    /// Date of the exam, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Paper size. Default A4.
    #[serde(default)]
    pub paper: Paper,
    /// Language of the printed labels. Default pt-BR.
    #[serde(default)]
    pub language: Language,
    /// Version labels (booklet colours or letters). Default `["A"]`.
    #[serde(default = "default_versions")]
    pub versions: Vec<String>,
    /// The questions, in printed order (question 1 first).
    pub questions: Vec<Question>,
    /// Scoring rules.
    #[serde(default)]
    pub scoring: Scoring,
    /// Digits of the student-number grid on anonymous sheets (no roster). Default 8.
    #[serde(default = "default_student_number_digits")]
    pub student_number_digits: u8,
}

fn default_versions() -> Vec<String> {
    vec!["A".into()]
}

fn default_student_number_digits() -> u8 {
    8
}

/// Most questions an exam may have.
pub const MAX_QUESTIONS: usize = 1000;
/// Most digits of a student-number grid.
pub const MAX_STUDENT_NUMBER_DIGITS: u8 = 12;

/// An exam file that cannot be used, with the path of the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ExamError {
    /// Where, e.g. `questions[3].key`; empty for the file as a whole.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ExamError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl Exam {
    /// Parses and validates an exam file.
    pub fn from_json(text: &str) -> Result<Self, ExamError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let exam: Exam = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = format!("{inner}");
            ExamError::at(if path == "." { String::new() } else { path }, message)
        })?;
        exam.validate()?;
        Ok(exam)
    }

    /// Checks everything the types do not: ranges, labels, keys.
    pub fn validate(&self) -> Result<(), ExamError> {
        if self.title.trim().is_empty() {
            return Err(ExamError::at("title", "must not be empty"));
        }
        if let Some(date) = &self.date
            && !is_iso_date(date)
        {
            return Err(ExamError::at(
                "date",
                format!("{date:?} is not a YYYY-MM-DD date"),
            ));
        }
        if self.versions.is_empty() {
            return Err(ExamError::at("versions", "must name at least one version"));
        }
        let mut seen = BTreeSet::new();
        for (i, v) in self.versions.iter().enumerate() {
            if v.trim().is_empty() || v.chars().count() > 16 {
                return Err(ExamError::at(
                    format!("versions[{i}]"),
                    "must be 1 to 16 characters",
                ));
            }
            if !seen.insert(v) {
                return Err(ExamError::at(
                    format!("versions[{i}]"),
                    format!("{v:?} appears twice"),
                ));
            }
        }
        if self.questions.is_empty() || self.questions.len() > MAX_QUESTIONS {
            return Err(ExamError::at(
                "questions",
                format!(
                    "must hold 1 to {MAX_QUESTIONS} questions, found {}",
                    self.questions.len()
                ),
            ));
        }
        if !(1..=MAX_STUDENT_NUMBER_DIGITS).contains(&self.student_number_digits) {
            return Err(ExamError::at(
                "student_number_digits",
                format!("must be 1 to {MAX_STUDENT_NUMBER_DIGITS}"),
            ));
        }
        if !self.scoring.wrong.is_finite() || self.scoring.wrong > 0.0 {
            return Err(ExamError::at("scoring.wrong", "must be zero or negative"));
        }
        for (i, q) in self.questions.iter().enumerate() {
            self.validate_question(i, q)?;
        }
        Ok(())
    }

    fn validate_question(&self, i: usize, q: &Question) -> Result<(), ExamError> {
        let at = |field: &str| format!("questions[{i}].{field}");
        if let Choices::Count(n) = q.choices
            && !(MIN_CHOICES..=MAX_CHOICES).contains(&n)
        {
            return Err(ExamError::at(
                at("choices"),
                format!("must be {MIN_CHOICES} to {MAX_CHOICES} or \"true-false\", found {n}"),
            ));
        }
        if !q.weight.is_finite() || q.weight < 0.0 {
            return Err(ExamError::at(at("weight"), "must be a non-negative number"));
        }
        let check_answer = |path: String, answer: &KeyAnswer| -> Result<(), ExamError> {
            let labels = answer.labels();
            if labels.is_empty() {
                return Err(ExamError::at(path, "must name at least one choice"));
            }
            let mut seen = BTreeSet::new();
            for label in labels {
                let idx = q.choices.index_of(label).ok_or_else(|| {
                    ExamError::at(
                        path.clone(),
                        format!(
                            "{label:?} is not one of the choices {}",
                            q.choices.labels(self.language).join(", ")
                        ),
                    )
                })?;
                if !seen.insert(idx) {
                    return Err(ExamError::at(
                        path.clone(),
                        format!("{label:?} appears twice"),
                    ));
                }
            }
            Ok(())
        };
        match &q.key {
            Key::Same(answer) => check_answer(at("key"), answer)?,
            Key::PerVersion(map) => {
                for v in &self.versions {
                    let answer = map.get(v).ok_or_else(|| {
                        ExamError::at(at("key"), format!("has no answer for version {v:?}"))
                    })?;
                    check_answer(format!("{}.{v}", at("key")), answer)?;
                }
                if let Some(extra) = map.keys().find(|k| !self.versions.contains(k)) {
                    return Err(ExamError::at(
                        at("key"),
                        format!("names version {extra:?}, which is not in versions"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The correct choice indices of question `index` (0-based) for `version`, or `None` when the
    /// version or question does not exist. Sorted, without duplicates.
    pub fn key_for(&self, version: &str, index: usize) -> Option<Vec<u8>> {
        let q = self.questions.get(index)?;
        let answer = match &q.key {
            Key::Same(a) => a,
            Key::PerVersion(map) => map.get(version)?,
        };
        let mut out: Vec<u8> = answer
            .labels()
            .iter()
            .filter_map(|l| q.choices.index_of(l))
            .collect();
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// The JSON Schema of the exam file, generated from these types.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(Exam)).unwrap_or_default()
    }
}

fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    matches!((num(0..4), num(5..7), num(8..10)), (Some(_), Some(m), Some(d)) if (1..=12).contains(&m) && (1..=31).contains(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "title": "Simulado 1 — Matemática", "school": "Escola Estadual São João",
        "subject": "Matemática", "date": "2026-11-30", "paper": "A4", "language": "pt-BR",
        "versions": ["A", "B"],
        "questions": [
            { "choices": 5, "key": "C" },
            { "choices": 5, "key": ["A", "C"], "weight": 2.0 },
            { "choices": 4, "key": {"A": "D", "B": "a"}, "annulled": true },
            { "choices": "true-false", "key": "E" }
        ],
        "scoring": { "wrong": -1.0, "multiple_correct": "partial" }
    }"#;

    #[test]
    fn parses_the_platform_example() {
        let exam = Exam::from_json(SAMPLE).expect("valid");
        assert_eq!(exam.questions.len(), 4);
        assert_eq!(exam.key_for("A", 1), Some(vec![0, 2]));
        assert_eq!(exam.key_for("B", 2), Some(vec![0]));
        assert_eq!(exam.key_for("A", 3), Some(vec![1]));
        assert_eq!(exam.scoring.multiple_correct, MultipleCorrect::Partial);
    }

    #[test]
    fn defaults_apply() {
        let exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"B"}]}"#).expect("valid");
        assert_eq!(exam.paper, Paper::A4);
        assert_eq!(exam.language, Language::PtBr);
        assert_eq!(exam.versions, vec!["A".to_string()]);
        assert_eq!(exam.questions[0].choices.count(), 5);
        assert_eq!(exam.questions[0].weight, 1.0);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"title":"T","questions":[{"key":"F"}]}"#,
                "questions[0].key",
            ),
            (
                r#"{"title":"T","questions":[{"key":"A","choices":11}]}"#,
                "questions[0].choices",
            ),
            (
                r#"{"title":"T","questions":[{"key":"A","choices":"x"}]}"#,
                "questions[0].choices",
            ),
            (
                r#"{"title":"T","versions":["A","B"],"questions":[{"key":{"A":"B"}}]}"#,
                "questions[0].key",
            ),
            (
                r#"{"title":"T","questions":[{"key":"A","wieght":2}]}"#,
                "questions[0]",
            ),
            (
                r#"{"title":"T","paper":"A5","questions":[{"key":"A"}]}"#,
                "paper",
            ),
            (r#"{"title":"","questions":[{"key":"A"}]}"#, "title"),
            (
                r#"{"title":"T","date":"30/11/2026","questions":[{"key":"A"}]}"#,
                "date",
            ),
            (r#"{"title":"T","questions":[]}"#, "questions"),
        ];
        for (json, path) in cases {
            let err = Exam::from_json(json).expect_err(json);
            assert!(err.path.starts_with(path), "{json}: got {err}");
        }
    }

    #[test]
    fn schema_is_generated_from_the_types() {
        let schema = Exam::json_schema();
        assert!(schema["properties"]["questions"].is_object(), "{schema}");
    }
}
