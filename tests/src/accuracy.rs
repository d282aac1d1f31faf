//! Judging the grader against the truth: per question right, `uncertain` (acceptable: a person
//! looks) or silently wrong; per sheet identified locally, identified as the right sheet, needs
//! review or not. And the tallies the acceptance thresholds are stated in.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use model::outcome::ReviewReason;
use model::scoring::AnswerState;
use pipeline::{IdentifiedBy, PageReport};
use serde::Serialize;

use crate::pen::FillStyle;
use crate::scenario::{QuestionTruth, SheetTruth};

/// How one question was read, against the truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// State and marked choices equal the truth.
    Right,
    /// Reported `uncertain`: sent to a person, never wrong.
    Uncertain,
    /// Missing from the report (the page could not be read at all).
    NotRead,
    /// Reported with confidence, and wrong.
    SilentlyWrong,
}

/// One question's judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionJudgement {
    /// Question number.
    pub question: u32,
    /// The verdict.
    pub verdict: Verdict,
    /// What the grader said: state and labels.
    pub read: Option<(AnswerState, Vec<String>)>,
}

/// One sheet's judgement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetJudgement {
    /// The file.
    pub file_name: String,
    /// Which step identified it.
    pub identified_by: Option<IdentifiedBy>,
    /// Identified without the cloud OCR.
    pub identified_locally: bool,
    /// Identified as itself (code and student match the truth).
    pub right_identity: bool,
    /// Identified as another sheet: never acceptable.
    pub wrong_identity: bool,
    /// A person must look (review reasons, an error, or no identity).
    pub needs_review: bool,
    /// The grader's review reasons and error.
    pub reasons: Vec<String>,
    /// Per question.
    pub questions: Vec<QuestionJudgement>,
    /// The grader's fill measure of every bubble, per question, when it exposes them.
    pub fills: BTreeMap<u32, Vec<f32>>,
    /// The grader's sheet levels, when it exposes them: empty level, empty threshold, marked
    /// threshold, filled level, the empty bubbles' spread (sigma).
    pub levels: Option<[f32; 5]>,
    /// Every bubble's fill above the sheet's empty level, labelled with the style of the ink in
    /// it (`empty` for none), when the grader exposes fills.
    pub bubble_fills: Vec<(&'static str, f32)>,
    /// Every bubble's peak darkness above the sheet's empty peak, labelled likewise.
    pub bubble_peaks: Vec<(&'static str, f32)>,
    /// Why the page could not be aligned, or its alignment not trusted (the grader's error or
    /// review reason), if so.
    pub alignment_failure: Option<String>,
}

fn same_labels(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    let mut b: Vec<&str> = b.iter().map(String::as_str).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// Judges the report of a page (or its absence) against the truth.
pub fn judge(report: Option<&PageReport>, truth: &SheetTruth) -> SheetJudgement {
    let Some(report) = report else {
        return SheetJudgement {
            file_name: truth.file_name.clone(),
            identified_by: None,
            identified_locally: false,
            right_identity: false,
            wrong_identity: false,
            needs_review: true,
            reasons: vec!["no report for this file".into()],
            questions: truth
                .questions
                .iter()
                .map(|q| QuestionJudgement {
                    question: q.question,
                    verdict: Verdict::NotRead,
                    read: None,
                })
                .collect(),
            fills: BTreeMap::new(),
            levels: None,
            bubble_fills: Vec::new(),
            bubble_peaks: Vec::new(),
            alignment_failure: Some("no report for this file".into()),
        };
    };
    let code_matches = report
        .sheet_code
        .as_deref()
        .map(|c| model::SheetCode::parse(c).ok() == Some(truth.sheet_code));
    // A roster sheet's student is printed on it; an anonymous sheet's is the number in its
    // grid, which the grader may leave unread (review) but must never misread.
    let expected_student = truth.student_id.as_ref().or(truth.student_number.as_ref());
    let named_wrong = report
        .student_id
        .as_ref()
        .is_some_and(|s| Some(s) != expected_student);
    let roster_student_missing =
        report.sheet_code.is_some() && truth.student_id.is_some() && report.student_id.is_none();
    let right_identity =
        code_matches == Some(true) && report.student_id.as_ref() == expected_student;
    let wrong_identity = code_matches == Some(false)
        || named_wrong
        || roster_student_missing
        || (report.sheet_code.is_some() && report.version.as_deref() != Some(&truth.version));
    let identified_locally =
        report.sheet_code.is_some() && report.identified_by.is_some_and(IdentifiedBy::is_local);
    let mut reasons: Vec<String> = report.review.iter().map(ToString::to_string).collect();
    if let Some(e) = &report.error {
        reasons.push(format!("error: {e}"));
    }
    let questions = truth
        .questions
        .iter()
        .map(|q| judge_question(report, q))
        .collect();
    let alignment_failure = report.error.clone().or_else(|| {
        report
            .review
            .iter()
            .find(|r| {
                matches!(
                    r,
                    ReviewReason::AlignmentUnverified { .. }
                        | ReviewReason::OrientationUnclear { .. }
                )
            })
            .map(ToString::to_string)
    });
    SheetJudgement {
        file_name: truth.file_name.clone(),
        identified_by: report.identified_by,
        identified_locally,
        right_identity,
        wrong_identity,
        needs_review: !reasons.is_empty() || report.sheet_code.is_none(),
        reasons,
        questions,
        fills: BTreeMap::new(),
        levels: None,
        bubble_fills: Vec::new(),
        bubble_peaks: Vec::new(),
        alignment_failure,
    }
}

fn judge_question(report: &PageReport, q: &QuestionTruth) -> QuestionJudgement {
    let Some(a) = report.answers.iter().find(|a| a.question == q.question) else {
        return QuestionJudgement {
            question: q.question,
            verdict: Verdict::NotRead,
            read: None,
        };
    };
    let verdict = if a.state == AnswerState::Uncertain {
        Verdict::Uncertain
    } else if a.state == q.state && same_labels(&a.marked, &q.marked) {
        Verdict::Right
    } else {
        Verdict::SilentlyWrong
    };
    QuestionJudgement {
        question: q.question,
        verdict,
        read: Some((a.state, a.marked.clone())),
    }
}

/// Counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Questions read right.
    pub right: usize,
    /// Questions reported uncertain.
    pub uncertain: usize,
    /// Questions missing from the report.
    pub not_read: usize,
    /// Questions read wrong with confidence.
    pub silently_wrong: usize,
}

impl Counts {
    fn add(&mut self, v: Verdict) {
        match v {
            Verdict::Right => self.right += 1,
            Verdict::Uncertain => self.uncertain += 1,
            Verdict::NotRead => self.not_read += 1,
            Verdict::SilentlyWrong => self.silently_wrong += 1,
        }
    }

    /// All questions counted.
    pub fn total(&self) -> usize {
        self.right + self.uncertain + self.not_read + self.silently_wrong
    }

    fn pct(n: usize, d: usize) -> f64 {
        if d == 0 {
            0.0
        } else {
            100.0 * n as f64 / d as f64
        }
    }

    /// One line: totals and shares.
    pub fn line(&self) -> String {
        let t = self.total();
        format!(
            "{t} questions: right {} ({:.3}%), uncertain {} ({:.3}%), not read {}, silently wrong {}",
            self.right,
            Self::pct(self.right, t),
            self.uncertain,
            Self::pct(self.uncertain, t),
            self.not_read,
            self.silently_wrong
        )
    }
}

/// A misread worth reporting: enough to reproduce and to see why.
#[derive(Debug, Clone, Serialize)]
pub struct Misread {
    /// The file.
    pub file_name: String,
    /// The sheet's seed.
    pub seed: u64,
    /// Question.
    pub question: u32,
    /// The verdict (silently wrong, uncertain or not read).
    pub verdict: Verdict,
    /// Truth: state and labels.
    pub expected: (AnswerState, Vec<String>),
    /// What the grader said.
    pub read: Option<(AnswerState, Vec<String>)>,
    /// The bubbles drawn: label, style, tool, added darkness, dark fraction.
    pub marks: Vec<String>,
    /// The sheet's profile and degradation tags.
    pub capture: String,
    /// The grader's fills of the question's bubbles and the sheet's levels, if known.
    pub grader_fills: String,
}

/// Everything the acceptance criteria are stated in, over a set of sheets.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Sheets judged.
    pub sheets: usize,
    /// All questions.
    pub questions: Counts,
    /// Sheets needing review.
    pub needs_review: usize,
    /// Sheets identified locally.
    pub identified_locally: usize,
    /// Sheets identified as themselves.
    pub right_identity: usize,
    /// Sheets given another sheet's identity.
    pub wrong_identity: usize,
    /// Which step identified the sheets.
    pub identified_by: BTreeMap<String, usize>,
    /// Questions by the style of their marks (a question with several styles counts under
    /// each; blank questions without ink under "no-ink").
    pub by_style: BTreeMap<String, Counts>,
    /// Questions by capture profile.
    pub by_profile: BTreeMap<String, Counts>,
    /// Sheets needing review, by capture profile.
    pub review_by_profile: BTreeMap<String, (usize, usize)>,
    /// Questions by degradation tag.
    pub by_tag: BTreeMap<String, Counts>,
    /// Every question not read right.
    pub misreads: Vec<Misread>,
    /// Sheets not identified locally or needing review, with reasons.
    pub sheet_problems: Vec<String>,
    /// The grader's bubble fills above each sheet's empty level, by ink style.
    pub fills_by_style: BTreeMap<String, Vec<f32>>,
    /// The grader's bubble peaks above each sheet's empty peak, by ink style.
    pub peaks_by_style: BTreeMap<String, Vec<f32>>,
    /// Sheets that could not be aligned or whose alignment was not trusted.
    pub alignment_failures: usize,
    /// Those sheets by message (numbers replaced by `#`).
    pub alignment_messages: BTreeMap<String, usize>,
    /// Per number of corner marks cut by the image's edge: sheets, alignment failures, sheets
    /// needing review.
    pub by_corners_cut: BTreeMap<u8, (usize, usize, usize)>,
    /// Per damage done to the QR code (`none` for none): which step identified the sheets.
    pub identified_by_qr_damage: BTreeMap<String, BTreeMap<String, usize>>,
    /// Sheets whose QR code or printed id the image's edge cuts (no step can name them).
    pub id_cut: usize,
}

/// A message with its numbers replaced by `#`, so that alike failures group together.
fn message_kind(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

impl Tally {
    /// Adds one sheet.
    pub fn add(&mut self, truth: &SheetTruth, j: &SheetJudgement) {
        self.sheets += 1;
        self.needs_review += usize::from(j.needs_review);
        self.identified_locally += usize::from(j.identified_locally);
        self.right_identity += usize::from(j.right_identity);
        self.wrong_identity += usize::from(j.wrong_identity);
        let by = j
            .identified_by
            .map(|b| {
                serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .unwrap_or_else(|| "none".into());
        *self.identified_by.entry(by.clone()).or_default() += 1;
        self.id_cut += usize::from(truth.id_cut);
        let damage = truth.qr_damage.map_or_else(
            || "none".to_string(),
            |d| {
                serde_json::to_value(d)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            },
        );
        *self
            .identified_by_qr_damage
            .entry(damage)
            .or_default()
            .entry(by)
            .or_default() += 1;
        if let Some(m) = &j.alignment_failure {
            self.alignment_failures += 1;
            *self.alignment_messages.entry(message_kind(m)).or_default() += 1;
        }
        let corners = self
            .by_corners_cut
            .entry(truth.corner_marks_cut)
            .or_default();
        corners.0 += 1;
        corners.1 += usize::from(j.alignment_failure.is_some());
        corners.2 += usize::from(j.needs_review);
        // A misaligned page's fills say nothing about its inks.
        let fills: &[(&str, f32)] = if j.alignment_failure.is_some() {
            &[]
        } else {
            &j.bubble_fills
        };
        let peaks: &[(&str, f32)] = if j.alignment_failure.is_some() {
            &[]
        } else {
            &j.bubble_peaks
        };
        for (style, fill) in fills {
            self.fills_by_style
                .entry((*style).to_string())
                .or_default()
                .push(*fill);
        }
        for (style, peak) in peaks {
            self.peaks_by_style
                .entry((*style).to_string())
                .or_default()
                .push(*peak);
        }
        let profile = truth.profile.name().to_string();
        let mut tags = truth.degradation.tags();
        if truth.corner_marks_cut > 0 {
            tags.push("corner-cut");
        }
        if truth.corner_marks_lost > 0 {
            tags.push("corner-lost");
        }
        let entry = self.review_by_profile.entry(profile.clone()).or_default();
        entry.0 += usize::from(j.needs_review);
        entry.1 += 1;
        let capture = format!(
            "{} [{}]{}{}{}",
            profile,
            tags.join(","),
            truth
                .qr_damage
                .map(|d| format!(" qr:{d:?}"))
                .unwrap_or_default(),
            if truth.degradation.geometry.upside_down {
                " (180°)"
            } else {
                ""
            },
            if truth.corner_marks_cut > 0 {
                format!(
                    " corner marks cut {} (lost {})",
                    truth.corner_marks_cut, truth.corner_marks_lost
                )
            } else {
                String::new()
            }
        );
        if j.needs_review || !j.identified_locally || j.wrong_identity {
            self.sheet_problems.push(format!(
                "{} seed {:#x}: identified_by {:?}, right identity {}, wrong identity {}, reasons {:?}; capture {}",
                j.file_name,
                truth.seed,
                j.identified_by,
                j.right_identity,
                j.wrong_identity,
                j.reasons,
                capture
            ));
        }
        for (q, qj) in truth.questions.iter().zip(j.questions.iter()) {
            self.questions.add(qj.verdict);
            self.by_profile
                .entry(profile.clone())
                .or_default()
                .add(qj.verdict);
            for t in &tags {
                self.by_tag
                    .entry((*t).to_string())
                    .or_default()
                    .add(qj.verdict);
            }
            let mut styles: Vec<FillStyle> = q.marks.iter().map(|m| m.spec.style).collect();
            styles.sort();
            styles.dedup();
            if styles.is_empty() {
                self.by_style
                    .entry("no-ink".into())
                    .or_default()
                    .add(qj.verdict);
            }
            for st in styles {
                self.by_style
                    .entry(st.name().into())
                    .or_default()
                    .add(qj.verdict);
            }
            if qj.verdict != Verdict::Right {
                self.misreads.push(Misread {
                    file_name: j.file_name.clone(),
                    seed: truth.seed,
                    question: q.question,
                    verdict: qj.verdict,
                    expected: (q.state, q.marked.clone()),
                    read: qj.read.clone(),
                    marks: q
                        .marks
                        .iter()
                        .map(|m| {
                            format!(
                                "{}:{}/{:?} added {:.2} dark {:.2}",
                                m.choice,
                                m.spec.style.name(),
                                m.spec.tool,
                                m.stats.added_darkness,
                                m.stats.dark_fraction
                            )
                        })
                        .collect(),
                    capture: capture.clone(),
                    grader_fills: match (j.fills.get(&q.question), j.levels) {
                        (Some(f), Some(l)) => format!(
                            "fills {:?} (empty {:.2}, thresholds {:.2}/{:.2}, filled {:.2}, sigma {:.3})",
                            f.iter()
                                .map(|v| (v * 100.0).round() / 100.0)
                                .collect::<Vec<_>>(),
                            l[0],
                            l[1],
                            l[2],
                            l[3],
                            l[4]
                        ),
                        (Some(f), None) => format!("fills {f:?}"),
                        _ => String::new(),
                    },
                });
            }
        }
    }

    /// Share of sheets needing no review, percent.
    pub fn no_review_pct(&self) -> f64 {
        Counts::pct(self.sheets - self.needs_review, self.sheets)
    }

    /// Share of sheets identified locally, percent.
    pub fn identified_locally_pct(&self) -> f64 {
        Counts::pct(self.identified_locally, self.sheets)
    }

    /// Share of questions read right, percent.
    pub fn right_pct(&self) -> f64 {
        Counts::pct(self.questions.right, self.questions.total())
    }

    /// The acceptance figures on one line.
    pub fn summary(&self) -> String {
        format!(
            "SUMMARY {} sheets | questions right {:.3}% | uncertain {:.3}% | silently wrong {} | not read {} | sheets needing review {:.2}% | identified locally {:.2}% | wrong identities {} | alignment failures {}",
            self.sheets,
            self.right_pct(),
            Counts::pct(self.questions.uncertain, self.questions.total()),
            self.questions.silently_wrong,
            self.questions.not_read,
            100.0 - self.no_review_pct(),
            self.identified_locally_pct(),
            self.wrong_identity,
            self.alignment_failures
        )
    }

    /// A human-readable report of the figures, breakdowns and misreads.
    pub fn report(&self, max_misreads: usize) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "sheets: {}", self.sheets);
        let _ = writeln!(out, "{}", self.questions.line());
        let _ = writeln!(
            out,
            "questions right: {:.3}%   uncertain: {:.3}%   silently wrong: {}",
            self.right_pct(),
            Counts::pct(self.questions.uncertain, self.questions.total()),
            self.questions.silently_wrong
        );
        let _ = writeln!(
            out,
            "sheets needing no review: {:.2}% ({} need review)",
            self.no_review_pct(),
            self.needs_review
        );
        let _ = writeln!(
            out,
            "identified locally: {:.2}% ({} of {}); right identity {}; WRONG identities {}",
            self.identified_locally_pct(),
            self.identified_locally,
            self.sheets,
            self.right_identity,
            self.wrong_identity
        );
        let _ = writeln!(
            out,
            "identified by (step: sheets): {:?}",
            self.identified_by
        );
        let _ = writeln!(
            out,
            "sheets whose QR code or printed id is cut by the image's edge: {}",
            self.id_cut
        );
        let _ = writeln!(out, "identified by, per damage to the QR code:");
        for (damage, by) in &self.identified_by_qr_damage {
            let _ = writeln!(out, "  {damage:>10}: {by:?}");
        }
        let _ = writeln!(
            out,
            "alignment failures: {} ({:.2}% of sheets)",
            self.alignment_failures,
            Counts::pct(self.alignment_failures, self.sheets)
        );
        for (m, n) in &self.alignment_messages {
            let _ = writeln!(out, "  {n:>5} × {m}");
        }
        let _ = writeln!(
            out,
            "by corner marks cut by the image's edge: sheets / alignment failures / needing review"
        );
        for (cut, (n, failed, review)) in &self.by_corners_cut {
            let _ = writeln!(out, "  {cut} cut: {n} / {failed} / {review}");
        }
        let _ = writeln!(out, "by fill style:");
        for (k, c) in &self.by_style {
            let _ = writeln!(out, "  {k:>13}: {}", c.line());
        }
        let _ = writeln!(out, "by capture profile:");
        for (k, c) in &self.by_profile {
            let (r, n) = self.review_by_profile.get(k).copied().unwrap_or_default();
            let _ = writeln!(
                out,
                "  {k:>10}: {}; sheets needing review {r}/{n}",
                c.line()
            );
        }
        let _ = writeln!(out, "by degradation tag:");
        for (k, c) in &self.by_tag {
            let _ = writeln!(out, "  {k:>13}: {}", c.line());
        }
        for (title, by_style) in [
            (
                "grader fill above the sheet's empty level",
                &self.fills_by_style,
            ),
            (
                "grader peak darkness above the sheet's empty peak",
                &self.peaks_by_style,
            ),
        ] {
            if by_style.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title}, by ink in the bubble (percentiles):");
            let _ = writeln!(
                out,
                "  {:>13}  {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6}",
                "ink", "n", "min", "p0.1", "p1", "p50", "p99", "p99.9", "max"
            );
            for (k, v) in by_style {
                let mut v = v.clone();
                v.sort_by(f32::total_cmp);
                let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
                let _ = writeln!(
                    out,
                    "  {k:>13}  {:>7} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3}",
                    v.len(),
                    p(0.0),
                    p(0.001),
                    p(0.01),
                    p(0.5),
                    p(0.99),
                    p(0.999),
                    p(1.0)
                );
            }
        }
        if !self.sheet_problems.is_empty() {
            let _ = writeln!(out, "sheets needing attention:");
            for p in &self.sheet_problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        let wrong: Vec<&Misread> = self
            .misreads
            .iter()
            .filter(|m| m.verdict == Verdict::SilentlyWrong)
            .collect();
        let others: Vec<&Misread> = self
            .misreads
            .iter()
            .filter(|m| m.verdict != Verdict::SilentlyWrong)
            .collect();
        for (title, list) in [("SILENTLY WRONG", wrong), ("uncertain / not read", others)] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(out, "{title} ({}):", list.len());
            for m in list.iter().take(max_misreads) {
                let _ = writeln!(
                    out,
                    "  {} q{} seed {:#x}: expected {:?} {:?}, read {:?}; marks {:?}; {}; capture {}",
                    m.file_name,
                    m.question,
                    m.seed,
                    m.expected.0,
                    m.expected.1,
                    m.read,
                    m.marks,
                    m.grader_fills,
                    m.capture
                );
            }
            if list.len() > max_misreads {
                let _ = writeln!(out, "  … and {} more", list.len() - max_misreads);
            }
        }
        out
    }
}
