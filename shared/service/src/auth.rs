//! Bearer tokens: who is calling (a tenant), and what they may do (scopes).
//!
//! Tokens live hashed in the database both services share, so a token made by
//! `grader token create` works on either. A handler takes a [`Caller`] and asks it for the scope
//! its route needs; resources are then looked up under the caller's tenant only, so another
//! tenant's resource is "not found", exactly like a missing one.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use store::{Grant, Scope, Store, TenantId};

use crate::problem::{Problem, ProblemType};

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    grant: Grant,
}

impl Caller {
    /// The tenant every lookup of this request is scoped to.
    pub fn tenant(&self) -> &TenantId {
        &self.grant.tenant
    }

    /// Refuses (403) unless the token has `scope` (or `admin`).
    pub fn require(&self, scope: Scope) -> Result<&TenantId, Problem> {
        if self.grant.allows(scope) {
            Ok(&self.grant.tenant)
        } else {
            Err(Problem::new(
                ProblemType::Forbidden,
                format!(
                    "this route needs a token with the \"{scope}\" scope; create one with \
                     `grader token create --tenant T --scope {scope}`"
                ),
            ))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    Store: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let store = Store::from_ref(state);
        match store.verify_token(token).await? {
            Some(grant) => {
                tracing::Span::current().record("tenant", grant.tenant.as_str());
                Ok(Caller { grant })
            }
            None => Err(Problem::new(
                ProblemType::Unauthorized,
                "the bearer token is unknown or revoked",
            )),
        }
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer_token(parts: &Parts) -> Result<&str, Problem> {
    let missing = || {
        Problem::new(
            ProblemType::Unauthorized,
            "send a token as `Authorization: Bearer <token>`",
        )
    };
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let value = value.to_str().map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(header: Option<&str>) -> Parts {
        let mut builder = Request::builder().uri("/v1/scans");
        if let Some(h) = header {
            builder = builder.header(AUTHORIZATION, h);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn reads_a_bearer_token_in_any_case() {
        assert_eq!(bearer_token(&parts(Some("Bearer abc"))).unwrap(), "abc");
        assert_eq!(bearer_token(&parts(Some("bearer  abc "))).unwrap(), "abc");
    }

    #[test]
    fn refuses_other_schemes_and_empty_tokens() {
        for h in [None, Some("Basic abc"), Some("Bearer "), Some("Bearer")] {
            let p = bearer_token(&parts(h)).unwrap_err();
            assert_eq!(p.status, 401, "{h:?}");
        }
    }
}
