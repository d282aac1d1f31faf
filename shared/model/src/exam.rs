//! The exam file: what the school platform sends to describe an exam.
//!
//! Field names are a contract with the platform. [`Exam::from_json`] deserialises with the path of
//! any bad field in its error, then [`Exam::validate`] checks what types cannot (ranges, keys that
//! name existing choices, one key per version), so an invalid exam is refused with one line that
//! names the field.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::booklet::VersionPlan;
pub use crate::booklet::{BookletOptions, Figure, OpenQuestion, Shuffle};

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
// Deserialised by hand, like `KeyAnswer` and `Key` (see their `Deserialize` impls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
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
    /// What the booklet prints, in the Markdown subset of [`crate::booklet`] (with `$…$`
    /// math). Without it the question is answer-sheet only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::booklet::MAX_STATEMENT_CHARS))]
    pub statement: Option<String>,
    /// The text of each choice, in order (as many as `choices`), in the same Markdown subset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Pictures printed after the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::booklet::MAX_FIGURES))]
    pub figures: Vec<Figure>,
    /// Questions sharing a group name (consecutive in the file) stay together, in their order,
    /// when the questions are shuffled (e.g. several questions about one text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = crate::booklet::MAX_GROUP_CHARS))]
    pub group: Option<String>,
    /// Stays at its place when the questions are shuffled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
    /// Keeps its choices in order when the choices are shuffled (e.g. "all of the above").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_choices: bool,
}

fn default_weight() -> f64 {
    1.0
}

/// What is wrong with one value of an exam, before it is placed at a path (an exam file names
/// the JSON field, a command names the question).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldError {
    /// A key names no choice.
    #[error("must name at least one choice")]
    NoChoice,
    /// A key names a choice the question does not have.
    #[error("{label:?} is not one of the choices {choices}")]
    NotAChoice {
        /// The label as given.
        label: String,
        /// The question's choices, e.g. `A, B, C, D, E`.
        choices: String,
    },
    /// A key names the same choice twice.
    #[error("{label:?} appears twice")]
    Repeated {
        /// The label as given.
        label: String,
    },
    /// A weight that is negative or not a number.
    #[error("must be a non-negative number, found {0}")]
    BadWeight(f64),
    /// A text longer than its limit.
    #[error("{len} characters, at most {max}")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl Question {
    /// Checks that `answer` names at least one of this question's choices, each once.
    /// `language` only words the list of choices in the error.
    pub fn check_answer(&self, answer: &KeyAnswer, language: Language) -> Result<(), FieldError> {
        let labels = answer.labels();
        if labels.is_empty() {
            return Err(FieldError::NoChoice);
        }
        let mut seen = BTreeSet::new();
        for label in labels {
            let idx = self
                .choices
                .index_of(label)
                .ok_or_else(|| FieldError::NotAChoice {
                    label: label.to_string(),
                    choices: self.choices.labels(language).join(", "),
                })?;
            if !seen.insert(idx) {
                return Err(FieldError::Repeated {
                    label: label.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Checks one weight: finite and not negative.
    pub fn check_weight(weight: f64) -> Result<(), FieldError> {
        if !weight.is_finite() || weight < 0.0 {
            return Err(FieldError::BadWeight(weight));
        }
        Ok(())
    }
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
    #[schemars(range(max = 0.0))]
    pub wrong: f64,
    /// How multiple-correct questions are scored.
    #[serde(default)]
    pub multiple_correct: MultipleCorrect,
}

/// An exam, as the school platform describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Exam {
    /// Title printed on every sheet, e.g. "Simulado 1 — Matemática" (at most 200 characters).
    #[schemars(length(min = 1, max = MAX_TITLE_CHARS), regex(pattern = r"\S"))]
    pub title: String,
    /// School name printed on every sheet (at most 200 characters).
    #[serde(default)]
    #[schemars(length(max = MAX_SCHOOL_CHARS))]
    pub school: String,
    /// Subject printed on every sheet (at most 120 characters).
    #[serde(default)]
    #[schemars(length(max = MAX_SUBJECT_CHARS))]
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
    #[schemars(
        length(min = 1),
        inner(length(min = 1, max = 16), regex(pattern = r"\S"))
    )]
    pub versions: Vec<String>,
    /// The questions, in printed order (question 1 first).
    #[schemars(length(min = 1, max = MAX_QUESTIONS))]
    pub questions: Vec<Question>,
    /// Scoring rules.
    #[serde(default)]
    pub scoring: Scoring,
    /// Digits of the student-number grid on anonymous sheets (no roster). Default 8.
    #[serde(default = "default_student_number_digits")]
    #[schemars(range(min = 1, max = MAX_STUDENT_NUMBER_DIGITS))]
    pub student_number_digits: u8,
    /// Open questions ("discursivas"), printed in the booklet after the others, each with a
    /// ruled answer box; graded by a person.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::booklet::MAX_OPEN_QUESTIONS))]
    pub open_questions: Vec<OpenQuestion>,
    /// How the booklet is laid out (when the questions carry content).
    #[serde(default, skip_serializing_if = "is_default")]
    pub booklet: BookletOptions,
    /// Shuffling of questions and choices between versions; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle: Option<Shuffle>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

fn default_versions() -> Vec<String> {
    vec!["A".into()]
}

fn default_student_number_digits() -> u8 {
    8
}

/// Most questions an exam may have.
pub const MAX_QUESTIONS: usize = 1000;
/// Most characters of the title (longer would not fit the printed header legibly).
pub const MAX_TITLE_CHARS: usize = 200;
/// Most characters of the school's name.
pub const MAX_SCHOOL_CHARS: usize = 200;
/// Most characters of the subject.
pub const MAX_SUBJECT_CHARS: usize = 120;
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
        for (field, text, max) in [
            ("title", &self.title, MAX_TITLE_CHARS),
            ("school", &self.school, MAX_SCHOOL_CHARS),
            ("subject", &self.subject, MAX_SUBJECT_CHARS),
        ] {
            check_length(text, max).map_err(|e| ExamError::at(field, e.to_string()))?;
        }
        if let Some(date) = &self.date {
            check_date(date).map_err(|message| ExamError::at("date", message))?;
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
            return Err(ExamError::at(
                "scoring.wrong",
                "must be a number, zero or negative",
            ));
        }
        for (i, q) in self.questions.iter().enumerate() {
            self.validate_question(i, q)?;
        }
        crate::booklet::validate(self).map_err(|(path, message)| ExamError::at(path, message))?;
        self.validate_totals()
    }

    /// Whether the exam has a booklet to print: some question carries content, or there are
    /// open questions.
    pub fn has_booklet(&self) -> bool {
        !self.open_questions.is_empty()
            || self
                .questions
                .iter()
                .any(|q| q.statement.is_some() || !q.options.is_empty() || !q.figures.is_empty())
    }

    /// The order of questions and choices printed for `version` (the file's order unless the
    /// exam shuffles).
    pub fn version_plan(&self, version: &str) -> VersionPlan {
        VersionPlan::of(self, version)
    }

    /// The question printed at position `index` (0-based) of `version`'s sheets.
    pub fn printed_question(&self, version: &str, index: usize) -> Option<&Question> {
        if self.shuffle.is_none() {
            return self.questions.get(index);
        }
        let plan = self.version_plan(version);
        self.questions.get(plan.questions.get(index)?.source)
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
        Question::check_weight(q.weight).map_err(|e| ExamError::at(at("weight"), e.to_string()))?;
        let check = |path: String, answer: &KeyAnswer| {
            q.check_answer(answer, self.language)
                .map_err(|e| ExamError::at(path, e.to_string()))
        };
        match &q.key {
            Key::Same(answer) => check(at("key"), answer)?,
            Key::PerVersion(map) => {
                for v in &self.versions {
                    let answer = map.get(v).ok_or_else(|| {
                        ExamError::at(at("key"), format!("has no answer for version {v:?}"))
                    })?;
                    check(format!("{}.{v}", at("key")), answer)?;
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

    /// Refuses weights whose total (the maximum score) or whose total wrong-answer penalty is
    /// not a finite number: each weight alone can be finite while the sum overflows.
    fn validate_totals(&self) -> Result<(), ExamError> {
        let mut total = 0.0_f64;
        for (i, q) in self.questions.iter().enumerate() {
            total += q.weight;
            if !total.is_finite() {
                return Err(ExamError::at(
                    format!("questions[{i}].weight"),
                    format!("{} makes the total of the weights too large", q.weight),
                ));
            }
        }
        if !(self.scoring.wrong * total).is_finite() {
            return Err(ExamError::at(
                "scoring.wrong",
                format!(
                    "{} times the total weight {total} is too large",
                    self.scoring.wrong
                ),
            ));
        }
        Ok(())
    }

    /// The correct choice indices of question `index` (0-based) for `version`, or `None` when the
    /// version or question does not exist. Sorted, without duplicates.
    ///
    /// `index` is the printed position on `version`'s sheets: when the exam shuffles, the key
    /// is the one of the question printed there, with its choices in their printed order.
    pub fn key_for(&self, version: &str, index: usize) -> Option<Vec<u8>> {
        if self.shuffle.is_none() {
            return self.file_key(version, index);
        }
        self.key_in_plan(&self.version_plan(version), version, index)
    }

    /// [`Exam::key_for`] with `version`'s plan computed once by the caller.
    pub fn key_in_plan(&self, plan: &VersionPlan, version: &str, index: usize) -> Option<Vec<u8>> {
        let printed = plan.questions.get(index)?;
        let mut out: Vec<u8> = self
            .file_key(version, printed.source)?
            .into_iter()
            .filter_map(|k| printed.choices.iter().position(|&c| c == k))
            .filter_map(|p| u8::try_from(p).ok())
            .collect();
        out.sort_unstable();
        Some(out)
    }

    /// The key of question `index` of the file, for `version`, as the file writes it.
    fn file_key(&self, version: &str, index: usize) -> Option<Vec<u8>> {
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

/// Checks that `s` is a `YYYY-MM-DD` date that exists in the (proleptic Gregorian) calendar.
fn check_date(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|x| x.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|x| x.parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return Err(format!("{s:?} is not a YYYY-MM-DD date"));
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !(1..=12).contains(&month) {
        return Err(format!("{s:?} is not a YYYY-MM-DD date"));
    }
    let days = days_in_month(year, month);
    if !(1..=days).contains(&day) {
        return Err(format!(
            "{s:?} is not a date: {year:04}-{month:02} has {days} days"
        ));
    }
    Ok(())
}

/// Days in `month` (1–12) of `year`, leap years included.
fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Checks that `text` has at most `max` characters (Unicode scalar values, as a person counts
/// them, not bytes).
pub fn check_length(text: &str, max: usize) -> Result<(), FieldError> {
    let len = text.chars().count();
    if len > max {
        return Err(FieldError::TooLong { len, max });
    }
    Ok(())
}

/// What a question's `choices` must be, in error messages.
const CHOICES_EXPECTED: &str = "a number of choices from 2 to 10, or \"true-false\"";
/// What a key's letter must be.
const LETTER_EXPECTED: &str = "a choice letter like \"C\"";
/// What one version's key must be.
const ANSWER_EXPECTED: &str = "a choice letter like \"C\" or a list like [\"A\",\"C\"]";
/// What a question's `key` must be.
const KEY_EXPECTED: &str =
    "a choice letter like \"C\", a list like [\"A\",\"C\"], or per-version keys like {\"A\":\"C\"}";

// The untagged enums are deserialised by hand: serde's untagged derive can only say "data did
// not match any variant of untagged enum", where a teacher needs to hear what was expected.

impl<'de> Deserialize<'de> for Choices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ChoicesVisitor;
        impl serde::de::Visitor<'_> for ChoicesVisitor {
            type Value = Choices;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(CHOICES_EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Choices, E> {
                u8::try_from(n)
                    .map(Choices::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(n), &self))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Choices, E> {
                if s == "true-false" {
                    Ok(Choices::TrueFalse(TrueFalse::TrueFalse))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(ChoicesVisitor)
    }
}

/// One choice letter of a key.
struct Letter(String);

impl<'de> Deserialize<'de> for Letter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LetterVisitor;
        impl serde::de::Visitor<'_> for LetterVisitor {
            type Value = Letter;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(LETTER_EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Letter, E> {
                Ok(Letter(s.to_string()))
            }
        }
        d.deserialize_any(LetterVisitor)
    }
}

/// The letters of a list key, each checked to be a string.
fn letters<'de, A: serde::de::SeqAccess<'de>>(mut seq: A) -> Result<Vec<String>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
    while let Some(Letter(l)) = seq.next_element()? {
        out.push(l);
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for KeyAnswer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AnswerVisitor;
        impl<'de> serde::de::Visitor<'de> for AnswerVisitor {
            type Value = KeyAnswer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(ANSWER_EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<KeyAnswer, E> {
                Ok(KeyAnswer::One(s.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<KeyAnswer, A::Error> {
                letters(seq).map(KeyAnswer::Many)
            }
        }
        d.deserialize_any(AnswerVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(KEY_EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(Key::Same(KeyAnswer::One(s.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Key, A::Error> {
                letters(seq).map(|v| Key::Same(KeyAnswer::Many(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((version, answer)) = map.next_entry::<String, KeyAnswer>()? {
                    out.insert(version, answer);
                }
                Ok(Key::PerVersion(out))
            }
        }
        d.deserialize_any(KeyVisitor)
    }
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
    fn a_value_of_the_wrong_shape_says_what_was_expected() {
        let key = r#"expected a choice letter like "C", a list like ["A","C"], or per-version keys like {"A":"C"}"#;
        let answer = r#"expected a choice letter like "C" or a list like ["A","C"]"#;
        let choices = r#"expected a number of choices from 2 to 10, or "true-false""#;
        let letter = r#"expected a choice letter like "C""#;
        let cases = [
            (r#"{"key":5}"#, "questions[0].key", key),
            (r#"{"key":true}"#, "questions[0].key", key),
            (r#"{"key":null}"#, "questions[0].key", key),
            (r#"{"key":1.5}"#, "questions[0].key", key),
            (r#"{"key":{"A":3}}"#, "questions[0].key.A", answer),
            (r#"{"key":{"A":{"B":"C"}}}"#, "questions[0].key.A", answer),
            (r#"{"key":["A",5]}"#, "questions[0].key[1]", letter),
            (r#"{"key":{"A":["A",[]]}}"#, "questions[0].key.A[1]", letter),
            (
                r#"{"key":"A","choices":"many"}"#,
                "questions[0].choices",
                choices,
            ),
            (
                r#"{"key":"A","choices":-1}"#,
                "questions[0].choices",
                choices,
            ),
            (
                r#"{"key":"A","choices":300}"#,
                "questions[0].choices",
                choices,
            ),
            (
                r#"{"key":"A","choices":4.5}"#,
                "questions[0].choices",
                choices,
            ),
            (
                r#"{"key":"A","choices":[5]}"#,
                "questions[0].choices",
                choices,
            ),
        ];
        for (question, path, expected) in cases {
            let json = format!(r#"{{"title":"T","questions":[{question}]}}"#);
            let err = Exam::from_json(&json).expect_err(&json);
            assert_eq!(err.path, path, "{json}: {err}");
            assert!(err.message.contains(expected), "{json}: {err}");
            assert!(!err.message.contains("did not match"), "{json}: {err}");
        }
        // The shapes that are right still parse, in every form.
        let exam = Exam::from_json(
            r#"{"title":"T","versions":["A","B"],"questions":[
                {"key":"C"},{"key":["A","C"]},{"key":{"A":"B","B":["C","D"]}},
                {"choices":"true-false","key":"C"},{"choices":3,"key":"c"}]}"#,
        )
        .expect("valid");
        assert_eq!(exam.key_for("B", 2), Some(vec![2, 3]));
        assert_eq!(
            exam.questions[3].choices,
            Choices::TrueFalse(TrueFalse::TrueFalse)
        );
        assert_eq!(exam.questions[4].choices, Choices::Count(3));
        // And what is written reads back the same.
        let again = Exam::from_json(&serde_json::to_string(&exam).expect("json")).expect("valid");
        assert_eq!(again, exam);
    }

    #[test]
    fn a_date_must_exist_in_the_calendar() {
        for (date, ok) in [
            ("2026-02-31", false),
            ("2026-02-29", false),
            ("2100-02-29", false),
            ("2026-04-31", false),
            ("2026-13-01", false),
            ("2026-00-10", false),
            ("2026-01-00", false),
            ("2026-1-01x", false),
            ("+026-01-01", false),
            ("2024-02-29", true),
            ("2000-02-29", true),
            ("2026-12-31", true),
            ("2026-01-01", true),
        ] {
            let json = format!(r#"{{"title":"T","date":"{date}","questions":[{{"key":"A"}}]}}"#);
            match Exam::from_json(&json) {
                Ok(_) => assert!(ok, "{date} accepted"),
                Err(e) => {
                    assert!(!ok, "{date} refused: {e}");
                    assert_eq!(e.path, "date", "{e}");
                    assert!(e.message.contains(date), "{e}");
                }
            }
        }
        let err = Exam::from_json(r#"{"title":"T","date":"2026-02-31","questions":[{"key":"A"}]}"#)
            .expect_err("no 31 February");
        assert_eq!(
            err.to_string(),
            r#"date: "2026-02-31" is not a date: 2026-02 has 28 days"#
        );
    }

    #[test]
    fn weights_must_add_up_to_a_finite_total() {
        let err = Exam::from_json(
            r#"{"title":"T","questions":[{"key":"A"},{"key":"A","weight":1e308},{"key":"A","weight":1e308}]}"#,
        )
        .expect_err("infinite total");
        assert_eq!(err.path, "questions[2].weight", "{err}");
        let err = Exam::from_json(
            r#"{"title":"T","scoring":{"wrong":-1e308},"questions":[{"key":"A","weight":2}]}"#,
        )
        .expect_err("infinite penalty");
        assert_eq!(err.path, "scoring.wrong", "{err}");
        let err = Exam::from_json(r#"{"title":"T","questions":[{"key":"A","weight":-1}]}"#)
            .expect_err("negative");
        assert_eq!(
            err.to_string(),
            "questions[0].weight: must be a non-negative number, found -1"
        );
        // Built in code, not parsed: NaN and infinities are refused too.
        let mut exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"A"},{"key":"B"}]}"#)
            .expect("valid");
        for w in [f64::NAN, f64::INFINITY] {
            exam.questions[1].weight = w;
            assert_eq!(
                exam.validate().expect_err("weight").path,
                "questions[1].weight"
            );
        }
        exam.questions[1].weight = 1.0;
        exam.scoring.wrong = f64::NEG_INFINITY;
        assert_eq!(exam.validate().expect_err("wrong").path, "scoring.wrong");
        exam.scoring.wrong = f64::NAN;
        assert_eq!(exam.validate().expect_err("wrong").path, "scoring.wrong");
        exam.scoring.wrong = -1.0;
        exam.validate().expect("finite");
    }

    #[test]
    fn printed_texts_have_a_length_limit() {
        for (field, max) in [
            ("title", MAX_TITLE_CHARS),
            ("school", MAX_SCHOOL_CHARS),
            ("subject", MAX_SUBJECT_CHARS),
        ] {
            let exam = |len: usize| {
                let mut fields = serde_json::json!({"title": "T", "questions": [{"key": "A"}]});
                fields[field] = serde_json::Value::String("ç".repeat(len));
                Exam::from_json(&fields.to_string())
            };
            exam(max).expect("at the limit");
            let err = exam(20_000).expect_err("too long");
            assert_eq!(
                err.to_string(),
                format!("{field}: 20000 characters, at most {max}")
            );
        }
        let schema = Exam::json_schema();
        assert_eq!(schema["properties"]["title"]["maxLength"], MAX_TITLE_CHARS);
    }

    #[test]
    fn a_key_is_checked_against_its_question() {
        let exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"A"}]}"#).expect("valid");
        let q = &exam.questions[0];
        let err = q
            .check_answer(&KeyAnswer::One("Z".into()), Language::PtBr)
            .expect_err("Z");
        assert_eq!(
            err.to_string(),
            r#""Z" is not one of the choices A, B, C, D, E"#
        );
        q.check_answer(
            &KeyAnswer::Many(vec!["a".into(), "E".into()]),
            Language::PtBr,
        )
        .expect("valid");
        assert_eq!(
            q.check_answer(
                &KeyAnswer::Many(vec!["A".into(), "a".into()]),
                Language::PtBr
            ),
            Err(FieldError::Repeated { label: "a".into() })
        );
    }

    #[test]
    fn schema_is_generated_from_the_types() {
        let schema = Exam::json_schema();
        assert!(schema["properties"]["questions"].is_object(), "{schema}");
    }
}
