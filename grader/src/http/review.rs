//! The review queue: `GET /v1/exams/{id}/review` lists what waits for a person, each item
//! with a crop of what to look at (`GET /v1/review/{item}/image`); `POST /v1/review/{item}`
//! records the decision, with the semantics of `grader resolve`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::Response;
use image::RgbImage;
use model::SheetCode;
use pipeline::{PageReport, PageScan};
use serde::{Deserialize, Serialize};
use service::{ApiResult, Caller, Problem};
use service::{Path, Query};
use store::{Resolution, ResolveOutcome, ReviewItem, ReviewStatus, Scope, Store, TenantId};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::{IntoParams, ToSchema};

use crate::student_sheet::{StudentSheet, student_sheet};

use super::scans::{page_image, png_response};
use super::state::AppState;

/// What kind of look an item needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewKind {
    /// A question whose mark is uncertain: answer it with `{"answer": …}`.
    Question,
    /// A page no sheet could be named for: say whose with `{"sheet_code": …}` or
    /// `{"student_id": …}`.
    Unidentified,
    /// Something else about a page (alignment, student number, an unreadable file): look, then
    /// `{"dismiss": true}` or grade a better scan.
    Page,
}

/// Something that needs a person's look.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemOut {
    /// The item's id.
    pub id: i64,
    /// What kind of decision it needs.
    pub kind: ReviewKind,
    /// Why a person should look.
    pub reason: String,
    /// The exam, when the page was identified.
    pub exam_id: Option<String>,
    /// The scan it came from.
    pub scan_id: i64,
    /// The file name of that scan.
    pub file_name: String,
    /// The page of the scan.
    pub page: Option<u32>,
    /// The page's sheet code, when identified.
    pub sheet_code: Option<String>,
    /// The sheet's student, when known.
    pub student_id: Option<String>,
    /// The question, for an uncertain mark.
    pub question: Option<u32>,
    /// `open`, `resolved` or `dismissed`.
    pub status: String,
    /// What the person decided.
    pub resolution: Option<String>,
    /// Whether a later scan of the sheet counts instead.
    pub superseded: bool,
    /// When it was opened (ms since the epoch).
    pub created_at: i64,
    /// A PNG of what to look at: the question's row of bubbles, or the whole page.
    pub image_url: String,
}

impl From<&ReviewItem> for ReviewItemOut {
    fn from(i: &ReviewItem) -> Self {
        let kind = if i.question.is_some() {
            ReviewKind::Question
        } else if i.sheet_code.is_none() && i.reason.starts_with("unidentified") {
            ReviewKind::Unidentified
        } else {
            ReviewKind::Page
        };
        Self {
            id: i.id,
            kind,
            reason: i.reason.clone(),
            exam_id: i.exam_id.clone(),
            scan_id: i.scan_id,
            file_name: i.file_name.clone(),
            page: i.page,
            sheet_code: i.sheet_code.clone(),
            student_id: i.student_id.clone(),
            question: i.question,
            status: status_word(i.status).to_string(),
            resolution: i.resolution.clone(),
            superseded: i.superseded,
            created_at: i.created_at,
            image_url: format!("/v1/review/{}/image", i.id),
        }
    }
}

fn status_word(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Open => "open",
        ReviewStatus::Resolved => "resolved",
        ReviewStatus::Dismissed => "dismissed",
    }
}

/// The review queue of an exam.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewOut {
    /// The exam.
    pub exam_id: String,
    /// The items, oldest first.
    pub items: Vec<ReviewItemOut>,
}

/// Which items to list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReviewQuery {
    /// Also list resolved and dismissed items, and items of superseded scans.
    pub all: Option<bool>,
}

/// What waits for a person in an exam: uncertain marks and page problems of its sheets, and
/// the school's pages that no sheet could be named for (they may be this exam's).
#[utoipa::path(get, path = "/v1/exams/{id}/review", tag = "review",
    params(("id" = String, Path, description = "The exam's id"), ReviewQuery),
    responses(
        (status = 200, description = "The items", body = ReviewOut),
        (status = 400, description = "A bad query", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such exam for this tenant", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<ReviewQuery>,
) -> ApiResult<Json<ReviewOut>> {
    let tenant = caller.require(Scope::Results)?;
    if state.store.exam(tenant, &id).await?.is_none() {
        return Err(Problem::not_found("exam", &id));
    }
    let open_only = !query.all.unwrap_or(false);
    let items = state
        .store
        .review_items(tenant, None, open_only)
        .await?
        .iter()
        .filter(|i| i.exam_id.as_deref().is_none_or(|e| e == id))
        .map(ReviewItemOut::from)
        .collect();
    Ok(Json(ReviewOut { exam_id: id, items }))
}

/// The image of what a person must look at: the question's row of bubbles (as the grader read
/// them) for an uncertain mark, the whole page, downscaled, for anything else.
#[utoipa::path(get, path = "/v1/review/{item}/image", tag = "review",
    params(("item" = i64, Path, description = "The review item's id")),
    responses(
        (status = 200, description = "A PNG crop", content_type = "image/png", body = super::scans::ScanFile),
        (status = 400, description = "The id is not a number", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The scan could not be read: nothing to draw", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn get_review_image(
    State(state): State<AppState>,
    caller: Caller,
    Path(item): Path<i64>,
) -> ApiResult<Response> {
    let tenant = caller.require(Scope::Results)?.clone();
    let review = state
        .store
        .review_item(&tenant, item)
        .await?
        .ok_or_else(|| Problem::not_found("review item", item))?;
    let question = review.question;
    let image = page_image(
        &state,
        &tenant,
        review.scan_id,
        review.page.unwrap_or(1),
        move |scan, report| crop(scan, report, question),
    )
    .await?;
    png_response(&image)
}

/// Longest side of a whole-page review image: enough to read a name and a printed code.
const PAGE_LONG_SIDE: u32 = 1200;

/// The annotated page, cut to the row of `question`'s bubbles (with its printed number) when
/// the page was aligned, or the whole page downscaled.
fn crop(scan: &PageScan, report: &PageReport, question: Option<u32>) -> RgbImage {
    let annotated = pipeline::annotate(scan, report);
    let row = question.and_then(|q| question_box(scan, q, annotated.width(), annotated.height()));
    match row {
        Some((x, y, w, h)) => image::imageops::crop_imm(&annotated, x, y, w, h).to_image(),
        None => downscale(annotated, PAGE_LONG_SIDE),
    }
}

/// The pixel box of a question's bubbles (and the number printed left of them), padded.
fn question_box(
    scan: &PageScan,
    question: u32,
    width: u32,
    height: u32,
) -> Option<(u32, u32, u32, u32)> {
    let h = scan.homography.as_ref()?;
    let layout = scan.layout.as_ref()?;
    let bubbles: Vec<_> = layout
        .bubbles
        .iter()
        .filter(|b| b.question == question)
        .collect();
    let r = bubbles.first()?.r;
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for b in &bubbles {
        // The printed number sits left of the first bubble.
        for (x, y) in [
            (b.x - 5.0 * r, b.y - 1.8 * r),
            (b.x + 1.8 * r, b.y + 1.8 * r),
        ] {
            let (px, py) = h.apply_f32(x, y);
            x0 = x0.min(px);
            y0 = y0.min(py);
            x1 = x1.max(px);
            y1 = y1.max(py);
        }
    }
    let clamp = |v: f32, max: u32| v.clamp(0.0, max as f32) as u32;
    let (x0, y0) = (clamp(x0, width), clamp(y0, height));
    let (x1, y1) = (clamp(x1, width), clamp(y1, height));
    (x1 > x0 + 2 && y1 > y0 + 2).then(|| (x0, y0, x1 - x0, y1 - y0))
}

fn downscale(image: RgbImage, long_side: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    let long = w.max(h);
    if long <= long_side {
        return image;
    }
    let scale = long_side as f32 / long as f32;
    let (nw, nh) = (
        ((w as f32 * scale) as u32).max(1),
        ((h as f32 * scale) as u32).max(1),
    );
    image::imageops::resize(&image, nw, nh, image::imageops::FilterType::Triangle)
}

/// What the student marked: one label or several.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum AnswerIn {
    /// One label, e.g. `"C"`, or several separated by commas (`"A,C"`).
    One(String),
    /// Several labels, e.g. `["A", "C"]`; `[]` for blank.
    Many(Vec<String>),
}

/// A person's decision on a review item: exactly one of `answer`, `blank`, `dismiss`,
/// `sheet_code`, `student_id`. Its schema ([`resolve_schema`]) says "exactly one" as a `oneOf`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveIn {
    /// For an uncertain mark: the choice(s) the student marked.
    pub answer: Option<AnswerIn>,
    /// For an uncertain mark: the student left it blank.
    pub blank: Option<bool>,
    /// Nothing to change.
    pub dismiss: Option<bool>,
    /// For an unidentified page: the sheet's code, as printed under its QR code.
    pub sheet_code: Option<String>,
    /// For an unidentified page: the student whose (single-page) answer sheet it is.
    pub student_id: Option<String>,
    /// With `student_id`: the exam (by default the item's).
    pub exam_id: Option<String>,
}

impl utoipa::PartialSchema for ResolveIn {
    fn schema() -> RefOr<Schema> {
        resolve_schema()
    }
}

impl ToSchema for ResolveIn {}

/// `ResolveIn` as one object per kind of decision, each with its one property required and
/// nothing else allowed (but `exam_id` beside `student_id`).
fn resolve_schema() -> RefOr<Schema> {
    let text = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .description(Some(description))
    };
    let yes = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .description(Some(description))
    };
    let answer = OneOfBuilder::new()
        .item(text(
            "One label, e.g. \"C\", or several separated by commas (\"A,C\")",
        ))
        .item(
            ArrayBuilder::new()
                .items(ObjectBuilder::new().schema_type(Type::String))
                .description(Some("Several labels, e.g. [\"A\", \"C\"]; [] for blank")),
        )
        .description(Some(
            "For an uncertain mark: the choice(s) the student marked",
        ));
    let only = |name: &str, schema: RefOr<Schema>| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(name, schema)
            .required(name)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let decisions = [
        only("answer", answer.into()),
        only(
            "blank",
            yes("For an uncertain mark: the student left it blank").into(),
        ),
        only("dismiss", yes("Nothing to change").into()),
        only(
            "sheet_code",
            text("For an unidentified page: the sheet's code, as printed under its QR code")
                .pattern(Some(SheetCode::PATTERN))
                .into(),
        ),
        only(
            "student_id",
            text("For an unidentified page: the student whose (single-page) answer sheet it is")
                .into(),
        )
        .property(
            "exam_id",
            text("With `student_id`: the exam (by default the item's)"),
        ),
    ];
    let mut one_of = OneOfBuilder::new().description(Some(
        "A person's decision on a review item: exactly one of `answer`, `blank`, `dismiss`, \
         `sheet_code`, `student_id`",
    ));
    for decision in decisions {
        one_of = one_of.item(decision);
    }
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// A sheet's score after a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreOut {
    /// Points earned (provisional while `pending` is not empty).
    pub score: f64,
    /// Points available.
    pub max_score: f64,
    /// Questions still waiting for review.
    pub pending: Vec<u32>,
}

/// The item after the decision, and the sheet's new score.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolveOut {
    /// The item as it now stands.
    pub item: ReviewItemOut,
    /// The sheet's score, when the decision changed a page that counts.
    pub score: Option<ScoreOut>,
}

/// What the person decided, checked.
#[derive(Debug, PartialEq)]
enum Decision {
    Review(Resolution),
    Sheet(SheetCode),
    Student {
        student: String,
        exam: Option<String>,
    },
}

fn decision(body: ResolveIn) -> ApiResult<Decision> {
    let given = [
        body.answer.is_some(),
        body.blank == Some(true),
        body.dismiss == Some(true),
        body.sheet_code.is_some(),
        body.student_id.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        return Err(Problem::invalid_request(
            "give exactly one of: \"answer\" (\"C\", \"A,C\" or [\"A\",\"C\"]), \"blank\": true, \
             \"dismiss\": true, \"sheet_code\", or \"student_id\" (with \"exam_id\")",
        ));
    }
    Ok(if let Some(answer) = body.answer {
        let labels: Vec<String> = match answer {
            AnswerIn::One(s) => s.split(',').map(|l| l.trim().to_string()).collect(),
            AnswerIn::Many(v) => v.into_iter().map(|l| l.trim().to_string()).collect(),
        };
        let labels: Vec<String> = labels.into_iter().filter(|l| !l.is_empty()).collect();
        if labels.is_empty() {
            Decision::Review(Resolution::Blank)
        } else {
            Decision::Review(Resolution::Choices(labels))
        }
    } else if body.blank == Some(true) {
        Decision::Review(Resolution::Blank)
    } else if body.dismiss == Some(true) {
        Decision::Review(Resolution::Dismiss)
    } else if let Some(code) = body.sheet_code {
        Decision::Sheet(SheetCode::parse(code.trim()).map_err(|e| {
            Problem::unprocessable(format!(
                "sheet_code {code:?} is not a sheet code ({e}); copy the code printed under \
                 the QR code, e.g. K7QM4-XRT9H-WDA3C"
            ))
        })?)
    } else {
        Decision::Student {
            student: body.student_id.unwrap_or_default(),
            exam: body.exam_id,
        }
    })
}

/// Decide a review item: the marked choice(s) of an uncertain question, whose sheet an
/// unidentified page is, or nothing to change. The sheet is re-scored at once.
#[utoipa::path(post, path = "/v1/review/{item}", tag = "review",
    params(("item" = i64, Path, description = "The review item's id")),
    request_body = ResolveIn,
    responses(
        (status = 200, description = "Decided; the sheet re-scored", body = ResolveOut),
        (status = 400, description = "Not exactly one decision, or malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the results scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such item (or sheet) for this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The decision does not fit the item (a choice the question lacks, a bad sheet code…)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn post_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(item): Path<i64>,
    body: Result<Json<ResolveIn>, JsonRejection>,
) -> ApiResult<Json<ResolveOut>> {
    let tenant = caller.require(Scope::Results)?;
    let Json(body) = body?;
    let decision = decision(body)?;
    let outcome = decide(&state.store, tenant, item, decision).await?;
    Ok(Json(ResolveOut {
        item: ReviewItemOut::from(&outcome.item),
        score: outcome.score.map(|s| ScoreOut {
            score: s.score,
            max_score: s.max_score,
            pending: s.pending,
        }),
    }))
}

async fn decide(
    store: &Store,
    tenant: &TenantId,
    item: i64,
    decision: Decision,
) -> ApiResult<ResolveOutcome> {
    Ok(match decision {
        Decision::Review(resolution) => store.resolve_review(tenant, item, &resolution).await?,
        Decision::Sheet(code) => store.assign_page(tenant, item, &code).await?,
        Decision::Student { student, exam } => {
            let exam = match exam {
                Some(exam) => exam,
                None => store
                    .review_item(tenant, item)
                    .await?
                    .ok_or_else(|| Problem::not_found("review item", item))?
                    .exam_id
                    .ok_or_else(|| {
                        Problem::unprocessable(
                            "the page belongs to no exam yet: say which with \"exam_id\"",
                        )
                    })?,
            };
            if store.exam(tenant, &exam).await?.is_none() {
                return Err(Problem::not_found("exam", &exam));
            }
            let code = match student_sheet(store, tenant, &exam, &student).await? {
                StudentSheet::Missing => {
                    return Err(Problem::unprocessable(format!(
                        "exam {exam} has no answer sheet for student {student:?}"
                    )));
                }
                StudentSheet::One(code) => code,
                StudentSheet::Several(n) => {
                    return Err(Problem::unprocessable(format!(
                        "student {student:?} has {n} answer-sheet pages in exam {exam}: say \
                         which with \"sheet_code\""
                    )));
                }
            };
            store.assign_page(tenant, item, &code).await?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decided(json: &str) -> ApiResult<Decision> {
        decision(serde_json::from_str(json).expect("json"))
    }

    #[test]
    fn one_decision_is_read_as_grader_resolve_reads_it() {
        assert_eq!(
            decided(r#"{"answer":"A,C"}"#).ok(),
            Some(Decision::Review(Resolution::Choices(vec![
                "A".into(),
                "C".into()
            ])))
        );
        assert_eq!(
            decided(r#"{"answer":["B"]}"#).ok(),
            Some(Decision::Review(Resolution::Choices(vec!["B".into()])))
        );
        assert_eq!(
            decided(r#"{"answer":[]}"#).ok(),
            Some(Decision::Review(Resolution::Blank))
        );
        assert_eq!(
            decided(r#"{"dismiss":true}"#).ok(),
            Some(Decision::Review(Resolution::Dismiss))
        );
        assert!(decided(r#"{}"#).is_err());
        assert!(decided(r#"{"answer":"A","dismiss":true}"#).is_err());
        assert_eq!(
            decided(r#"{"sheet_code":"nope"}"#).err().map(|p| p.status),
            Some(422)
        );
    }
}
