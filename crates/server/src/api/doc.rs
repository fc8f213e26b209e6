//! What the generated OpenAPI description needs beyond the handlers' annotations: the error
//! answers of every operation, documented once instead of on each handler, and the time-zone
//! names the server accepts.
//!
//! Every error the API sends is an `application/problem+json` document (`error.rs`), and which
//! errors an operation can answer follows from its shape: a signed-in operation can answer 401,
//! one with a path parameter 404 (a lock the caller is not a member of is "not found"), one with
//! a JSON body 400 (malformed JSON, no JSON content type), 413 (too large) and 422 (a field is
//! invalid), one with query or header parameters 400 or 422. `document` adds those answers to
//! the generated description after the routes are collected, and turns the handlers' own
//! `body = m::Problem` answers (403, 409, 429, 503, ...) into `application/problem+json`.

use latchkey_client::model::schemas::TIME_ZONE_COMPONENT;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

use crate::domain::types::TimeZoneName;

const PROBLEM_JSON: &str = "application/problem+json";

/// Completes the description: error answers and the time-zone names.
pub fn document(doc: &mut OpenApi) {
    problems(doc);
    time_zones(doc);
}

/// The `TimeZoneName` component: every IANA name of the time-zone database bundled with the
/// server that `TimeZoneName::parse` accepts. The bundled copy, not the system's, so the
/// description is the same on every machine.
fn time_zones(doc: &mut OpenApi) {
    let bundled = jiff::tz::TimeZoneDatabase::bundled();
    let mut names: Vec<String> = bundled
        .available()
        .map(|n| n.as_str().to_string())
        .filter(|n| TimeZoneName::parse(n).is_ok_and(|tz| tz.as_str() == n))
        .collect();
    names.sort();
    names.dedup();
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("An IANA time-zone name, e.g. `Europe/Berlin`."))
        .enum_values(Some(names))
        .build();
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .insert(TIME_ZONE_COMPONENT.to_string(), schema.into());
}

/// Adds the error answers each operation can give and documents them as problem+json.
fn problems(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ];
        for op in ops.into_iter().flatten() {
            document_operation(path, op);
        }
    }
}

fn document_operation(path: &str, op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_param = |place: ParameterIn| {
        params.iter().any(
            |p| matches!(p, RefOr::T(p) if std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place)),
        )
    };
    let has_body = op.request_body.is_some();
    let has_query = has_param(ParameterIn::Query);
    let has_header = has_param(ParameterIn::Header);
    let signed_in = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_path_param = path.contains('{');

    let mut wanted: Vec<u16> = Vec::new();
    if has_body || has_query || has_path_param {
        wanted.push(400);
    }
    if signed_in {
        wanted.push(401);
    }
    if has_path_param {
        wanted.push(404);
    }
    if has_body {
        wanted.push(413);
    }
    if has_body || has_header {
        wanted.push(422);
    }
    for status in wanted {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(ResponseBuilder::new().build()));
    }

    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        if response.description.is_empty() {
            response.description = describe(status).to_string();
        }
        let error = status.starts_with('4') || status.starts_with('5');
        if !error {
            continue;
        }
        // The handler's own `body = m::Problem` is filed under application/json; every error
        // of the API is problem+json.
        response.content.shift_remove("application/json");
        response.content.insert(
            PROBLEM_JSON.to_string(),
            RefOr::T(
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            ),
        );
    }
}

/// The description of an answer that has none of its own.
fn describe(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "Done; no content",
        "400" => {
            "Malformed request: the body is not JSON, lacks `Content-Type: application/json`, or a parameter cannot be read"
        }
        "401" => "Not signed in, or the session has ended",
        "403" => "Signed in, but not allowed (a member who is not an Admin)",
        "404" => "Not found, or not visible to the caller",
        "409" => "Conflicts with the current state",
        "413" => "The request body is too large",
        "422" => "A field is invalid; `errors` names each one",
        "429" => "Too many attempts; `Retry-After` says when to try again",
        "503" => "A dependency (the lock link) is unavailable",
        "504" => "The lock did not answer in time",
        _ => "See the problem document",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_documents_its_errors_as_problem_json() {
        let doc: serde_json::Value = serde_json::from_str(&super::super::openapi_json()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    assert!(
                        r["description"].as_str().is_some_and(|d| !d.is_empty()),
                        "{method} {path} {status} has no description"
                    );
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r["content"].get("application/problem+json").is_some()
                                && r["content"].get("application/json").is_none(),
                            "{method} {path} {status} is not problem+json"
                        );
                    }
                }
                if op.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
                if path.contains('{') {
                    assert!(responses.contains_key("404"), "{method} {path} lacks 404");
                }
                if op.get("requestBody").is_some() {
                    for s in ["400", "413", "422"] {
                        assert!(responses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod time_zone_tests {
    #[test]
    fn the_time_zone_names_are_the_ones_the_server_takes() {
        let doc: serde_json::Value = serde_json::from_str(&super::super::openapi_json()).unwrap();
        let names = doc["components"]["schemas"]["TimeZoneName"]["enum"].as_array().unwrap();
        assert!(names.len() > 300, "{} names", names.len());
        for want in ["Europe/Berlin", "America/New_York", "UTC", "Etc/GMT+5"] {
            assert!(names.iter().any(|n| n == want), "{want} missing");
        }
        for n in names {
            crate::domain::types::TimeZoneName::parse(n.as_str().unwrap()).unwrap();
        }
    }
}
