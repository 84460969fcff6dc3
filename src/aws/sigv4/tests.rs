//! AWS's published SigV4 test vectors (aws-sig-v4-test-suite, as shipped in
//! awslabs/aws-c-auth tests/aws-signing-test-suite/v4): the header-signing
//! canonical request, string to sign and signature for each request.

use super::*;
use std::time::Duration;

/// 2015-08-30T12:36:00Z, the suite's timestamp.
fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn suite_credentials(token: Option<&str>) -> Credentials {
    Credentials {
        access_key: "AKIDEXAMPLE".into(),
        secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        token: token.map(str::to_string),
    }
}

struct Case<'a> {
    method: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    token: Option<&'a str>,
    canonical: &'a str,
    string_to_sign: &'a str,
    signature: &'a str,
}

fn check(case: &Case<'_>) {
    let credentials = suite_credentials(case.token);
    let scope = Scope {
        credentials: &credentials,
        region: "us-east-1",
        service: "service",
    };
    let mut headers = vec![("Host".to_string(), "example.amazonaws.com".to_string())];
    headers.extend(
        case.headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let req = Request {
        method: case.method,
        path: "/",
        query: case.query,
        headers: &headers,
        body: case.body,
    };
    let signed = sign(&scope, &req, suite_time());
    assert_eq!(signed.canonical_request, case.canonical);
    assert_eq!(signed.string_to_sign, case.string_to_sign);
    let auth = &signed.headers.last().unwrap().1;
    assert!(
        auth.ends_with(&format!("Signature={}", case.signature)),
        "{auth}"
    );
    assert!(auth.starts_with(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="
    ));
    assert_eq!(
        signed.headers[0],
        ("x-amz-date".into(), "20150830T123600Z".into())
    );
}

const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn get_vanilla() {
    check(&Case {
        method: "GET",
        query: "",
        headers: &[],
        body: b"",
        token: None,
        canonical: &format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_HASH}"),
        string_to_sign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
        signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    });
}

#[test]
fn get_vanilla_query_order_key_case() {
    check(&Case {
        method: "GET",
        query: "Param2=value2&Param1=value1",
        headers: &[],
        body: b"",
        token: None,
        canonical: &format!("GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_HASH}"),
        string_to_sign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    });
}

#[test]
fn post_vanilla() {
    check(&Case {
        method: "POST",
        query: "",
        headers: &[],
        body: b"",
        token: None,
        canonical: &format!("POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{EMPTY_HASH}"),
        string_to_sign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    });
}

#[test]
fn post_x_www_form_urlencoded() {
    let body_hash = "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e";
    check(&Case {
        method: "POST",
        query: "",
        headers: &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "13"),
            ("x-amz-content-sha256", body_hash),
        ],
        body: b"Param1=value1",
        token: None,
        canonical: &format!("POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-content-sha256:{body_hash}\nx-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n{body_hash}"),
        string_to_sign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nb1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
        signature: "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    });
}

#[test]
fn get_vanilla_with_session_token() {
    let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
    check(&Case {
        method: "GET",
        query: "",
        headers: &[],
        body: b"",
        token: Some(token),
        canonical: &format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:{token}\n\nhost;x-amz-date;x-amz-security-token\n{EMPTY_HASH}"),
        string_to_sign: "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
        signature: "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
    });
}

#[test]
fn dates_are_utc_calendar_days() {
    assert_eq!(amz_date(suite_time()), "20150830T123600Z");
    assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
    // 2000-02-29 (a leap day) and 2024-12-31T23:59:59.
    assert_eq!(
        amz_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
        "20000229T000000Z"
    );
    assert_eq!(
        amz_date(UNIX_EPOCH + Duration::from_secs(1_735_689_599)),
        "20241231T235959Z"
    );
}
