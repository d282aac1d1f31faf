//! The grader's HTTP API (`grader serve`): one module per resource, each route a small
//! handler over the same grading path the command line uses. [`app`] assembles them with the
//! operations routes, the OpenAPI document and the middleware of `service`.

pub mod batches;
pub mod events;
pub mod grade;
pub mod keys;
pub mod results;
pub mod review;
pub mod scans;
pub mod state;
pub mod uploads;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use batches::GradeScans;
pub use state::AppState;

/// The service's title in its OpenAPI document.
pub const TITLE: &str = "Gabarito grader";

/// What the OpenAPI document says of the service as a whole.
pub const DESCRIPTION: &str = "Scans in, scores out. Post scans of answer sheets (an image or a \
PDF as the body, or several files as multipart/form-data); read results, statistics and the \
review queue; resolve review items; change keys and re-score.\n\n\
A request of at most 8 pages (an image is one page, a PDF as many as it has) and at most 8 MiB \
is graded while the client waits (200). A larger one (at most 32 MiB, the most Cloud Run \
accepts) is stored at once and answered 202 with a batch id and a Location header; follow it \
at GET /v1/scan-batches/{id}. The same bytes posted again are the same scan, answered with its \
stored outcome.\n\n\
A larger file (a scanner's PDF past 32 MiB) goes straight to Cloud Storage: POST \
/v1/scan-uploads for a signed PUT URL, upload, then POST /v1/scan-uploads/{id}/complete. Files \
dropped into the bucket under inbox/TENANT/ are graded through POST /v1/storage-events \
(Eventarc; off unless GABARITO_STORAGE_EVENTS=cloud-run-iam).\n\n\
Every route but /healthz, /readyz, /metrics and /openapi.json needs `Authorization: Bearer \
<token>` (made by `grader token create`): scope `scan` to post and read scans and batches, \
`results` for results, statistics, review and key changes (`admin` covers both). Another \
school's resources are not found. Errors are RFC 9457 problem documents.";

/// The documented routes of the grader.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(scans::post_scans))
        .routes(routes!(scans::get_scan))
        .routes(routes!(scans::get_annotated))
        .routes(routes!(batches::get_batch))
        .routes(routes!(uploads::post_scan_upload))
        .routes(routes!(uploads::complete_scan_upload))
        .routes(routes!(events::post_storage_event))
        .routes(routes!(results::get_results))
        .routes(routes!(results::get_stats))
        .routes(routes!(review::get_review))
        .routes(routes!(review::get_review_image))
        .routes(routes!(review::post_review))
        .routes(routes!(keys::put_key))
}

/// The whole service: the grader's routes, the operations routes, `/openapi.json`, problem
/// documents for unknown paths, body limits and request logs and metrics.
pub fn app(state: AppState) -> Router {
    service::server::app(routes(), state, TITLE, DESCRIPTION, &[])
}
