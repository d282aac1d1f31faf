//! The OpenAPI document of a service, generated from its handlers (utoipa): every route, body
//! and problem type, and the bearer-token security scheme.

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, ServerBuilder};
use utoipa::{Modify, OpenApi as _};

use crate::problem::{FieldError, Problem, ProblemType};

/// The name of the bearer security scheme, for `security(("bearer" = []))` on a path.
pub const BEARER: &str = "bearer";

/// What every document starts from: the security scheme and the problem schemas.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(Problem, FieldError, ProblemType)),
    modifiers(&Security),
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant's token with scopes (render, scan, results, admin), made by \
                         `grader token create`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Completes a service's generated document: title, version, description, the security
/// scheme and the problem schemas.
pub fn finish(mut doc: OpenApi, title: &str, description: &str) -> OpenApi {
    doc.merge(Base::openapi());
    doc.info.title = title.to_string();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.info.description = Some(description.to_string());
    doc.servers = Some(vec![ServerBuilder::new().url("/").build()]);
    doc
}

/// `GET /openapi.json`.
pub fn route(doc: OpenApi) -> Router {
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = std::sync::Arc::clone(&doc);
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
