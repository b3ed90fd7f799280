//! Files attached to work orders: what a file really is, what its name may
//! be, and which files a browser may show in place.
//!
//! The type a client declares is never trusted: the stored type comes from
//! the file's first bytes. Only passive media (pictures, sound, video) are
//! ever shown inline; everything else — HTML, SVG, PDF, scripts, unknown
//! bytes — is served as a download, so an uploaded file can never run as
//! part of Kefu's pages.

use crate::DomainError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How many leading bytes [`sniff`] needs to see.
pub const SNIFF_BYTES: usize = 8192;

/// The longest file name kept, in characters.
pub const FILE_NAME_MAX: usize = 200;

code_enum!(
    /// Why a file is attached.
    Purpose, "purpose", {
        /// A document, picture or other file.
        File => "file",
        /// A call recording (evidence for complaints).
        Recording => "recording",
    }
);

/// The content type of a file judged from its first bytes (at most
/// [`SNIFF_BYTES`] are looked at). Text that is valid UTF-8 without
/// control bytes is `text/plain`; anything unrecognised is
/// `application/octet-stream`.
pub fn sniff(head: &[u8]) -> String {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if looks_like_text(head) {
        "text/plain".to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

/// UTF-8 (a character cut at the end of the sample allowed) with no control
/// bytes other than whitespace.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    valid
        && head
            .iter()
            .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
}

/// Whether a browser may show a file of this (sniffed) type in place:
/// only passive pictures, sound and video. Everything else is a download.
pub fn shown_inline(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png"
            | "image/jpeg"
            | "image/gif"
            | "image/webp"
            | "image/bmp"
            | "audio/mpeg"
            | "audio/x-wav"
            | "audio/wav"
            | "audio/ogg"
            | "audio/x-flac"
            | "audio/aac"
            | "audio/amr"
            | "audio/m4a"
            | "audio/x-m4a"
            | "audio/mp4"
            | "video/mp4"
            | "video/webm"
    )
}

/// Whether the type is a sound recording.
pub fn is_audio(content_type: &str) -> bool {
    content_type.starts_with("audio/")
        || matches!(content_type, "video/mp4" | "video/webm" | "video/ogg")
}

/// Checks that a recording really is sound.
pub fn check_recording(field: &str, content_type: &str) -> Result<(), DomainError> {
    if is_audio(content_type) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!(
                "a recording must be a sound file (MP3, WAV, AMR, M4A, OGG); this file is {content_type}"
            ),
        ))
    }
}

/// A file name safe to store and to offer as a download name: only the
/// last path component, no control characters, trimmed, at most
/// [`FILE_NAME_MAX`] characters (keeping the extension); `file` when
/// nothing is left.
pub fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\u{202e}' | '\u{202d}'))
        .collect();
    let cleaned = cleaned
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end();
    if cleaned.is_empty() {
        return "file".to_owned();
    }
    if cleaned.chars().count() <= FILE_NAME_MAX {
        return cleaned.to_owned();
    }
    let extension: String = match cleaned.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() && ext.chars().count() <= 10 => format!(".{ext}"),
        _ => String::new(),
    };
    let keep = FILE_NAME_MAX - extension.chars().count();
    let stem: String = cleaned.chars().take(keep).collect();
    format!("{stem}{extension}")
}

/// Whether `text` is a lower-case hex SHA-256 digest (the content address).
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Where a file with this digest lives below the attachment directory:
/// `ab/cd/abcd…`, so no directory grows beyond 65,536 entries.
pub fn relative_path(digest: &str) -> Option<String> {
    is_digest(digest).then(|| format!("{}/{}/{}", &digest[..2], &digest[2..4], digest))
}

/// A `Content-Disposition` value: `inline` or `attachment`, with the name
/// both as plain ASCII (non-ASCII replaced) and RFC 5987-encoded UTF-8.
pub fn content_disposition(file_name: &str, inline: bool) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ';' | '%') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in file_name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    let kind = if inline { "inline" } else { "attachment" };
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// What to send for a download's `Range` header (RFC 9110 §14): the
/// whole file, one byte range (first and last byte, inclusive), or a
/// refusal when the range lies beyond the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No range, a malformed one, or several: the whole file (200).
    Whole,
    /// Bytes `first..=last` (206).
    Part {
        /// First byte sent.
        first: u64,
        /// Last byte sent.
        last: u64,
    },
    /// The range starts past the end (416).
    Unsatisfiable,
}

/// Reads a `Range` header for a file of `size` bytes. Only one range of
/// bytes is served; a malformed header or several ranges get the whole
/// file, which the standard allows and every player copes with.
pub fn byte_range(header: &str, size: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Whole;
    };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (start, end) = (start.trim(), end.trim());
    let parse = |t: &str| t.parse::<u64>().ok();
    match (start.is_empty(), end.is_empty()) {
        // The last `n` bytes.
        (true, false) => match parse(end) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(n) if size > 0 => RangeAnswer::Part {
                first: size.saturating_sub(n),
                last: size - 1,
            },
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Whole,
        },
        (false, _) => {
            let Some(first) = parse(start) else {
                return RangeAnswer::Whole;
            };
            let last = if end.is_empty() {
                None
            } else {
                match parse(end) {
                    Some(last) if last >= first => Some(last),
                    _ => return RangeAnswer::Whole,
                }
            };
            if first >= size {
                return RangeAnswer::Unsatisfiable;
            }
            RangeAnswer::Part {
                first,
                last: last.map_or(size - 1, |l| l.min(size - 1)),
            }
        }
        (true, true) => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sniffs_by_content_not_by_name() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "image/png");
        assert_eq!(sniff(b"%PDF-1.7\n"), "application/pdf");
        assert_eq!(sniff(b"ID3\x03\0\0\0\0\0\0"), "audio/mpeg");
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), "audio/x-wav");
        assert_eq!(sniff("宽带无法上网，请尽快处理".as_bytes()), "text/plain");
        assert_eq!(sniff(b"\0\x01\x02\x03binary"), "application/octet-stream");
        assert_eq!(sniff(b""), "text/plain");
    }

    #[test]
    fn text_cut_inside_a_character_is_still_text() {
        let text = "宽带".as_bytes();
        assert_eq!(sniff(&text[..4]), "text/plain");
    }

    #[test]
    fn active_content_is_never_inline() {
        for kind in [
            "text/html",
            "image/svg+xml",
            "application/pdf",
            "text/plain",
            "application/xml",
            "application/javascript",
            "application/octet-stream",
        ] {
            assert!(!shown_inline(kind), "{kind}");
        }
        assert!(shown_inline("image/png"));
        assert!(shown_inline("audio/mpeg"));
    }

    #[test]
    fn an_html_page_named_as_a_picture_is_a_download() {
        let kind = sniff(b"<html><script>alert(1)</script></html>");
        assert!(!shown_inline(&kind), "{kind}");
    }

    #[test]
    fn recordings_must_be_sound() {
        assert!(check_recording("recording", "audio/mpeg").is_ok());
        let refused = check_recording("recording", "application/pdf");
        assert!(
            matches!(&refused, Err(e) if e.to_string().starts_with("recording:")),
            "{refused:?}"
        );
    }

    #[test]
    fn file_names_lose_paths_and_controls() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\王芳\\通话.mp3"), "通话.mp3");
        assert_eq!(clean_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_file_name("   "), "file");
        assert_eq!(clean_file_name(".hidden"), "hidden");
        assert_eq!(clean_file_name(". .x"), "x");
        assert_eq!(clean_file_name("x\u{202e}gpj.exe"), "xgpj.exe");
        let long = format!("{}.pdf", "长".repeat(300));
        let cleaned = clean_file_name(&long);
        assert_eq!(cleaned.chars().count(), FILE_NAME_MAX);
        assert!(cleaned.ends_with(".pdf"));
    }

    #[test]
    fn content_addresses() {
        let digest = "ab".repeat(32);
        assert_eq!(
            relative_path(&digest).as_deref(),
            Some(format!("ab/ab/{digest}").as_str())
        );
        assert_eq!(relative_path("../../x"), None);
        assert!(!is_digest(&"AB".repeat(32)));
    }

    #[test]
    fn disposition_keeps_chinese_names() {
        assert_eq!(
            content_disposition("通话 1.mp3", false),
            "attachment; filename=\"__ 1.mp3\"; filename*=UTF-8''%E9%80%9A%E8%AF%9D%201.mp3"
        );
        assert!(content_disposition("a.png", true).starts_with("inline;"));
    }

    #[test]
    fn byte_ranges_follow_the_standard() {
        use RangeAnswer::*;
        assert_eq!(byte_range("bytes=0-99", 1000), Part { first: 0, last: 99 });
        assert_eq!(
            byte_range("bytes=500-", 1000),
            Part {
                first: 500,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=-100", 1000),
            Part {
                first: 900,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=-5000", 1000),
            Part {
                first: 0,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=900-5000", 1000),
            Part {
                first: 900,
                last: 999
            }
        );
        assert_eq!(byte_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(byte_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(byte_range("bytes=5-1", 1000), Whole);
        assert_eq!(byte_range("bytes=0-1,5-9", 1000), Whole);
        assert_eq!(byte_range("items=0-1", 1000), Whole);
        assert_eq!(byte_range("bytes=x-", 1000), Whole);
        assert_eq!(byte_range("bytes=-", 1000), Whole);
    }

    proptest! {
        #[test]
        fn a_served_range_lies_inside_the_file(size in 0u64..10_000, a in 0u64..12_000, b in 0u64..12_000, form in 0u8..3) {
            let header = match form {
                0 => format!("bytes={a}-{b}"),
                1 => format!("bytes={a}-"),
                _ => format!("bytes=-{b}"),
            };
            if let RangeAnswer::Part { first, last } = byte_range(&header, size) {
                prop_assert!(first <= last);
                prop_assert!(last < size);
            }
        }

        #[test]
        fn cleaned_names_are_safe(name in any::<String>()) {
            let cleaned = clean_file_name(&name);
            prop_assert!(!cleaned.is_empty());
            prop_assert!(cleaned.chars().count() <= FILE_NAME_MAX);
            prop_assert!(!cleaned.contains(['/', '\\', '"']));
            prop_assert!(!cleaned.chars().any(char::is_control));
            prop_assert!(!cleaned.starts_with('.'));
        }

        #[test]
        fn dispositions_are_one_header_line(name in any::<String>(), inline in any::<bool>()) {
            let value = content_disposition(&clean_file_name(&name), inline);
            prop_assert!(value.is_ascii());
            prop_assert!(!value.contains(['\r', '\n']));
        }
    }
}
