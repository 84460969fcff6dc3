//! Query strings: form-urlencoded decoding (PHP sends `%2C`, Node sends `,`).

/// Decode `a=1&b=x%2Cy` into pairs; `+` is a space.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Percent-decode; invalid escapes are kept as written.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        assert_eq!(decode("%E2%82%AC"), "€");
    }
}
