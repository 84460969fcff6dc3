//! Query strings: form-urlencoded decoding (PHP sends `%2C`, Node sends `,`).

/// Decode `a=1&b=x%2Cy` into pairs; `+` is a space.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

/// One form-urlencoded component: `+` is a space, then percent-decoding.
fn form_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_string();
    }
    decode_bytes(s.as_bytes(), true)
}

/// Percent-decode; invalid escapes are kept as written.
pub fn decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    decode_bytes(s.as_bytes(), false)
}

fn decode_bytes(bytes: &[u8], plus_is_space: bool) -> String {
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
            (b'+', _, _) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
