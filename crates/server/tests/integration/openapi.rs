//! The OpenAPI description is generated from the handlers; `docs/openapi.json` is the committed
//! copy reviewers and client authors read. This test fails when they differ (regenerate with
//! `LK_UPDATE_OPENAPI=1 cargo nextest run -p latchkey-server -E "test(openapi::)"`) and when a path of
//! the public contract is missing.

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");

/// Every path of the public contract (`api.md`), relative to `/api/v1`.
const CONTRACT: &[(&str, &str)] = &[
    ("post", "/auth/otp"),
    ("post", "/auth/session"),
    ("delete", "/auth/session"),
    ("get", "/me"),
    ("patch", "/me"),
    ("post", "/locks"),
    ("get", "/locks"),
    ("get", "/locks/{lock_id}"),
    ("patch", "/locks/{lock_id}"),
    ("delete", "/locks/{lock_id}"),
    ("get", "/locks/{lock_id}/members"),
    ("patch", "/locks/{lock_id}/members/{account_id}"),
    ("delete", "/locks/{lock_id}/members/{account_id}"),
    ("put", "/locks/{lock_id}/members/{account_id}/pin"),
    ("post", "/locks/{lock_id}/invitations"),
    ("get", "/locks/{lock_id}/invitations"),
    ("delete", "/locks/{lock_id}/invitations/{id}"),
    ("get", "/invitations"),
    ("post", "/invitations/{id}/accept"),
    ("post", "/invitations/{id}/decline"),
    ("post", "/locks/{lock_id}/guest-keys"),
    ("get", "/locks/{lock_id}/guest-keys"),
    ("get", "/locks/{lock_id}/guest-keys/{id}"),
    ("delete", "/locks/{lock_id}/guest-keys/{id}"),
    ("post", "/locks/{lock_id}/issuers"),
    ("delete", "/locks/{lock_id}/issuers/{issuer_id}"),
    ("post", "/locks/{lock_id}/unlock"),
    ("get", "/locks/{lock_id}/events"),
    ("get", "/openapi.json"),
];

fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn the_description_names_every_contract_path_with_its_method() {
    let doc: serde_json::Value = serde_json::from_str(&latchkey_server::api::openapi_json()).unwrap();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in CONTRACT {
        let want = normalise(&format!("/api/v1{path}"));
        let item = paths
            .iter()
            .find(|(p, _)| normalise(p) == want)
            .unwrap_or_else(|| panic!("OpenAPI lacks {path}"));
        assert!(
            item.1.get(*method).is_some(),
            "OpenAPI lacks {} {path}",
            method.to_uppercase()
        );
    }
}

#[test]
fn the_committed_description_matches_the_code() {
    let generated = latchkey_server::api::openapi_json();
    if std::env::var("LK_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: regenerate it with \
         LK_UPDATE_OPENAPI=1 cargo nextest run -p latchkey-server -E \"test(openapi::)\""
    );
}
