//! Static assets embedded in the binary, served under content-hashed names
//! so browsers may cache them for a year.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const CSS: &str = include_str!("../static/kefu.css");

/// The stylesheet's path, e.g. `/static/kefu-1a2b3c4d.css`.
pub fn css_path() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let digest = Sha256::digest(CSS.as_bytes());
        let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        format!("/static/kefu-{short}.css")
    })
}

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    if format!("/static/{file}") == css_path() {
        (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            CSS,
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
