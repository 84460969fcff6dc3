//! Per-app allowed origins (`allowed_origins = ["*.example.com"]`): the host of a
//! WebSocket upgrade's `Origin` header must match one of the globs.

/// Whether `origin` (an `Origin` header value) may connect. No header means a
/// server-side client and is allowed; so is an empty pattern list.
pub fn allowed(patterns: &[String], origin: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if patterns.is_empty() {
        return true;
    }
    let host = host(origin);
    patterns
        .iter()
        .any(|p| glob(&p.to_ascii_lowercase(), &host))
}

/// The lowercase host of a URL such as `https://user@App.test:8080/path`.
fn host(origin: &str) -> String {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host.to_ascii_lowercase()
}

/// `*` matches any run of characters (including none); everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, inner)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in inner {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_is_taken_from_the_url() {
        assert_eq!(host("https://App.test:8080/x"), "app.test");
        assert_eq!(host("http://u:p@a.b"), "a.b");
        assert_eq!(host("http://[::1]:80"), "::1");
        assert_eq!(host("null"), "null");
    }

    #[test]
    fn globs_match_hosts() {
        let p = list(&["*.example.com", "app.test"]);
        assert!(allowed(&p, Some("https://www.example.com")));
        assert!(allowed(&p, Some("http://app.test:3000")));
        assert!(!allowed(&p, Some("https://example.com.evil.org")));
        assert!(!allowed(&p, Some("https://evil.test")));
        assert!(allowed(&p, None));
        assert!(allowed(&[], Some("https://anything")));
        assert!(allowed(&list(&["*"]), Some("https://anything")));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
        assert!(!glob("ab*ba", "aba"));
    }
}
