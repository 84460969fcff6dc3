//! The console's pages: plain HTML, CSS and JavaScript embedded in the binary,
//! filled in with the app, the node and the base path.

const APP_HTML: &str = include_str!("page.html");
const INDEX_HTML: &str = include_str!("index.html");
const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// The page of one app.
pub(crate) fn app(base: &str, app_id: &str, node: &str) -> String {
    APP_HTML
        .replace("{{CSS}}", CSS)
        .replace("{{JS}}", JS)
        .replace("{{BASE}}", &escape(base))
        .replace("{{APP}}", &escape(app_id))
        .replace("{{NODE}}", &escape(node))
}

/// The list of apps, each linking to its page.
pub(crate) fn index(base: &str, app_ids: &[String]) -> String {
    let items: String = app_ids
        .iter()
        .map(|id| {
            let href = format!(
                "{base}/{}",
                percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC)
            );
            format!(
                "<li><a class=\"app\" href=\"{}\">{}</a></li>\n",
                escape(&href),
                escape(id)
            )
        })
        .collect();
    INDEX_HTML
        .replace("{{CSS}}", CSS)
        .replace("{{APPS}}", &items)
}

/// Text safe inside HTML elements and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids_are_escaped_in_the_page() {
        let page = app("/console", "<b>x</b>", "1");
        assert!(page.contains("&lt;b&gt;x&lt;/b&gt;"));
        assert!(!page.contains("<b>x</b>"));
        assert!(!page.contains("{{"));
    }
}
