//! `/v1/exams`: register an exam, read it back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use model::Exam;
use serde::Serialize;
use service::{ApiResult, Caller, Problem};
use store::Scope;
use utoipa::ToSchema;

use super::state::AppState;
use super::{json_body, utf8};

/// An exam just registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExamCreated {
    /// The exam's id, for `POST /v1/exams/{id}/bundles` and the grader's results.
    pub id: String,
}

/// A registered exam.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExamView {
    /// The exam's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Incremented on every change of its keys, weights or annulments.
    pub revision: i64,
    /// The exam file, with its current keys (see `render-service schema`).
    #[schema(value_type = Object)]
    pub exam: serde_json::Value,
}

/// The exam file, as a placeholder for its JSON Schema, which the document publishes under
/// [`EXAM_FILE`] from the model (the same schema as `render-service schema`).
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct ExamFile(pub serde_json::Value);

/// The component name of the exam file's schema in `/openapi.json`.
pub const EXAM_FILE: &str = "ExamFile";

/// Registers an exam.
///
/// The body is the exam file of `render-service render` (its JSON Schema is printed by
/// `render-service schema`). An invalid file is refused with the field at fault in
/// `errors[0].field`.
#[utoipa::path(post, path = "/v1/exams", tag = "exams",
    request_body(content = ExamFile, content_type = "application/json",
        description = "The exam file (JSON Schema: `render-service schema`)"),
    responses(
        (status = 201, description = "Registered", body = ExamCreated,
            headers(("Location" = String, description = "/v1/exams/{id}"))),
        (status = 400, description = "Not UTF-8 JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 32 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The exam file is invalid: `errors[0].field` names the field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_exam(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<impl IntoResponse> {
    let tenant = caller.require(Scope::Render)?;
    json_body(&headers)?;
    let body = body?;
    let exam = Exam::from_json(utf8(&body)?).map_err(|e| Problem::invalid_exam(&e))?;
    exam.validate().map_err(|e| Problem::invalid_exam(&e))?;
    let id = state.store().register_exam(tenant, &exam).await?;
    tracing::info!(exam = %id, "exam registered");
    Ok((
        StatusCode::CREATED,
        [(LOCATION, format!("/v1/exams/{id}"))],
        Json(ExamCreated { id }),
    ))
}

/// An exam, with its current keys.
#[utoipa::path(get, path = "/v1/exams/{id}", tag = "exams",
    params(("id" = String, Path, description = "The exam's id")),
    responses(
        (status = 200, description = "The exam", body = ExamView),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the render scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_exam(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<ExamView>> {
    let tenant = caller.require(Scope::Render)?;
    let Path(id) = id?;
    let stored = state
        .store()
        .exam(tenant, &id)
        .await?
        .ok_or_else(|| Problem::not_found("exam", &id))?;
    let exam = serde_json::to_value(&stored.exam).map_err(|e| Problem::internal(&e))?;
    Ok(Json(ExamView {
        id: stored.id,
        title: stored.exam.title,
        revision: stored.revision,
        exam,
    }))
}
