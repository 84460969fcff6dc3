//! HMAC-SHA256 signatures: channel subscriptions, user sign-in and signed HTTP API
//! requests. Pure: the caller supplies the clock.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::borrow::Cow;

type HmacSha256 = Hmac<Sha256>;

/// Lower-case hex HMAC-SHA256 of `message` with `secret`.
pub fn sign(secret: &str, message: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// Lower-case hex MD5.
pub fn md5_hex(body: &[u8]) -> String {
    hex(&Md5::digest(body))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// `k` in lower case, copied only when it has upper-case letters.
fn lowercase(k: &str) -> Cow<'_, str> {
    match k.bytes().any(|b| b.is_ascii_uppercase()) {
        true => Cow::Owned(k.to_ascii_lowercase()),
        false => Cow::Borrowed(k),
    }
}

/// Equality that takes the same time wherever the first difference is (`subtle`).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// The string a channel subscription signs: `socket_id:channel[:channel_data]`.
pub fn channel_string(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The string a sign-in signs: `socket_id::user::user_data`.
pub fn user_string(socket_id: &str, user_data: &str) -> String {
    format!("{socket_id}::user::{user_data}")
}

/// Check an `auth` token of the form `key:hexsig` against `message`.
pub fn verify_token(key: &str, secret: &str, token: &str, message: &str) -> bool {
    let Some((given_key, sig)) = token.split_once(':') else {
        return false;
    };
    let expected = sign(secret, message);
    // Evaluate both comparisons so timing does not reveal which one failed.
    let key_ok = constant_time_eq(given_key.as_bytes(), key.as_bytes());
    let sig_ok = constant_time_eq(sig.as_bytes(), expected.as_bytes());
    key_ok & sig_ok
}

/// Why a signed HTTP API request was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    #[error("Missing auth_key, auth_timestamp, auth_version or auth_signature query parameter")]
    Missing,
    #[error("Unknown auth_key")]
    UnknownKey,
    #[error("Unsupported auth_version {0:?}: must be 1.0")]
    Version(String),
    #[error(
        "Timestamp expired: Given timestamp ({given}) not within {window}s of server time ({now})"
    )]
    Timestamp {
        given: String,
        now: u64,
        window: u64,
    },
    #[error("Wrong body_md5: expected {expected}, got {given}")]
    BodyMd5 { expected: String, given: String },
    #[error("Invalid signature: you should have sent HmacSHA256Hex({to_sign:?}, your_secret_key), but you sent {given:?}")]
    Signature { to_sign: String, given: String },
}

/// A signed API request, as received.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as signed by the client (any configured prefix already removed).
    pub path: &'a str,
    /// Decoded query parameters, in any order.
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `METHOD\npath\nsorted k=v` with `auth_signature` left out and `body_md5`
    /// taken from the body whenever one is present (or when the client sent it).
    pub fn string_to_sign(&self) -> String {
        self.string_to_sign_with(self.body_md5().as_deref())
    }

    /// The body's MD5, when it is part of the signature: a body is present or
    /// the client sent `body_md5`.
    fn body_md5(&self) -> Option<String> {
        (!self.body.is_empty() || self.param("body_md5").is_some()).then(|| md5_hex(self.body))
    }

    fn string_to_sign_with(&self, md5: Option<&str>) -> String {
        let mut params: Vec<(Cow<str>, &str)> = self
            .query
            .iter()
            .map(|(k, v)| (lowercase(k), v.as_str()))
            .filter(|(k, _)| k != "auth_signature" && k != "body_md5")
            .collect();
        if let Some(md5) = md5 {
            params.push((Cow::Borrowed("body_md5"), md5));
        }
        params.sort();
        let size: usize = params.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
        let mut out = String::with_capacity(self.method.len() + self.path.len() + 2 + size);
        out.push_str(&self.method.to_ascii_uppercase());
        out.push('\n');
        out.push_str(self.path);
        out.push('\n');
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }

    /// Verify key, version, timestamp window, body MD5 and signature.
    pub fn verify(
        &self,
        key: &str,
        secret: &str,
        now: u64,
        window: u64,
    ) -> Result<(), RequestError> {
        let (Some(auth_key), Some(ts), Some(version), Some(given)) = (
            self.param("auth_key"),
            self.param("auth_timestamp"),
            self.param("auth_version"),
            self.param("auth_signature"),
        ) else {
            return Err(RequestError::Missing);
        };
        if auth_key != key {
            return Err(RequestError::UnknownKey);
        }
        if version != "1.0" {
            return Err(RequestError::Version(version.into()));
        }
        let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) <= window);
        if !fresh {
            return Err(RequestError::Timestamp {
                given: ts.into(),
                now,
                window,
            });
        }
        let md5 = self.body_md5();
        if let (Some(sent), Some(expected)) = (self.param("body_md5"), &md5) {
            if sent != expected {
                return Err(RequestError::BodyMd5 {
                    expected: expected.clone(),
                    given: sent.into(),
                });
            }
        }
        let to_sign = self.string_to_sign_with(md5.as_deref());
        if constant_time_eq(sign(secret, &to_sign).as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(RequestError::Signature {
                to_sign,
                given: given.into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    #[test]
    fn pusher_published_channel_vectors() {
        assert_eq!(
            sign(SECRET, "1234.1234:private-foobar"),
            "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let msg = channel_string("1234.1234", "presence-foobar", Some(data));
        assert_eq!(
            sign(SECRET, &msg),
            "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
        assert_eq!(
            sign(SECRET, &user_string("1234.1234", r#"{"id":"12345"}"#)),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn php_sdk_vectors_including_channel_data_on_private() {
        let msg = channel_string(
            "45055.28877557",
            "-azAZ9_=@,.;",
            Some(r#"{"user_id": "123"}"#),
        );
        let token =
            "thisisaauthkey:3b3f1dcc4d7d2f95dd10ed05562397b3287b102d4cccfacbf30eed2f1ffa3d69";
        assert!(verify_token("thisisaauthkey", "thisisasecret", token, &msg));
        assert!(!verify_token("otherkey", "thisisasecret", token, &msg));
        assert!(!verify_token(
            "thisisaauthkey",
            "thisisasecret",
            "nocolon",
            &msg
        ));
        assert!(!verify_token(
            "thisisaauthkey",
            "thisisasecret",
            token,
            "1.1:other"
        ));
    }

    fn doc_request(query: &[(String, String)]) -> SignedRequest<'_> {
        SignedRequest {
            method: "POST",
            path: "/apps/3/events",
            query,
            body: br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#,
        }
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pusher_published_request_vector() {
        let query = q(&[
            ("auth_key", KEY),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
            (
                "auth_signature",
                "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
            ),
        ]);
        let req = doc_request(&query);
        assert_eq!(
            req.string_to_sign(),
            format!("POST\n/apps/3/events\nauth_key={KEY}&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f")
        );
        assert_eq!(req.verify(KEY, SECRET, 1353088179 + 10, 600), Ok(()));
    }

    #[test]
    fn request_failures_say_what_is_wrong() {
        let base = [
            ("auth_key", KEY),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            (
                "auth_signature",
                "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
            ),
        ];
        let query = q(&base);
        let req = doc_request(&query);
        assert!(matches!(
            req.verify(KEY, SECRET, 1353088179 + 601, 600),
            Err(RequestError::Timestamp { .. })
        ));
        assert!(matches!(
            req.verify(KEY, "wrong", 1353088179, 600),
            Err(RequestError::Signature { .. })
        ));
        assert_eq!(
            req.verify("k2", SECRET, 1353088179, 600),
            Err(RequestError::UnknownKey)
        );
        let mut bad_md5 = base.to_vec();
        bad_md5.push(("body_md5", "00"));
        let query = q(&bad_md5);
        assert!(matches!(
            doc_request(&query).verify(KEY, SECRET, 1353088179, 600),
            Err(RequestError::BodyMd5 { .. })
        ));
    }
}
