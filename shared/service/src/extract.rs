//! axum's `Path` and `Query` extractors with problem documents as their rejections, so that a
//! malformed id or query parameter is answered like every other refusal, not in plain text.

use axum::extract::FromRequestParts;

use crate::problem::Problem;

/// Path parameters; a segment that does not parse (e.g. an id past `i64`) is a 400 problem.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Path<T>(pub T);

/// Query parameters; one that does not parse is a 400 problem.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Query<T>(pub T);
