//! Query strings: form-urlencoded decoding (PHP sends `%2C`, Node sends `,`).

/// Decode `a=1&b=x%2Cy` into pairs; `+` is a space (`form_urlencoded`).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Percent-decode a path segment (`+` stays a plus); invalid escapes are kept
/// as written, invalid UTF-8 becomes U+FFFD.
pub(crate) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_and_node_encodings_decode_alike() {
        let php = parse_query("info=user_count%2Csubscription_count&auth_key=k");
        let node = parse_query("info=user_count,subscription_count&auth_key=k");
        assert_eq!(php, node);
        assert_eq!(
            parse_query("a=x+y&b"),
            vec![("a".into(), "x y".into()), ("b".into(), "".into())]
        );
        assert_eq!(decode("100%"), "100%");
        assert_eq!(parse_query("a=%2B+%2b"), vec![("a".into(), "+ +".into())]);
        assert_eq!(decode("a+b"), "a+b");
        assert_eq!(decode("%E2%82%AC"), "€");
    }
}
