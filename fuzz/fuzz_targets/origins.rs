//! `Origin` header matching (`connection::origins::allowed`): a browser's header
//! against an app's `allowed_origins` globs.
//!
//! Input: a pattern line, then the rest as the header. Checked: no panic on
//! any header; and for a plain host put into a URL, the answer equals a
//! reference glob match (`*` is any run of characters, case-insensitive).
#![no_main]

use herald::connection::origins::allowed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, origin) = text.split_once('\n').unwrap_or((text, ""));
    let patterns = vec![pattern.to_string()];
    let _ = allowed(&patterns, Some(origin));
    let plain = !origin.is_empty() && !origin.contains(['/', '?', '#', '@', ':', '[', ']']);
    if plain && pattern.len() * origin.len() <= 100_000 {
        let url = format!("https://{origin}:8443/path?q#f");
        let expected = glob(
            pattern.to_ascii_lowercase().as_bytes(),
            origin.to_ascii_lowercase().as_bytes(),
        );
        assert_eq!(
            allowed(&patterns, Some(&url)),
            expected,
            "{pattern:?} vs {url:?}"
        );
    }
});

/// Dynamic programming over bytes: `m[j]` is whether `pattern[..i]` matches `text[..j]`.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let mut m = vec![false; text.len() + 1];
    m[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match p {
                b'*' => m[j] || (j > 0 && next[j - 1]),
                _ => j > 0 && m[j - 1] && text[j - 1] == p,
            };
        }
        m = next;
    }
    m[text.len()]
}
