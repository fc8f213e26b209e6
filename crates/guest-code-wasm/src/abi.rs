//! The C ABI that `web/guest-code.mjs` calls: one input buffer and one output buffer in linear
//! memory, UTF-8 JSON both ways.
//!
//! A call goes:
//! 1. `lk_input(len)` sizes the input buffer and returns its address; the caller writes `len`
//!    bytes of UTF-8 there (the address is good until the next `lk_input`);
//! 2. `lk_parse_issuer()`, `lk_mint()`, `lk_check()` or `lk_issuer_file()` reads it and returns
//!    0 (the output is the answer) or 1 (the output is a [`Failure`]);
//! 3. `lk_output_ptr()` and `lk_output_len()` locate the output, JSON text, good until the next
//!    call.
//!
//! Calls never panic on any input (a panic would trap the instance: `panic = "abort"` in the
//! `wasm` profile); malformed requests are `bad-request` failures. The module is
//! single-threaded, like the page that uses it.

use std::cell::RefCell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Failure, check_code, fail, issuer_file_from_secret, mint_code, parse_issuer};

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Sizes the input buffer to `len` zero bytes and returns its address.
#[unsafe(no_mangle)]
pub extern "C" fn lk_input(len: usize) -> *mut u8 {
    INPUT.with_borrow_mut(|b| {
        // A big request does not keep its memory for every later call.
        *b = vec![0; len];
        b.as_mut_ptr()
    })
}

/// The address of the last answer.
#[unsafe(no_mangle)]
pub extern "C" fn lk_output_ptr() -> *const u8 {
    OUTPUT.with_borrow(|b| b.as_ptr())
}

/// The length in bytes of the last answer.
#[unsafe(no_mangle)]
pub extern "C" fn lk_output_len() -> usize {
    OUTPUT.with_borrow(Vec::len)
}

/// Input: an issuer file's text. Answer: [`crate::IssuerInfo`].
#[unsafe(no_mangle)]
pub extern "C" fn lk_parse_issuer() -> u32 {
    answer(with_text(parse_issuer))
}

/// Input: a [`crate::MintRequest`]. Answer: [`crate::Minted`].
#[unsafe(no_mangle)]
pub extern "C" fn lk_mint() -> u32 {
    answer(with_request(mint_code))
}

/// Input: a [`crate::CheckRequest`]. Answer: [`crate::Verdict`].
#[unsafe(no_mangle)]
pub extern "C" fn lk_check() -> u32 {
    answer(with_request(check_code))
}

/// Input: a [`crate::IssuerFileRequest`]. Answer: the issuer file's text, as a JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn lk_issuer_file() -> u32 {
    answer(with_request(issuer_file_from_secret))
}

/// Runs `f` on the input as text.
fn with_text<T>(f: impl FnOnce(&str) -> Result<T, Failure>) -> Result<T, Failure> {
    let input = INPUT.take();
    match std::str::from_utf8(&input) {
        Ok(text) => f(text),
        Err(_) => Err(fail("bad-request", "the request is not UTF-8")),
    }
}

/// Runs `f` on the input read as a JSON request.
fn with_request<R: DeserializeOwned, T>(f: impl FnOnce(&R) -> Result<T, Failure>) -> Result<T, Failure> {
    with_text(|text| {
        let req: R = serde_json::from_str(text).map_err(|e| fail("bad-request", format!("bad request: {e}")))?;
        f(&req)
    })
}

/// Writes the answer or the failure to the output buffer; returns the status.
fn answer<T: Serialize>(result: Result<T, Failure>) -> u32 {
    let (status, json) = match &result {
        Ok(value) => (0, serde_json::to_vec(value)),
        Err(failure) => (1, serde_json::to_vec(failure)),
    };
    match json {
        Ok(json) => {
            OUTPUT.set(json);
            status
        }
        // Serialising these plain structures cannot fail; if it ever did, say so.
        Err(_) => {
            OUTPUT.set(br#"{"kind":"bad-request","message":"the answer could not be written"}"#.to_vec());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the JavaScript side does, natively: write the input, call, read the output.
    fn call(f: extern "C" fn() -> u32, input: &[u8]) -> (u32, serde_json::Value) {
        let p = lk_input(input.len());
        INPUT.with_borrow_mut(|b| {
            assert_eq!(b.as_mut_ptr(), p);
            b.copy_from_slice(input);
        });
        let status = f();
        let out = OUTPUT.with_borrow(|b| {
            assert_eq!((b.as_ptr(), b.len()), (lk_output_ptr(), lk_output_len()));
            b.clone()
        });
        (status, serde_json::from_slice(&out).expect("the output is JSON"))
    }

    #[test]
    fn answers_and_failures_are_json() {
        let issuer = r#"{"format":"latchkey-issuer/1","issuer_id":"a","lock_id":"door","slot":1,"epoch":1,
            "key":"19f508bacf5d55600ae29beae7fdaa0f14edd493086ee1ff80816cfaba58d8ad"}"#;
        let (status, v) = call(lk_parse_issuer, issuer.as_bytes());
        assert_eq!(status, 0);
        assert_eq!(
            v,
            serde_json::json!({"issuerId":"a","lockId":"door","slot":1,"epoch":1})
        );

        let mint = serde_json::json!({"issuer": issuer, "start": 3600, "end": 7200, "now": 0}).to_string();
        let (status, v) = call(lk_mint, mint.as_bytes());
        assert_eq!(status, 0, "{v}");
        assert_eq!(v["code"].as_str().map(str::len), Some(12));
        assert_eq!(v["widened"], "none");

        for (f, input, kind) in [
            (
                lk_parse_issuer as extern "C" fn() -> u32,
                &b"\xff\xfe"[..],
                "bad-request",
            ),
            (lk_parse_issuer, b"", "issuer-file"),
            (lk_mint, b"{\"issuer\":1}", "bad-request"),
            (
                lk_mint,
                b"{\"issuer\":\"\",\"start\":0,\"end\":1,\"now\":0,\"extra\":1}",
                "bad-request",
            ),
            (lk_check, b"[]", "bad-request"),
            (
                lk_issuer_file,
                b"{\"secret\":\"\",\"slot\":1,\"issuerId\":\"a\"}",
                "secret-file",
            ),
        ] {
            let (status, v) = call(f, input);
            assert_eq!((status, v["kind"].as_str()), (1, Some(kind)), "{v}");
            assert!(
                v["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty() && !m.contains('\n')),
                "{v}"
            );
        }
    }
}
