//! `PUT /v1/exams/{id}/key`: change keys, weights and annulments, and re-score every stored
//! sheet of the exam from its stored marks (no image is read again), as `grader rescore` does.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use model::Exam;
use model::exam::{Key, KeyAnswer, Question};
use serde::{Deserialize, Serialize};
use service::Path;
use service::{ApiResult, Caller, FieldError, Problem};
use store::Scope;
use utoipa::ToSchema;

use super::state::AppState;

/// A key: one label (`"C"`, or `"A,C"` for several) or a list of labels.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum KeyIn {
    /// `"C"`, or `"A,C"`.
    One(String),
    /// `["A", "C"]`.
    Many(Vec<String>),
}

/// A change to one question. Any of `key`, `weight`, `annulled`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    /// The question, numbered from 1 as printed.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "service::number::whole")]
    pub question: u32,
    /// Its new key, the same for every version.
    pub key: Option<KeyIn>,
    /// Its new weight (a non-negative number).
    pub weight: Option<f64>,
    /// `true` annuls it (everyone gets its weight); `false` restores it.
    pub annulled: Option<bool>,
}

/// Changes to an exam's key, applied together or not at all.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChanges {
    /// The changes (at least one).
    #[schema(min_items = 1)]
    pub changes: Vec<KeyChange>,
}

/// What re-scoring did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RescoreOut {
    /// The exam.
    pub exam_id: String,
    /// The exam revision now in force (results say which revision they were computed with).
    pub revision: i64,
    /// Answer sheets re-scored.
    pub sheets: usize,
}

/// Applies `changes` to `exam`, each checked against its question as the teacher numbered it;
/// every change at fault is listed (`changes[i].key`, …).
fn apply(exam: &mut Exam, changes: &[KeyChange]) -> Result<(), Vec<FieldError>> {
    let language = exam.language;
    let count = exam.questions.len();
    let mut errors = Vec::new();
    let mut fault = |field: String, message: String| {
        errors.push(FieldError {
            field: Some(field),
            row: None,
            message,
        })
    };
    for (i, change) in changes.iter().enumerate() {
        let n = change.question;
        let Some(q) = n
            .checked_sub(1)
            .and_then(|i| exam.questions.get_mut(i as usize))
        else {
            fault(
                format!("changes[{i}].question"),
                format!("question {n} does not exist (the exam has {count})"),
            );
            continue;
        };
        if change.key.is_none() && change.weight.is_none() && change.annulled.is_none() {
            fault(
                format!("changes[{i}]"),
                format!("question {n}: say what changes (key, weight or annulled)"),
            );
        }
        if let Some(key) = &change.key {
            let labels: Vec<String> = match key {
                KeyIn::One(s) => s.split(',').map(|l| l.trim().to_string()).collect(),
                KeyIn::Many(v) => v.iter().map(|l| l.trim().to_string()).collect(),
            };
            let key = match labels.as_slice() {
                [one] => KeyAnswer::One(one.clone()),
                _ => KeyAnswer::Many(labels),
            };
            match q.check_answer(&key, language) {
                Ok(()) => q.key = Key::Same(key),
                Err(e) => fault(format!("changes[{i}].key"), format!("question {n}: {e}")),
            }
        }
        if let Some(weight) = change.weight {
            match Question::check_weight(weight) {
                Ok(()) => q.weight = weight,
                Err(e) => fault(
                    format!("changes[{i}].weight"),
                    format!("question {n}: weight {e}"),
                ),
            }
        }
        if let Some(annulled) = change.annulled {
            q.annulled = annulled;
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Change keys, weights or annulments, and re-score every stored sheet of the exam.
///
/// Every change is checked first; nothing is saved unless all apply. Body e.g.
/// `{"changes":[{"question":3,"key":"B"},{"question":5,"annulled":true},{"question":7,"weight":2}]}`.
#[utoipa::path(put, path = "/v1/exams/{id}/key", tag = "results",
    params(("id" = String, Path, description = "The exam's id")),
    request_body = KeyChanges,
    responses(
        (status = 200, description = "Changed and re-scored", body = RescoreOut),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A change does not fit its question; `errors` names each", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn put_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<Json<KeyChanges>, JsonRejection>,
) -> ApiResult<Json<RescoreOut>> {
    let tenant = caller.require(Scope::Results)?;
    let Json(body) = body?;
    if body.changes.is_empty() {
        return Err(Problem::unprocessable(
            "no changes: give {\"changes\": [{\"question\": N, \"key\"|\"weight\"|\"annulled\": …}]}",
        ));
    }
    let stored = state
        .store
        .exam(tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("exam", &id))?;
    let mut exam = stored.exam;
    if let Err(errors) = apply(&mut exam, &body.changes) {
        let detail = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(Problem::unprocessable(detail).with_errors(errors));
    }
    let report = state.store.update_exam(tenant, &id, &exam).await?;
    Ok(Json(RescoreOut {
        exam_id: id,
        revision: report.revision,
        sheets: report.sheets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exam() -> Exam {
        Exam::from_json(
            r#"{"title":"T","questions":[{"key":"A"},{"key":"B"},{"choices":"true-false","key":"C"}]}"#,
        )
        .expect("valid")
    }

    fn changes(json: &str) -> Vec<KeyChange> {
        serde_json::from_str::<KeyChanges>(json)
            .expect("json")
            .changes
    }

    #[test]
    fn every_change_at_fault_is_named() {
        let mut e = exam();
        let errors = apply(
            &mut e,
            &changes(
                r#"{"changes":[{"question":2,"key":"Z"},{"question":1,"weight":-1},{"question":9,"annulled":true}]}"#,
            ),
        )
        .expect_err("refused");
        let fields: Vec<_> = errors.iter().filter_map(|e| e.field.clone()).collect();
        assert_eq!(
            fields,
            ["changes[0].key", "changes[1].weight", "changes[2].question"]
        );
        assert_eq!(
            errors[0].message,
            r#"question 2: "Z" is not one of the choices A, B, C, D, E"#
        );
    }

    #[test]
    fn good_changes_apply() {
        let mut e = exam();
        apply(
            &mut e,
            &changes(
                r#"{"changes":[{"question":2,"key":["c","e"]},{"question":1,"weight":2.5},{"question":3,"annulled":true}]}"#,
            ),
        )
        .expect("valid");
        assert_eq!(e.key_for("A", 1), Some(vec![2, 4]));
        assert_eq!(e.questions[0].weight, 2.5);
        assert!(e.questions[2].annulled);
    }
}
