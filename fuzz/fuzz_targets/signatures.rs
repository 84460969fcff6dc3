//! Signature checks on arbitrary input: channel/sign-in tokens
//! (`auth::verify_token`) and signed HTTP API requests (`SignedRequest::verify`,
//! with the query string decoded by `api::parse_query`).
//!
//! Input: lines `key`, `secret`, `token`, `message`, `method`, `path`, `query`,
//! `now`, `window`, then the body (the rest, may contain newlines).
//! Checked: no panic; a token is accepted only if it is exactly
//! `key:HMAC(secret, message)`; a request is accepted only if its signature is
//! HMAC(secret, the string to sign) as Pusher documents it (written out again
//! here), for the right key, within the window, with the body's MD5; a request
//! signed correctly is accepted and stops being accepted when its body, method,
//! path or signature is changed.
#![no_main]

use herald::api::parse_query;
use herald::auth::{self, SignedRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.splitn(10, '\n');
    let mut next = || lines.next().unwrap_or("");
    let (key, secret, token, message) = (next(), next(), next(), next());
    let (method, path, query) = (next(), next(), next());
    let now = next().trim().parse::<u64>().unwrap_or(1_353_088_179);
    let window = next().trim().parse::<u64>().unwrap_or(600);
    let body = next().as_bytes();

    tokens(key, secret, token, message);
    let query = parse_query(query);
    let req = SignedRequest {
        method,
        path,
        query: &query,
        body,
    };
    if req.verify(key, secret, now, window).is_ok() {
        must_be_signed(&req, key, secret, now, window);
    }
    signed_correctly(method, path, &query, body, key, secret, now, window);
});

fn tokens(key: &str, secret: &str, token: &str, message: &str) {
    let expected = format!("{key}:{}", auth::sign(secret, message));
    if auth::verify_token(key, secret, token, message) {
        assert_eq!(token, expected, "accepted a token that is not key:HMAC");
    }
    // A key with a colon can never match (the token is split at its first colon).
    if !key.contains(':') {
        assert!(auth::verify_token(key, secret, &expected, message));
        let tampered = format!("{expected}0");
        assert!(!auth::verify_token(key, secret, &tampered, message));
    }
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    found.map(|(_, v)| v.as_str())
}

/// Pusher's string to sign, written out again: METHOD, path, then the query
/// with lower-cased keys sorted, `auth_signature` left out and `body_md5` the
/// body's MD5 when there is a body or the client sent one.
fn reference_string(method: &str, path: &str, query: &[(String, String)], body: &[u8]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .filter(|(k, _)| k != "auth_signature" && k != "body_md5")
        .collect();
    if !body.is_empty() || param(query, "body_md5").is_some() {
        pairs.push(("body_md5".into(), auth::md5_hex(body)));
    }
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}\n{path}\n{}",
        method.to_ascii_uppercase(),
        joined.join("&")
    )
}

fn must_be_signed(req: &SignedRequest, key: &str, secret: &str, now: u64, window: u64) {
    let q = req.query;
    assert_eq!(param(q, "auth_key"), Some(key));
    assert_eq!(param(q, "auth_version"), Some("1.0"));
    let ts: u64 = param(q, "auth_timestamp").unwrap().parse().unwrap();
    assert!(
        ts.abs_diff(now) <= window,
        "timestamp {ts} outside {window}s of {now}"
    );
    if let Some(md5) = param(q, "body_md5") {
        assert_eq!(md5, auth::md5_hex(req.body), "accepted a wrong body_md5");
    }
    let expected = auth::sign(secret, &reference_string(req.method, req.path, q, req.body));
    assert_eq!(
        param(q, "auth_signature"),
        Some(expected.as_str()),
        "accepted a wrong signature"
    );
}

#[allow(clippy::too_many_arguments)]
fn signed_correctly(
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
    key: &str,
    secret: &str,
    now: u64,
    window: u64,
) {
    let auth_names = [
        "auth_key",
        "auth_timestamp",
        "auth_version",
        "auth_signature",
        "body_md5",
    ];
    let mut q: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !auth_names.iter().any(|n| k.eq_ignore_ascii_case(n)))
        .cloned()
        .collect();
    q.push(("auth_key".into(), key.into()));
    q.push(("auth_timestamp".into(), now.to_string()));
    q.push(("auth_version".into(), "1.0".into()));
    if body.len() % 2 == 1 {
        q.push(("body_md5".into(), auth::md5_hex(body)));
    }
    let signature = auth::sign(secret, &reference_string(method, path, &q, body));
    let mut signed = q.clone();
    signed.push(("auth_signature".into(), signature.clone()));
    let req = SignedRequest {
        method,
        path,
        query: &signed,
        body,
    };
    assert_eq!(
        req.verify(key, secret, now, window),
        Ok(()),
        "refused a correct signature"
    );

    let mut other_body = body.to_vec();
    match other_body.first_mut() {
        Some(b) => *b ^= 1,
        None => other_body.push(b'x'),
    }
    let tampered = SignedRequest {
        body: &other_body,
        ..req
    };
    assert!(
        tampered.verify(key, secret, now, window).is_err(),
        "accepted a changed body"
    );
    let other_path = format!("{path}x");
    let tampered = SignedRequest {
        path: &other_path,
        ..req
    };
    assert!(
        tampered.verify(key, secret, now, window).is_err(),
        "accepted a changed path"
    );
    let other_method = if method.eq_ignore_ascii_case("POST") {
        "GET"
    } else {
        "POST"
    };
    let tampered = SignedRequest {
        method: other_method,
        ..req
    };
    assert!(
        tampered.verify(key, secret, now, window).is_err(),
        "accepted a changed method"
    );
    let mut wrong = q;
    wrong.push(("auth_signature".into(), format!("{signature}0")));
    let tampered = SignedRequest {
        query: &wrong,
        ..req
    };
    assert!(
        tampered.verify(key, secret, now, window).is_err(),
        "accepted a wrong signature"
    );
}
