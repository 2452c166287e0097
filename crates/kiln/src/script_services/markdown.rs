//! `markdown(text, options?)` for scripts: CommonMark (plus tables, strikethrough, task lists
//! and footnotes) to HTML with pulldown-cmark.
//!
//! pulldown-cmark passes raw HTML in the source through untouched, which would let
//! user-supplied Markdown inject `<script>`: by default Kiln escapes raw HTML (it shows as
//! text); `{ allowHtml: true }` passes it through for trusted input. Link and image URLs with a
//! `javascript:`, `vbscript:` or `data:` scheme are dropped when raw HTML is not allowed.
//! The text arrives as the operation's bytes (so the engine's input limit applies) and is
//! converted on tokio's blocking pool.

use kiln_js::{HostCall, HostError, HostResult};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};
use serde_json::Value;

/// URL schemes that run code in a browser.
const UNSAFE_SCHEMES: [&str; 3] = ["javascript:", "vbscript:", "data:"];

fn unsafe_url(url: &str) -> bool {
    let url: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
        .collect::<String>()
        .to_ascii_lowercase();
    UNSAFE_SCHEMES.iter().any(|s| url.starts_with(s))
}

/// Converts `text` to HTML; raw HTML is escaped unless `allow_html`.
pub fn to_html(text: &str, allow_html: bool) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let events = Parser::new_ext(text, options).map(|event| {
        if allow_html {
            return event;
        }
        match event {
            Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) if unsafe_url(&dest_url) => Event::Start(Tag::Link {
                link_type,
                dest_url: CowStr::Borrowed("#"),
                title,
                id,
            }),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) if unsafe_url(&dest_url) => Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::Borrowed(""),
                title,
                id,
            }),
            other => other,
        }
    });
    let mut html = String::with_capacity(text.len() + text.len() / 4);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// Runs `markdown.render`: the text in the call's bytes, `{ allowHtml }` → HTML.
pub(super) async fn render(call: HostCall) -> HostResult {
    let bytes = call.bytes.unwrap_or_default();
    let allow_html = call.args["allowHtml"].as_bool().unwrap_or(false);
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
        HostError::new(
            "MARKDOWN_INVALID_ARGUMENT",
            "the Markdown text must be UTF-8",
        )
    })?;
    let html = tokio::task::spawn_blocking(move || to_html(&text, allow_html))
        .await
        .map_err(|e| HostError::new("MARKDOWN_ERROR", format!("conversion failed: {e}")))?;
    Ok(Value::String(html))
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn raw_html_is_escaped_unless_allowed() {
        let text = "# Hi\n\n<script>alert(1)</script>\n\nsome <b>bold</b>\n";
        let safe = to_html(text, false);
        assert!(safe.contains("<h1>Hi</h1>"), "{safe}");
        assert!(safe.contains("&lt;script&gt;"), "{safe}");
        assert!(!safe.contains("<b>"), "{safe}");
        let raw = to_html(text, true);
        assert!(raw.contains("<script>alert(1)</script>"), "{raw}");
    }

    #[test]
    fn script_urls_are_dropped() {
        let html = to_html("[x](javascript:alert(1)) ![y]( JavaScript:alert(2))", false);
        assert!(!html.to_ascii_lowercase().contains("javascript"), "{html}");
    }
}
