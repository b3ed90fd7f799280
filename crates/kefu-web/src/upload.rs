//! Forms with files: text fields collected, files spooled to disk as they
//! arrive (never held whole in memory) and size-checked on the way; and
//! the one way an attached file is sent back.

use crate::AppState;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kefu_app::AppError;
use kefu_app::attachments::{Content, MAX_FILES, StagedFile};
use kefu_domain::attachment::{self as rules, RangeAnswer};
use kefu_store::attachments::Attachment;
use std::collections::HashMap;

/// The most bytes of a refused upload read before the connection is dropped.
const DRAIN_MAX: usize = 256 << 20;

/// The most bytes of text fields one form may carry.
const TEXT_MAX: usize = 1 << 20;

/// A submitted form: its text fields and its files.
#[derive(Debug, Default)]
pub struct UploadForm {
    /// Text fields by name (the last value wins).
    pub fields: HashMap<String, String>,
    /// Files, in the order they came.
    pub files: Vec<StagedFile>,
}

/// Whether a request carries a multipart body.
pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

fn unreadable(error: &axum::extract::multipart::MultipartError) -> AppError {
    AppError::invalid(
        "body",
        format!("is not a readable multipart form: {}", error.body_text()),
    )
}

/// Reads a multipart request: text fields into the map, every part with a
/// file name through the app's stager (an empty file input is skipped).
pub async fn read(state: &AppState, request: Request) -> Result<UploadForm, AppError> {
    let mut multipart = Multipart::from_request(request, state).await.map_err(|e| {
        AppError::invalid(
            "body",
            format!("is not a multipart form: {}", e.body_text()),
        )
    })?;
    let mut form = UploadForm::default();
    let mut text_bytes = 0usize;
    while let Some(mut part) = multipart.next_field().await.map_err(|e| unreadable(&e))? {
        let name = part.name().unwrap_or_default().to_owned();
        match part.file_name().map(str::to_owned) {
            Some(file_name) => {
                let mut stager = None;
                let mut refused = None;
                while let Some(chunk) = part.chunk().await.map_err(|e| unreadable(&e))? {
                    if chunk.is_empty() {
                        continue;
                    }
                    if stager.is_none() {
                        if form.files.len() >= MAX_FILES {
                            return Err(AppError::invalid(
                                name,
                                format!("at most {MAX_FILES} files at a time"),
                            ));
                        }
                        stager = Some(state.app.attachments.stage(&name, &file_name).await?);
                    }
                    if let Some(s) = stager.as_mut()
                        && let Err(error) = s.write(&chunk).await
                    {
                        refused = Some(error);
                        break;
                    }
                }
                if let Some(error) = refused {
                    // Read the rest (up to a bound) so the client, still
                    // sending, receives the answer instead of a reset.
                    let mut drained = 0usize;
                    while let Ok(Some(chunk)) = part.chunk().await {
                        drained += chunk.len();
                        if drained > DRAIN_MAX {
                            return Err(error);
                        }
                    }
                    drop(part);
                    while let Ok(Some(mut next)) = multipart.next_field().await {
                        while let Ok(Some(chunk)) = next.chunk().await {
                            drained += chunk.len();
                            if drained > DRAIN_MAX {
                                return Err(error);
                            }
                        }
                    }
                    return Err(error);
                }
                match stager {
                    Some(s) => form.files.push(s.finish().await?),
                    // A browser sends an unused file input as an empty part without a name.
                    None if file_name.is_empty() => {}
                    None => return Err(AppError::invalid(name, "is an empty file")),
                }
            }
            None => {
                let mut value = Vec::new();
                while let Some(chunk) = part.chunk().await.map_err(|e| unreadable(&e))? {
                    text_bytes += chunk.len();
                    if text_bytes > TEXT_MAX {
                        return Err(AppError::invalid(
                            name,
                            "must be at most 1048576 characters",
                        ));
                    }
                    value.extend_from_slice(&chunk);
                }
                let value = String::from_utf8(value)
                    .map_err(|_| AppError::invalid(&name, "must be UTF-8 text"))?;
                crate::ui::custom_fields::add_field(&mut form.fields, name, value);
            }
        }
    }
    Ok(form)
}

/// A page form's fields and files: multipart (forms with a file input)
/// or URL-encoded.
pub async fn fields_and_files(
    state: &AppState,
    request: Request,
) -> Result<(HashMap<String, String>, Vec<StagedFile>), AppError> {
    if is_multipart(request.headers()) {
        let form = read(state, request).await?;
        Ok((form.fields, form.files))
    } else {
        let axum::Form(pairs) = axum::Form::<Vec<(String, String)>>::from_request(request, state)
            .await
            .map_err(|e| AppError::invalid("body", e.body_text()))?;
        Ok((crate::ui::custom_fields::form_fields(pairs), Vec::new()))
    }
}

/// Sends an attached file: pictures, sound and video in place, everything
/// else as a download of opaque bytes, never interpreted by the browser.
pub async fn send(attachment: &Attachment, content: Content, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", attachment.sha256);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let inline = rules::shown_inline(&attachment.content_type);
    let content_type = if inline {
        attachment.content_type.as_str()
    } else {
        "application/octet-stream"
    };
    let size = u64::try_from(attachment.size).unwrap_or(0);
    // A range applies only to the version the client has (If-Range).
    let same_version = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) if same_version => rules::byte_range(spec, size),
        _ => RangeAnswer::Whole,
    };
    let (first, length) = match range {
        RangeAnswer::Whole => (0, size),
        RangeAnswer::Part { first, last } => (first, last - first + 1),
        RangeAnswer::Unsatisfiable => {
            let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                refused.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return refused;
        }
    };
    let body = match content {
        Content::Bytes(bytes) => {
            let start = usize::try_from(first)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = usize::try_from(first + length)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            Body::from(bytes[start..end].to_vec())
        }
        Content::File(path) => match open_at(&path, first).await {
            Ok(file) => {
                use tokio::io::AsyncReadExt;
                Body::from_stream(futures_util::stream::unfold(
                    file.take(length),
                    |mut file| async {
                        let mut buffer = vec![0u8; 64 * 1024];
                        match file.read(&mut buffer).await {
                            Ok(0) => None,
                            Ok(n) => {
                                buffer.truncate(n);
                                Some((Ok::<_, std::io::Error>(buffer), file))
                            }
                            Err(e) => Some((Err(e), file)),
                        }
                    },
                ))
            }
            Err(e) => {
                tracing::error!(attachment = attachment.id, path = %path.display(), error = %e, "attachment file missing");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        },
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(header::CONTENT_TYPE, content_type);
    set(header::CONTENT_LENGTH, &length.to_string());
    set(header::ACCEPT_RANGES, "bytes");
    if let RangeAnswer::Part { first, last } = range {
        set(
            header::CONTENT_RANGE,
            &format!("bytes {first}-{last}/{size}"),
        );
    }
    set(
        header::CONTENT_DISPOSITION,
        &rules::content_disposition(&attachment.file_name, inline),
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; media-src 'self'; img-src 'self'; sandbox",
    );
    set(header::CACHE_CONTROL, "private, max-age=86400");
    set(header::ETAG, &etag);
    if matches!(range, RangeAnswer::Part { .. }) {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    response
}

/// The file at `path`, positioned at byte `first`.
async fn open_at(path: &std::path::Path, first: u64) -> std::io::Result<tokio::fs::File> {
    use tokio::io::AsyncSeekExt;
    let mut file = tokio::fs::File::open(path).await?;
    if first > 0 {
        file.seek(std::io::SeekFrom::Start(first)).await?;
    }
    Ok(file)
}
