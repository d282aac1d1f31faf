//! What the question booklet prints: the content of the questions (statement, options, figures,
//! open questions), the booklet's options, and each version's order of questions and choices.
//!
//! Statements and options are a documented Markdown subset, kept as the teacher wrote it here
//! and parsed by the renderer: paragraphs (a blank line), `**bold**`, `*italic*`, `~sub~`,
//! `^super^`, `-` or `1.` lists, `\` escapes, and LaTeX-style math between `$…$` (inline) or
//! `$$…$$` (display). A `$` opens math only when a non-space follows it and closes only when a
//! non-space precedes it and no digit follows it (pandoc's rule), so "R$ 5,00" is money. Anything
//! else (headings, links, code, HTML) is printed as the characters typed.
//!
//! Shuffling is pure arithmetic on the exam: [`VersionPlan::of`] gives, for a version, which
//! question each printed position shows and in which order its choices are printed; keys are
//! remapped through it ([`crate::Exam::key_for`]), so every sheet is scored against its own
//! version. The permutation is a Fisher–Yates shuffle driven by SplitMix64 seeded from the exam's
//! seed and the version label: the same exam file gives the same booklets on any machine and
//! with any version of this crate's dependencies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::exam::{Choices, Exam, FieldError, check_length};

/// Most characters of a statement.
pub const MAX_STATEMENT_CHARS: usize = 20_000;
/// Most characters of one option's text.
pub const MAX_OPTION_CHARS: usize = 2_000;
/// Most figures a question may carry.
pub const MAX_FIGURES: usize = 8;
/// Most bytes of one figure (an image decoded from base64, or an SVG's text).
pub const MAX_FIGURE_BYTES: usize = 8 * 1024 * 1024;
/// Most ruled lines of an open question's answer box (a full page holds about 40).
pub const MAX_ANSWER_LINES: u8 = 40;
/// Most open questions an exam may have.
pub const MAX_OPEN_QUESTIONS: usize = 100;
/// Most characters of a group's name.
pub const MAX_GROUP_CHARS: usize = 64;

/// A picture in a question: an image (PNG or JPEG, inline as base64 or from a file the caller
/// supplies) or an SVG drawing (kept as vectors). Exactly one of `image`, `path`, `svg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// A PNG or JPEG file, base64-encoded (JPEG is embedded as it is, not re-encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A PNG or JPEG file named by path. Only the command line reads files (relative to the exam
    /// file's folder); over HTTP send `image` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An SVG drawing, as its XML text (e.g. a formula exported by a math editor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub svg: Option<String>,
    /// Width as a fraction of the column, more than 0 and at most 1. Default 1 for images wider
    /// than the column, else the image's own size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.05, max = 1.0))]
    pub width: Option<f64>,
    /// A caption printed under the figure (plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = MAX_OPTION_CHARS))]
    pub caption: Option<String>,
}

/// The kind of file an image figure holds, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// A PNG file.
    Png,
    /// A JPEG file.
    Jpeg,
}

impl ImageKind {
    /// The kind of `bytes`, from the file signature.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else {
            None
        }
    }
}

impl Figure {
    /// The bytes of an inline image, decoded from base64 (`None` for a path or an SVG).
    pub fn image_bytes(&self) -> Option<Result<Vec<u8>, String>> {
        use base64::Engine;
        let text = self.image.as_deref()?;
        // A data URL is what a browser hands over; its header is not part of the file.
        let text = match text.split_once(";base64,") {
            Some((head, rest)) if head.starts_with("data:") => rest,
            _ => text,
        };
        let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(clean.as_bytes())
                .map_err(|e| format!("is not base64: {e}")),
        )
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let given = [
            self.image.is_some(),
            self.path.is_some(),
            self.svg.is_some(),
        ]
        .iter()
        .filter(|&&b| b)
        .count();
        if given != 1 {
            return Err((
                String::new(),
                format!("must have exactly one of image, path, svg; found {given}"),
            ));
        }
        if let Some(bytes) = self.image_bytes() {
            let bytes = bytes.map_err(|m| ("image".to_string(), m))?;
            if bytes.len() > MAX_FIGURE_BYTES {
                return Err((
                    "image".into(),
                    format!("{} bytes, at most {MAX_FIGURE_BYTES}", bytes.len()),
                ));
            }
            if ImageKind::sniff(&bytes).is_none() {
                return Err(("image".into(), "is neither a PNG nor a JPEG file".into()));
            }
        }
        if let Some(path) = &self.path
            && path.trim().is_empty()
        {
            return Err(("path".into(), "must not be empty".into()));
        }
        if let Some(svg) = &self.svg {
            if svg.len() > MAX_FIGURE_BYTES {
                return Err((
                    "svg".into(),
                    format!("{} bytes, at most {MAX_FIGURE_BYTES}", svg.len()),
                ));
            }
            if !svg.contains("<svg") {
                return Err((
                    "svg".into(),
                    "is not an SVG drawing (no <svg element)".into(),
                ));
            }
        }
        if let Some(w) = self.width
            && !(w.is_finite() && w > 0.0 && w <= 1.0)
        {
            return Err((
                "width".into(),
                format!("must be a fraction of the column, more than 0 and at most 1, found {w}"),
            ));
        }
        if let Some(caption) = &self.caption {
            check_text(caption, MAX_OPTION_CHARS).map_err(|m| ("caption".to_string(), m))?;
        }
        Ok(())
    }
}

/// An open question ("discursiva"): printed in the booklet after the multiple-choice questions,
/// with a ruled box for the written answer, and graded by a person (it has no bubbles).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenQuestion {
    /// The question, in the Markdown subset (see the module documentation).
    #[schemars(length(min = 1, max = MAX_STATEMENT_CHARS))]
    pub statement: String,
    /// Pictures printed after the statement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FIGURES))]
    pub figures: Vec<Figure>,
    /// Ruled lines of the answer box (1–40). Default 10.
    #[serde(default = "default_lines")]
    #[schemars(range(min = 1, max = MAX_ANSWER_LINES))]
    pub lines: u8,
    /// Points, for the person who grades it. Default 1.
    #[serde(default = "default_weight")]
    pub weight: f64,
}

fn default_lines() -> u8 {
    10
}

fn default_weight() -> f64 {
    1.0
}

/// How the booklet is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookletOptions {
    /// Columns of text: 1 or 2. Default 2.
    #[serde(default = "default_columns")]
    #[schemars(range(min = 1, max = 2))]
    pub columns: u8,
}

impl Default for BookletOptions {
    fn default() -> Self {
        Self {
            columns: default_columns(),
        }
    }
}

fn default_columns() -> u8 {
    2
}

/// Shuffling of questions and choices between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Shuffle {
    /// Shuffle the order of the questions in each version (except `"fixed": true` ones; a
    /// `"group"` moves as one block). Questions that move must have the same choices and weight,
    /// since every version's answer sheet is one layout. Default true.
    #[serde(default = "yes")]
    pub questions: bool,
    /// Shuffle the order of the lettered choices of each question in each version (not of
    /// Certo/Errado items, nor of a question with `"keep_choices": true`). Default true.
    #[serde(default = "yes")]
    pub choices: bool,
    /// The seed: the same seed gives the same order. Default 0.
    #[serde(default)]
    pub seed: u64,
    /// Whether the first version keeps the exam file's order (the teacher's master copy).
    /// Default false.
    #[serde(default)]
    pub keep_first: bool,
}

fn yes() -> bool {
    true
}

/// Checks a text: its length, and that it has no private-use character (the renderer marks
/// math spans with them).
pub fn check_text(text: &str, max: usize) -> Result<(), String> {
    check_length(text, max).map_err(|e| e.to_string())?;
    if let Some(c) = text.chars().find(|c| ('\u{E000}'..='\u{F8FF}').contains(c)) {
        return Err(format!(
            "contains U+{:04X}, a private-use character",
            u32::from(c)
        ));
    }
    Ok(())
}

/// Validates the booklet content of an exam (called by [`Exam::validate`]).
pub(crate) fn validate(exam: &Exam) -> Result<(), (String, String)> {
    for (i, q) in exam.questions.iter().enumerate() {
        let at = |f: &str| format!("questions[{i}].{f}");
        if let Some(s) = &q.statement {
            check_text(s, MAX_STATEMENT_CHARS).map_err(|m| (at("statement"), m))?;
        }
        if !q.options.is_empty() && q.options.len() != usize::from(q.choices.count()) {
            return Err((
                at("options"),
                format!(
                    "{} texts for {} choices: give one text per choice, or none",
                    q.options.len(),
                    q.choices.count()
                ),
            ));
        }
        for (j, o) in q.options.iter().enumerate() {
            check_text(o, MAX_OPTION_CHARS).map_err(|m| (format!("{}[{j}]", at("options")), m))?;
        }
        validate_figures(&q.figures, &at("figures"))?;
        if let Some(g) = &q.group {
            check_text(g, MAX_GROUP_CHARS).map_err(|m| (at("group"), m))?;
            if g.trim().is_empty() {
                return Err((at("group"), "must not be empty".into()));
            }
            let first = exam
                .questions
                .iter()
                .position(|o| o.group.as_ref() == Some(g))
                .unwrap_or(i);
            if exam.questions[first..i]
                .iter()
                .any(|o| o.group.as_ref() != Some(g))
            {
                return Err((
                    at("group"),
                    format!(
                        "group {g:?} is split: its questions must be consecutive (it starts at questions[{first}])"
                    ),
                ));
            }
            if q.fixed {
                return Err((
                    at("fixed"),
                    "a question of a group cannot be fixed: the group moves as one".into(),
                ));
            }
        }
    }
    if exam.open_questions.len() > MAX_OPEN_QUESTIONS {
        return Err((
            "open_questions".into(),
            format!(
                "{} open questions, at most {MAX_OPEN_QUESTIONS}",
                exam.open_questions.len()
            ),
        ));
    }
    for (i, q) in exam.open_questions.iter().enumerate() {
        let at = |f: &str| format!("open_questions[{i}].{f}");
        if q.statement.trim().is_empty() {
            return Err((at("statement"), "must not be empty".into()));
        }
        check_text(&q.statement, MAX_STATEMENT_CHARS).map_err(|m| (at("statement"), m))?;
        validate_figures(&q.figures, &at("figures"))?;
        if !(1..=MAX_ANSWER_LINES).contains(&q.lines) {
            return Err((
                at("lines"),
                format!("must be 1 to {MAX_ANSWER_LINES}, found {}", q.lines),
            ));
        }
        if !q.weight.is_finite() || q.weight < 0.0 {
            return Err((at("weight"), FieldError::BadWeight(q.weight).to_string()));
        }
    }
    if !(1..=2).contains(&exam.booklet.columns) {
        return Err((
            "booklet.columns".into(),
            format!("must be 1 or 2, found {}", exam.booklet.columns),
        ));
    }
    if let Some(shuffle) = &exam.shuffle
        && shuffle.questions
    {
        let movable: Vec<usize> = (0..exam.questions.len())
            .filter(|&i| !exam.questions[i].fixed)
            .collect();
        if let Some(&first) = movable.first() {
            let a = &exam.questions[first];
            for &i in &movable[1..] {
                let b = &exam.questions[i];
                if b.choices != a.choices || b.weight != a.weight || b.annulled != a.annulled {
                    return Err((
                        "shuffle.questions".into(),
                        format!(
                            "questions[{i}] and questions[{first}] differ in choices, weight or annulment, \
                             but questions that move share one answer-sheet layout: make them alike, \
                             or mark the others \"fixed\": true"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn validate_figures(figures: &[Figure], at: &str) -> Result<(), (String, String)> {
    if figures.len() > MAX_FIGURES {
        return Err((
            at.to_string(),
            format!("{} figures, at most {MAX_FIGURES}", figures.len()),
        ));
    }
    for (j, f) in figures.iter().enumerate() {
        f.validate().map_err(|(field, m)| {
            let path = if field.is_empty() {
                format!("{at}[{j}]")
            } else {
                format!("{at}[{j}].{field}")
            };
            (path, m)
        })?;
    }
    Ok(())
}

/// One printed position of a version: which question it shows and how its choices are ordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintedQuestion {
    /// Index of the question in the exam file (from 0).
    pub source: usize,
    /// For each printed choice (A, B, …), the index of the exam file's choice it shows.
    pub choices: Vec<u8>,
}

/// A version's order of questions and choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPlan {
    /// Every printed position, question 1 first.
    pub questions: Vec<PrintedQuestion>,
}

impl VersionPlan {
    /// The plan of `version`: the exam file's order when the exam does not shuffle (or for the
    /// first version with `keep_first`).
    pub fn of(exam: &Exam, version: &str) -> Self {
        let identity = |i: usize, q: &crate::exam::Question| PrintedQuestion {
            source: i,
            choices: (0..q.choices.count()).collect(),
        };
        let keep =
            |s: &Shuffle| s.keep_first && exam.versions.first().is_some_and(|v| v == version);
        let Some(shuffle) = exam.shuffle.filter(|s| !keep(s)) else {
            return Self {
                questions: exam
                    .questions
                    .iter()
                    .enumerate()
                    .map(|(i, q)| identity(i, q))
                    .collect(),
            };
        };
        let mut rng = SplitMix64::new(shuffle.seed, version);
        let n = exam.questions.len();
        let mut order: Vec<usize> = (0..n).collect();
        if shuffle.questions {
            // Units: a group or a single movable question; fixed questions stay in their slots.
            let mut units: Vec<Vec<usize>> = Vec::new();
            for (i, q) in exam.questions.iter().enumerate() {
                if q.fixed {
                    continue;
                }
                match (&q.group, units.last_mut()) {
                    (Some(g), Some(last))
                        if last
                            .first()
                            .is_some_and(|&f| exam.questions[f].group.as_ref() == Some(g)) =>
                    {
                        last.push(i)
                    }
                    _ => units.push(vec![i]),
                }
            }
            rng.shuffle(&mut units);
            let mut moving = units.into_iter().flatten();
            for (slot, q) in order.iter_mut().zip(&exam.questions) {
                if !q.fixed {
                    *slot = moving.next().unwrap_or(*slot);
                }
            }
        }
        let questions = order
            .into_iter()
            .map(|source| {
                let q = &exam.questions[source];
                let mut choices: Vec<u8> = (0..q.choices.count()).collect();
                if shuffle.choices && !q.keep_choices && matches!(q.choices, Choices::Count(_)) {
                    rng.shuffle(&mut choices);
                }
                PrintedQuestion { source, choices }
            })
            .collect();
        Self { questions }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator with a fixed definition, so the order
/// of a version never changes with a dependency's release.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64, version: &str) -> Self {
        // FNV-1a of the label, mixed into the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in version.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Self(seed ^ h)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // Multiply-shift: uniform enough for a permutation of at most 1000 items.
            let j = ((u128::from(self.next()) * (i as u128 + 1)) >> 64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::exam::Exam;

    const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";

    fn exam(json: serde_json::Value) -> Result<Exam, crate::ExamError> {
        Exam::from_json(&json.to_string())
    }

    #[test]
    fn content_parses_and_reads_back_the_same() {
        let e = exam(serde_json::json!({
            "title": "T", "versions": ["A", "B"],
            "booklet": {"columns": 1},
            "questions": [
                {"key": "B", "choices": 4, "statement": "Quanto é **2+2**? Custa R$ 5,00 e $x^2$.",
                 "options": ["1", "4", "*três*", "$\\frac{1}{2}$"],
                 "figures": [{"image": PNG_1X1, "width": 0.5, "caption": "Figura 1"},
                             {"svg": "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>"}]},
                {"key": "A", "group": "texto 1"}, {"key": "A", "group": "texto 1"}
            ],
            "open_questions": [{"statement": "Explique.", "lines": 8, "weight": 2}]
        }))
        .expect("valid");
        assert!(e.has_booklet());
        assert_eq!(e.booklet.columns, 1);
        assert_eq!(e.open_questions[0].lines, 8);
        let again = Exam::from_json(&serde_json::to_string(&e).expect("json")).expect("valid");
        assert_eq!(again, e);
    }

    #[test]
    fn an_old_exam_file_writes_back_without_new_fields() {
        let json = r#"{"title":"T","questions":[{"key":"B"}]}"#;
        let e = Exam::from_json(json).expect("valid");
        assert!(!e.has_booklet());
        let out = serde_json::to_value(&e).expect("json");
        for field in ["open_questions", "booklet", "shuffle"] {
            assert!(out.get(field).is_none(), "{out}");
        }
        for field in [
            "statement",
            "options",
            "figures",
            "group",
            "fixed",
            "keep_choices",
        ] {
            assert!(out["questions"][0].get(field).is_none(), "{out}");
        }
    }

    #[test]
    fn bad_content_is_refused_with_its_path() {
        let q = |extra: serde_json::Value| {
            let mut question = serde_json::json!({"key": "A", "choices": 4});
            for (k, v) in extra.as_object().expect("object") {
                question[k] = v.clone();
            }
            exam(serde_json::json!({"title": "T", "questions": [question]}))
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            q(serde_json::json!({"options": ["a", "b"]})),
            "questions[0].options: 2 texts for 4 choices: give one text per choice, or none"
        );
        assert_eq!(
            q(serde_json::json!({"figures": [{"image": "bm90IGFuIGltYWdl"}]})),
            "questions[0].figures[0].image: is neither a PNG nor a JPEG file"
        );
        assert!(
            q(serde_json::json!({"figures": [{"image": "***"}]}))
                .starts_with("questions[0].figures[0].image: is not base64")
        );
        assert_eq!(
            q(serde_json::json!({"figures": [{"image": PNG_1X1, "svg": "<svg/>"}]})),
            "questions[0].figures[0]: must have exactly one of image, path, svg; found 2"
        );
        assert_eq!(
            q(serde_json::json!({"figures": [{"svg": "<html/>"}]})),
            "questions[0].figures[0].svg: is not an SVG drawing (no <svg element)"
        );
        assert_eq!(
            q(serde_json::json!({"figures": [{"path": "a.png", "width": 1.5}]})),
            "questions[0].figures[0].width: must be a fraction of the column, more than 0 and at most 1, found 1.5"
        );
        assert_eq!(
            q(serde_json::json!({"statement": "a\u{E000}b"})),
            "questions[0].statement: contains U+E000, a private-use character"
        );
        let err = exam(serde_json::json!({"title": "T", "questions": [
            {"key": "A", "group": "g"}, {"key": "A"}, {"key": "A", "group": "g"}]}))
        .expect_err("split group");
        assert_eq!(err.path, "questions[2].group", "{err}");
        let err = exam(
            serde_json::json!({"title": "T", "questions": [{"key": "A"}],
            "open_questions": [{"statement": "x", "lines": 0}]}),
        )
        .expect_err("no lines");
        assert_eq!(
            err.to_string(),
            "open_questions[0].lines: must be 1 to 40, found 0"
        );
        let err = exam(
            serde_json::json!({"title": "T", "questions": [{"key": "A"}],
            "booklet": {"columns": 3}}),
        )
        .expect_err("columns");
        assert_eq!(err.path, "booklet.columns");
        let err = exam(serde_json::json!({"title": "T", "shuffle": {},
            "questions": [{"key": "A"}, {"key": "A", "choices": 4}]}))
        .expect_err("unlike questions move");
        assert_eq!(err.path, "shuffle.questions", "{err}");
        // …unless the unlike one stays in place.
        exam(serde_json::json!({"title": "T", "shuffle": {},
            "questions": [{"key": "A"}, {"key": "A", "choices": 4, "fixed": true}]}))
        .expect("fixed");
    }

    fn shuffled(seed: u64) -> Exam {
        let questions: Vec<serde_json::Value> = (0..20)
            .map(|i| {
                let letter = ["A", "B", "C", "D", "E"][i % 5];
                let mut q = serde_json::json!({ "key": letter });
                if i == 0 || i == 19 {
                    q["fixed"] = true.into();
                }
                if (5..8).contains(&i) {
                    q["group"] = "texto".into();
                }
                if i == 10 {
                    q["keep_choices"] = true.into();
                }
                q
            })
            .collect();
        exam(
            serde_json::json!({"title": "T", "versions": ["A", "B", "C"],
            "shuffle": {"seed": seed}, "questions": questions}),
        )
        .expect("valid")
    }

    #[test]
    fn versions_shuffle_reproducibly_and_keys_follow() {
        let e = shuffled(7);
        let a = e.version_plan("A");
        let b = e.version_plan("B");
        assert_eq!(a, shuffled(7).version_plan("A"), "same seed, same order");
        assert_ne!(a, b, "versions differ");
        assert_ne!(
            a,
            shuffled(8).version_plan("A"),
            "another seed, another order"
        );
        for plan in [&a, &b] {
            let mut sources: Vec<usize> = plan.questions.iter().map(|p| p.source).collect();
            assert_eq!(sources[0], 0, "fixed");
            assert_eq!(sources[19], 19, "fixed");
            let g = sources.iter().position(|&s| s == 5).expect("group");
            assert_eq!(&sources[g..g + 3], &[5, 6, 7], "the group stays together");
            let ten = plan.questions.iter().find(|p| p.source == 10).expect("10");
            assert_eq!(ten.choices, vec![0, 1, 2, 3, 4], "keep_choices");
            sources.sort_unstable();
            assert_eq!(sources, (0..20).collect::<Vec<_>>(), "a permutation");
        }
        // The key at each printed position is the printed letter of the file's answer.
        for version in ["A", "B", "C"] {
            let plan = e.version_plan(version);
            for (i, p) in plan.questions.iter().enumerate() {
                let file_answer = (p.source % 5) as u8;
                let printed = e.key_for(version, i).expect("key");
                assert_eq!(printed.len(), 1);
                assert_eq!(p.choices[usize::from(printed[0])], file_answer);
            }
        }
        // This exact order is a contract: booklets reprinted later must match sheets printed now.
        let b_order: Vec<usize> = b.questions.iter().map(|p| p.source).collect();
        let again: Vec<usize> = shuffled(7)
            .version_plan("B")
            .questions
            .iter()
            .map(|p| p.source)
            .collect();
        assert_eq!(b_order, again);
    }

    #[test]
    fn keep_first_prints_the_file_order_for_the_first_version() {
        let mut e = shuffled(7);
        if let Some(s) = e.shuffle.as_mut() {
            s.keep_first = true;
        }
        let a = e.version_plan("A");
        assert!(
            a.questions
                .iter()
                .enumerate()
                .all(|(i, p)| p.source == i && p.choices == (0..5).collect::<Vec<u8>>())
        );
        assert_eq!(e.key_for("A", 3), Some(vec![3]));
        assert_ne!(e.version_plan("B"), a);
    }
}
