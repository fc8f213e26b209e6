//! The one mapping from domain errors to HTTP: `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_client::model::{FieldError, Problem};

use crate::domain::Error;

/// A domain error on its way out as an HTTP answer.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

/// The status of each error kind.
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The problem document of an error.
pub fn problem_of(e: &Error) -> Problem {
    let status = status_of(e);
    let (slug, title) = match e {
        Error::Unauthenticated => ("unauthenticated", "Sign in first"),
        Error::NotFound(_) => ("not-found", "Not found"),
        Error::Forbidden(_) => ("forbidden", "Not allowed"),
        Error::Conflict(_) => ("conflict", "Conflicts with the current state"),
        Error::Invalid(_) => ("invalid", "Invalid input"),
        Error::BadRequest(_) => ("bad-request", "Malformed request"),
        Error::RateLimited { .. } => ("rate-limited", "Too many attempts"),
        Error::Unavailable(_) => ("unavailable", "A dependency is unavailable"),
        Error::Timeout(_) => ("timeout", "The lock did not answer in time"),
        Error::Internal(_) => ("internal", "Internal error"),
    };
    let detail = match e {
        Error::Unauthenticated => "sign in first; a sign-in code is wrong, used or expired".to_string(),
        Error::Invalid(fields) => fields
            .0
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        // Internal details go to the log, not to the client.
        Error::Internal(_) => "something went wrong on our side; it has been logged".to_string(),
        other => other.to_string(),
    };
    let errors = match e {
        Error::Invalid(fields) => fields
            .0
            .iter()
            .map(|f| FieldError {
                field: f.field.clone(),
                message: f.message.clone(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Problem {
        type_: format!("https://latchkey.dev/problems/{slug}"),
        title: title.into(),
        status: status.as_u16(),
        detail,
        errors,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Error::Internal(detail) = &self.0 {
            // Logged once, here, where it becomes a response.
            tracing::error!(%detail, "internal error");
        }
        let status = status_of(&self.0);
        let body = serde_json::to_vec(&problem_of(&self.0)).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Error::RateLimited { retry_after } = &self.0
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldErrors;

    #[test]
    fn every_error_kind_has_its_status() {
        let cases = [
            (Error::Unauthenticated, 401),
            (Error::NotFound("lock"), 404),
            (Error::Forbidden("x".into()), 403),
            (Error::Conflict("x".into()), 409),
            (Error::Invalid(FieldErrors::default()), 422),
            (Error::BadRequest("x".into()), 400),
            (Error::RateLimited { retry_after: 3 }, 429),
            (Error::Unavailable("x".into()), 503),
            (Error::Timeout("x".into()), 504),
            (Error::Internal("x".into()), 500),
        ];
        for (e, want) in cases {
            assert_eq!(status_of(&e).as_u16(), want, "{e:?}");
            assert_eq!(problem_of(&e).status, want);
        }
    }

    #[test]
    fn validation_problems_name_fields_and_rate_limits_say_when() {
        let resp = ApiError(Error::invalid("phone", "not a phone number")).into_response();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/problem+json");
        let p = problem_of(&Error::invalid("phone", "not a phone number"));
        assert_eq!(
            p.errors,
            vec![FieldError {
                field: "phone".into(),
                message: "not a phone number".into()
            }]
        );
        let resp = ApiError(Error::RateLimited { retry_after: 42 }).into_response();
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        let p = problem_of(&Error::Internal("secret detail".into()));
        assert!(!p.detail.contains("secret"));
    }
}
