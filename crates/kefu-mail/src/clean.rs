//! HTML from the outside world made safe to show to an agent: no
//! scripts, event handlers, forms, frames, style sheets or styles that
//! could escape the message's box, links that open elsewhere without
//! handing over the page. Images stay: `cid:` ones are served from the
//! message's own files; remote ones are kept in the markup but the page
//! that shows the message forbids loading them until the agent asks
//! (a Content-Security-Policy decides, not string matching).

use std::borrow::Cow;
use std::sync::LazyLock;

/// Cleaned HTML and what the display needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// Safe markup.
    pub html: String,
    /// It shows images from other servers.
    pub remote_images: bool,
}

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .add_url_schemes(["cid", "data"])
        .link_rel(Some("noopener noreferrer nofollow"))
        .add_tag_attributes("img", ["width", "height", "alt"])
        .add_tag_attributes("td", ["align", "valign", "colspan", "rowspan"])
        .add_tag_attributes("table", ["width", "border", "cellpadding", "cellspacing"])
        .attribute_filter(|element, attribute, value| {
            let lower = value.trim_start().to_ascii_lowercase();
            if lower.starts_with("data:") {
                // Inline pictures only; a data: link could carry a page.
                let image = element == "img"
                    && attribute == "src"
                    && lower.starts_with("data:image/")
                    && !lower.starts_with("data:image/svg");
                return image.then_some(Cow::Borrowed(value));
            }
            if lower.starts_with("cid:") && !(element == "img" && attribute == "src") {
                return None;
            }
            Some(Cow::Borrowed(value))
        });
    builder
});

/// Cleans `source`; see the module documentation.
pub fn html(source: &str) -> Cleaned {
    let html = CLEANER.clean(source).to_string();
    let remote_images = html.contains(" src=\"http://")
        || html.contains(" src=\"https://")
        || html.contains(" src=\"//");
    Cleaned {
        html,
        remote_images,
    }
}

/// Points the `cid:` images of cleaned HTML at the files they name:
/// `url_of` gives the address for a Content-ID, or `None` to leave it.
pub fn resolve_cid(html: &str, url_of: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    const NEEDLE: &str = " src=\"cid:";
    while let Some(at) = rest.find(NEEDLE) {
        let start = at + NEEDLE.len();
        let Some(len) = rest[start..].find('"') else {
            break;
        };
        let cid = &rest[start..start + len];
        out.push_str(&rest[..at]);
        match url_of(&decode_entities(cid)) {
            Some(url) => {
                out.push_str(" src=\"");
                out.push_str(&escape_attribute(&url));
                out.push('"');
            }
            None => out.push_str(&rest[at..start + len + 1]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn decode_entities(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_forms_and_styles_are_gone() {
        let dirty = r#"<div onclick="steal()" style="position:fixed;top:0">Hi<script>alert(1)</script>
            <style>body{display:none}</style><form action="https://evil.example/"><input name="pw"></form>
            <iframe src="https://evil.example/"></iframe><a href="javascript:alert(1)">x</a>
            <a href="data:text/html,<script>alert(1)</script>">y</a><img src="x" onerror="alert(1)"></div>"#;
        let clean = html(dirty).html;
        for bad in [
            "script",
            "onclick",
            "onerror",
            "position",
            "<style",
            "<form",
            "<input",
            "iframe",
            "javascript:",
            "data:text",
        ] {
            assert!(!clean.contains(bad), "{bad} survived in {clean}");
        }
        assert!(clean.contains("Hi"));
    }

    #[test]
    fn images_are_kept_and_remote_ones_reported() {
        let local = html(r#"<p><img src="cid:logo@x"> <img src="data:image/png;base64,AAAA"></p>"#);
        assert!(local.html.contains("cid:logo@x"));
        assert!(local.html.contains("data:image/png"));
        assert!(!local.remote_images);
        let remote = html(r#"<img src="https://tracker.example/p.gif">"#);
        assert!(remote.remote_images);
        assert!(
            !html(r#"<img src="data:image/svg+xml;base64,AAAA">"#)
                .html
                .contains("svg")
        );
    }

    #[test]
    fn cid_images_point_at_files() {
        let cleaned = html(r#"<img src="cid:a@b"><img src="cid:unknown">"#).html;
        let resolved = resolve_cid(&cleaned, |cid| {
            (cid == "a@b").then(|| "/files/7".to_owned())
        });
        assert!(resolved.contains(r#"src="/files/7""#), "{resolved}");
        assert!(resolved.contains("cid:unknown"));
    }
}
