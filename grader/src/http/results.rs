//! `GET /v1/exams/{id}/results` and `GET /v1/exams/{id}/stats`: scores per student and
//! statistics per question, as `grader results` gives them (JSON, or its CSV on
//! `Accept: text/csv`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use model::results::{ExamResults, ItemStatistics, StudentResult};
use serde::Serialize;
use service::Path;
use service::{ApiResult, Caller, Problem};
use store::{Scope, TenantId};
use utoipa::ToSchema;

use super::state::AppState;

/// One question on one sheet.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionOut {
    /// Question number, from 1.
    pub question: u32,
    /// Printed labels of the choices marked.
    pub marked: Vec<String>,
    /// `blank`, `answered`, `multiple` or `uncertain`.
    pub state: String,
    /// Points it earned.
    pub points: f64,
    /// Whether exactly the key's choices were marked.
    pub right: bool,
}

/// One student's (answer sheet's) result.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentOut {
    /// Code of the sheet's first page.
    pub sheet_code: String,
    /// The roster's id; on an anonymous sheet the number read from its grid.
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
    pub answers: Vec<QuestionOut>,
}

/// How many sheets chose one option.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptionOut {
    /// The option's printed label.
    pub label: String,
    /// Sheets that marked it (alone or with others).
    pub count: usize,
}

/// Statistics of one question over every scored sheet.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOut {
    /// Question number, from 1.
    pub question: u32,
    /// Its weight.
    pub weight: f64,
    /// Whether it is annulled.
    pub annulled: bool,
    /// Sheets counted.
    pub sheets: usize,
    /// How many sheets marked each option, in printed order.
    pub options: Vec<OptionOut>,
    /// Sheets that left it blank.
    pub blank: usize,
    /// Sheets that marked more than one option.
    pub multiple: usize,
    /// Sheets whose mark is still uncertain.
    pub uncertain: usize,
    /// Sheets that marked exactly the key (of their version).
    pub right: usize,
    /// Share of sheets right (difficulty index p); `null` without sheets.
    pub difficulty: Option<f64>,
    /// Point-biserial discrimination; `null` when undefined.
    pub discrimination: Option<f64>,
    /// Upper–lower index (top 27% minus bottom 27%).
    pub upper_lower: Option<f64>,
}

/// An exam's results: `grader results --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsOut {
    /// The exam's id.
    pub exam_id: String,
    /// Its title.
    pub title: String,
    /// The exam revision (keys, weights, annulments) in force.
    pub revision: i64,
    /// Number of questions.
    pub questions: usize,
    /// One entry per scored answer sheet.
    pub students: Vec<StudentOut>,
    /// One entry per question.
    pub items: Vec<ItemOut>,
}

/// Per question statistics of an exam.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    /// The exam's id.
    pub exam_id: String,
    /// The exam revision in force.
    pub revision: i64,
    /// Answer sheets scored.
    pub sheets: usize,
    /// One entry per question, in order.
    pub items: Vec<ItemOut>,
}

fn state_word(state: model::scoring::AnswerState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl From<&StudentResult> for StudentOut {
    fn from(s: &StudentResult) -> Self {
        Self {
            sheet_code: s.sheet_code.clone(),
            student_id: s.student_id.clone(),
            name: s.name.clone(),
            class: s.class.clone(),
            version: s.version.clone(),
            score: s.score,
            max_score: s.max_score,
            pending: s.pending.clone(),
            answers: s
                .answers
                .iter()
                .map(|a| QuestionOut {
                    question: a.question,
                    marked: a.marked.clone(),
                    state: state_word(a.state),
                    points: a.points,
                    right: a.right,
                })
                .collect(),
        }
    }
}

impl From<&ItemStatistics> for ItemOut {
    fn from(i: &ItemStatistics) -> Self {
        Self {
            question: i.question,
            weight: i.weight,
            annulled: i.annulled,
            sheets: i.sheets,
            options: i
                .options
                .iter()
                .map(|o| OptionOut {
                    label: o.label.clone(),
                    count: o.count,
                })
                .collect(),
            blank: i.blank,
            multiple: i.multiple,
            uncertain: i.uncertain,
            right: i.right,
            difficulty: i.difficulty,
            discrimination: i.discrimination,
            upper_lower: i.upper_lower,
        }
    }
}

impl From<&ExamResults> for ResultsOut {
    fn from(r: &ExamResults) -> Self {
        Self {
            exam_id: r.exam_id.clone(),
            title: r.title.clone(),
            revision: r.revision,
            questions: r.questions,
            students: r.students.iter().map(StudentOut::from).collect(),
            items: r.items.iter().map(ItemOut::from).collect(),
        }
    }
}

/// Whether the client asked for CSV.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim() == "text/csv"))
}

async fn results_of(state: &AppState, tenant: &TenantId, exam: &str) -> ApiResult<ExamResults> {
    // The store answers an exam another tenant has as not found, like a missing one. A
    // replica may lag the primary by a moment: results are a report, not a read-your-write.
    Ok(state.reads.results(tenant, exam).await?)
}

fn csv_response(
    results: &ExamResults,
    write: fn(&ExamResults, &mut Vec<u8>) -> Result<(), csv::Error>,
) -> ApiResult<Response> {
    let mut out = Vec::new();
    write(results, &mut out).map_err(|e| Problem::internal(&e))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
}

/// Scores per student (each question's marks and points) and statistics per question. With
/// `Accept: text/csv`, the CSV of `grader results --csv`.
#[utoipa::path(get, path = "/v1/exams/{id}/results", tag = "results",
    params(("id" = String, Path, description = "The exam's id")),
    responses(
        (status = 200, description = "The results", content(
            (ResultsOut = "application/json"),
            (String = "text/csv"))),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_results(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Results)?;
    let results = results_of(&state, tenant, &id).await?;
    if wants_csv(&headers) {
        return csv_response(&results, |r, out| model::results::write_csv(r, out));
    }
    Ok(Json(ResultsOut::from(&results)).into_response())
}

/// Per question: option counts, blank, multiple, uncertain, right, difficulty and
/// discrimination. With `Accept: text/csv`, the CSV of `grader results --csv --items`.
#[utoipa::path(get, path = "/v1/exams/{id}/stats", tag = "results",
    params(("id" = String, Path, description = "The exam's id")),
    responses(
        (status = 200, description = "The statistics", content(
            (StatsOut = "application/json"),
            (String = "text/csv"))),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_stats(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Results)?;
    let results = results_of(&state, tenant, &id).await?;
    if wants_csv(&headers) {
        return csv_response(&results, |r, out| model::results::write_items_csv(r, out));
    }
    Ok(Json(StatsOut {
        exam_id: results.exam_id.clone(),
        revision: results.revision,
        sheets: results.students.len(),
        items: results.items.iter().map(ItemOut::from).collect(),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_asked_for_among_other_types() {
        let mut h = HeaderMap::new();
        assert!(!wants_csv(&h));
        h.insert(
            header::ACCEPT,
            "application/json, text/csv;q=0.9".parse().unwrap(),
        );
        assert!(wants_csv(&h));
    }
}
