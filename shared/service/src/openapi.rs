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

/// A JSON Schema (draft 2020-12, as schemars writes it) published as a component of the
/// document, in place of the component of the same name that utoipa generated. For bodies whose
/// shape lives in the model (the exam file), so that the document and `render-service schema`
/// cannot disagree.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    /// The component's name (a placeholder type of this name is used in the handlers).
    pub name: &'static str,
    /// The schema, with its definitions under `$defs`.
    pub schema: serde_json::Value,
}

/// The document as served: `doc` with `schemas` spliced into its components. Each schema's
/// `$defs` become components named `{name}.{definition}`, and its references follow them.
pub fn document(doc: &OpenApi, schemas: &[JsonSchema]) -> serde_json::Value {
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    for JsonSchema { name, schema } in schemas {
        let mut schema = schema.clone();
        let defs = schema
            .as_object_mut()
            .and_then(|o| {
                o.remove("$schema");
                o.remove("$defs")
            })
            .and_then(|d| match d {
                serde_json::Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default();
        let Some(components) = value
            .pointer_mut("/components/schemas")
            .and_then(|c| c.as_object_mut())
        else {
            continue;
        };
        for (def, mut body) in defs {
            rewrite_refs(&mut body, name);
            components.insert(format!("{name}.{def}"), body);
        }
        rewrite_refs(&mut schema, name);
        components.insert((*name).to_string(), schema);
    }
    value
}

fn rewrite_refs(value: &mut serde_json::Value, name: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match v {
                    serde_json::Value::String(r) if key == "$ref" => {
                        if let Some(def) = r.strip_prefix("#/$defs/") {
                            *r = format!("#/components/schemas/{name}.{def}");
                        }
                    }
                    other => rewrite_refs(other, name),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for v in items {
                rewrite_refs(v, name);
            }
        }
        _ => {}
    }
}

/// `GET /openapi.json`: the document made by [`document`].
pub fn route(doc: serde_json::Value) -> Router {
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = std::sync::Arc::clone(&doc);
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spliced_schema_definitions_become_components_and_refs_follow() {
        let doc = finish(OpenApi::default(), "t", "d");
        let schema = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"q": {"type": "array", "items": {"$ref": "#/$defs/Question"}}},
            "$defs": {"Question": {"type": "object", "properties": {
                "next": {"$ref": "#/$defs/Question"}}}}
        });
        let value = document(
            &doc,
            &[JsonSchema {
                name: "ExamFile",
                schema,
            }],
        );
        let schemas = &value["components"]["schemas"];
        assert_eq!(
            schemas["ExamFile"]["properties"]["q"]["items"]["$ref"],
            "#/components/schemas/ExamFile.Question"
        );
        assert_eq!(
            schemas["ExamFile.Question"]["properties"]["next"]["$ref"],
            "#/components/schemas/ExamFile.Question"
        );
        assert!(schemas["ExamFile"].get("$schema").is_none());
        assert!(schemas.get("Problem").is_some());
    }
}
