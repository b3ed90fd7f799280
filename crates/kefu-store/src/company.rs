//! The company running this installation: its names, time zone, language.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The company settings record (there is one).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Company {
    /// Name in Chinese (or the company's own language).
    pub name: String,
    /// Name in English.
    pub name_en: String,
    /// IANA time zone of the service floor, e.g. `Asia/Shanghai`.
    pub time_zone: String,
    /// `zh-CN` or `en`: the language for people with no preference.
    pub default_language: String,
    /// Optimistic-locking version.
    pub version: i64,
    /// When the record was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The values an admin sets.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CompanyFields {
    /// Name in Chinese.
    pub name: String,
    /// Name in English.
    pub name_en: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Default language.
    pub default_language: String,
}

/// The company record, if one was set up.
pub async fn get(conn: &mut Conn<'_>) -> Result<Option<Company>, StoreError> {
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "SELECT name, name_en, time_zone, default_language, version, created_at, updated_at FROM company WHERE id = 1"
    )
    .fetch_optional(c)
    .await?)
    })
}

/// Creates the company record; fails with `Duplicate` if it exists.
pub async fn insert(conn: &mut Conn<'_>, fields: &CompanyFields) -> Result<Company, StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        Ok(sqlx::query_as(
        "INSERT INTO company (id, name, name_en, time_zone, default_language, version, created_at, updated_at) \
         VALUES (1, $1, $2, $3, $4, 1, $5, $5) \
         RETURNING name, name_en, time_zone, default_language, version, created_at, updated_at"
    )
    .bind(&fields.name)
    .bind(&fields.name_en)
    .bind(&fields.time_zone)
    .bind(&fields.default_language)
    .bind(now)
    .fetch_one(c)
    .await?)
    })
}
