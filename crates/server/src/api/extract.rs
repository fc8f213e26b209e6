//! Request extractors that answer in problem+json when they refuse.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::app::AppState;
use crate::domain::{Caller, Error};

/// A JSON body. Malformed JSON is 400; JSON of the wrong shape is 422 naming the field; a body
/// over the limit is 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Read the body once (the size limit applies), then let axum check the content type
        // and parse it.
        let headers = req.headers().clone();
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| json_rejection(JsonRejection::BytesRejection(r)))?;
        // No body of the API is an array; serde would take a struct written as one.
        let array = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
        let mut again = Request::new(axum::body::Body::from(bytes));
        *again.headers_mut() = headers;
        match axum::Json::<T>::from_request(again, state).await {
            Ok(axum::Json(_)) if array => {
                Err(ApiError(Error::invalid("body", "must be a JSON object")).into_response())
            }
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: no body at all (or an empty one) is `None`; anything else must parse.
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let empty = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0")
            || (!req.headers().contains_key(header::CONTENT_TYPE)
                && !req.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(req, state).await.map(Some)
    }
}

fn json_rejection(r: JsonRejection) -> Response {
    let text = r.body_text();
    let err = match &r {
        JsonRejection::JsonDataError(_) => {
            // serde's message names the field: "missing field `phone`" or
            // "phone: invalid type ...".
            let field = field_of(&text);
            Error::invalid(&field, clean(&text))
        }
        JsonRejection::MissingJsonContentType(_) => {
            Error::BadRequest("send a JSON body with Content-Type: application/json".into())
        }
        JsonRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let mut resp = ApiError(Error::BadRequest("the request body is too large".into())).into_response();
            *resp.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            // The problem document's `status` must match the HTTP status (RFC 9457).
            let mut problem = super::error::problem_of(&Error::BadRequest("the request body is too large".into()));
            problem.status = StatusCode::PAYLOAD_TOO_LARGE.as_u16();
            problem.type_ = "https://latchkey.dev/problems/payload-too-large".into();
            problem.title = "Request body too large".into();
            *resp.body_mut() = axum::body::Body::from(serde_json::to_vec(&problem).unwrap_or_default());
            return resp;
        }
        _ => Error::BadRequest(format!("malformed JSON: {}", clean(&text))),
    };
    ApiError(err).into_response()
}

/// Extracts the field a serde error is about.
fn field_of(text: &str) -> String {
    if let Some(i) = text.find("field `") {
        let rest = &text[i + 7..];
        if let Some(j) = rest.find('`') {
            return rest[..j].to_string();
        }
    }
    // "Failed to deserialize the JSON body into the target type: phone: invalid type ..."
    let tail = text.rsplit("target type: ").next().unwrap_or(text);
    match tail.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_string(),
        _ => "body".to_string(),
    }
}

fn clean(text: &str) -> String {
    text.trim_start_matches("Failed to deserialize the JSON body into the target type: ")
        .trim_start_matches("Failed to parse the request body as JSON: ")
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect()
}

/// Query parameters, refused with 400.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(r @ QueryRejection::FailedToDeserializeQueryString(_)) => {
                Err(ApiError(Error::BadRequest(clean(&r.body_text()))).into_response())
            }
            Err(r) => Err(ApiError(Error::BadRequest(clean(&r.body_text()))).into_response()),
        }
    }
}

/// The session token of an API request: `Authorization: Bearer` only. The web app's cookie
/// does not authenticate the API, so a page on another site cannot make a browser call the API
/// with it (a `text/plain` POST needs no preflight); the web app's forms have their own CSRF
/// and Origin checks.
pub fn session_token(parts: &Parts) -> Option<String> {
    let v = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    let t = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

/// A cookie's value (the one parser of the `Cookie` header, for the API and the web app).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A signed-in caller; 401 otherwise.
pub struct Auth(pub Caller);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_token(parts).ok_or(ApiError(Error::Unauthenticated))?;
        let caller = state.domain.authenticate(&token, state.now()).await?;
        Ok(Auth(caller))
    }
}

/// The bearer token as sent, not checked yet: for a handler that checks the session in the
/// same query as its work (`Domain::members_for_token`). 401 when there is none.
pub struct Bearer(pub String);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Bearer(session_token(parts).ok_or(ApiError(Error::Unauthenticated))?))
    }
}

/// The client's address for rate limits: the peer, or the first `X-Forwarded-For` entry when
/// the operator says a trusted proxy sits in front.
pub struct ClientAddr(pub String);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for
            && let Some(first) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return Ok(ClientAddr(first.to_string()));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientAddr(peer.unwrap_or_else(|| "unknown".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn extract(body: &str) -> Result<latchkey_client::model::PatchMe, StatusCode> {
        let req = Request::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        match ApiJson::<latchkey_client::model::PatchMe>::from_request(req, &()).await {
            Ok(ApiJson(v)) => Ok(v),
            Err(resp) => Err(resp.status()),
        }
    }

    #[tokio::test]
    async fn bodies_are_objects_never_arrays() {
        assert_eq!(extract(r#"{"name": "Ana"}"#).await.unwrap().name, "Ana");
        assert_eq!(
            extract(r#" ["Ana"]"#).await.unwrap_err(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(extract("{").await.unwrap_err(), StatusCode::BAD_REQUEST);
        assert_eq!(extract("{}").await.unwrap_err(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn serde_messages_name_their_field() {
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: missing field `phone` at line 1 column 2"
            ),
            "phone"
        );
        assert_eq!(
            field_of(
                "Failed to deserialize the JSON body into the target type: one_time: invalid type: string \"x\", expected a boolean at line 1 column 20"
            ),
            "one_time"
        );
        assert_eq!(field_of("something else entirely"), "body");
    }
}
