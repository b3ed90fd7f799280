//! Cursor pagination shared by every list.

use crate::AppError;
use serde::Serialize;

/// The default page size when a request names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a request may ask for.
pub const MAX_LIMIT: i64 = 200;

/// A page request: items after `after` (an opaque cursor), at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Last id of the previous page; 0 for the first page.
    pub after: i64,
    /// Page size.
    pub limit: i64,
}

impl PageRequest {
    /// Reads `cursor` and `limit` as the API receives them.
    pub fn parse(cursor: Option<&str>, limit: Option<i64>) -> Result<PageRequest, AppError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor {
            None | Some("") => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| AppError::invalid("cursor", "is not a cursor this API returned"))?,
        };
        Ok(PageRequest { after, limit })
    }

    /// Asks the store for one row more than the page, to learn if more exist.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

/// One page of results and the cursor of the next, if there is one.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[schemars(rename = "{T}Page")]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Cuts `rows` (fetched with [`PageRequest::fetch_limit`]) to the page.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id_of(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds() {
        assert_eq!(
            PageRequest::parse(None, None).ok(),
            Some(PageRequest {
                after: 0,
                limit: 50
            })
        );
        assert_eq!(
            PageRequest::parse(Some("42"), Some(10)).ok(),
            Some(PageRequest {
                after: 42,
                limit: 10
            })
        );
        assert!(
            matches!(PageRequest::parse(None, Some(0)), Err(AppError::Validation { field, .. }) if field == "limit")
        );
        assert!(
            matches!(PageRequest::parse(Some("abc"), None), Err(AppError::Validation { field, .. }) if field == "cursor")
        );
    }

    #[test]
    fn next_cursor_only_when_more() {
        let request = PageRequest { after: 0, limit: 2 };
        let page = Page::from_rows(vec![1, 2, 3], request, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], request, |n| *n);
        assert_eq!(last.next_cursor, None);
    }
}
