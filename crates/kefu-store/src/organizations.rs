//! Organizations (企业客户): companies that customers belong to.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use kefu_domain::customer::CompanySize;
use serde::Serialize;

/// An organization record.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Organization {
    /// Internal id.
    pub id: i64,
    /// Name, unique ignoring case.
    pub name: String,
    /// Classification: region.
    pub region: String,
    /// Classification: industry.
    pub industry: String,
    /// Classification: company size.
    pub company_size: CompanySize,
    /// Notes.
    pub notes: String,
    /// Id in another system.
    pub external_id: Option<String>,
    /// Whether its members see each other's requests in the portal.
    pub portal_shared: bool,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, region, industry, company_size, notes, external_id, portal_shared, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    region: String,
    industry: String,
    company_size: String,
    notes: String,
    external_id: Option<String>,
    portal_shared: bool,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Organization {
    type Error = StoreError;
    fn try_from(row: Row) -> Result<Self, StoreError> {
        Ok(Organization {
            company_size: row.company_size.parse().map_err(|()| {
                StoreError::Other(format!(
                    "organization {}: unknown company_size {:?}",
                    row.id, row.company_size
                ))
            })?,
            id: row.id,
            name: row.name,
            region: row.region,
            industry: row.industry,
            notes: row.notes,
            external_id: row.external_id,
            portal_shared: row.portal_shared,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// The fields an agent edits, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationFields {
    /// Name.
    pub name: String,
    /// Region.
    pub region: String,
    /// Industry.
    pub industry: String,
    /// Company size.
    pub company_size: CompanySize,
    /// Notes.
    pub notes: String,
    /// External id.
    pub external_id: Option<String>,
    /// Members see each other's requests in the portal.
    pub portal_shared: bool,
}

/// Creates an organization; a name already used (ignoring case) is a
/// `Duplicate` on `name`.
pub async fn insert(
    conn: &mut Conn<'_>,
    f: &OrganizationFields,
) -> Result<Organization, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO organizations (name, name_key, region, industry, company_size, notes, external_id, portal_shared, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $9, 1, $8, $8) RETURNING {COLUMNS}"
    );
    let row: Row = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(crate::customers::name_key(&f.name))
            .bind(&f.region)
            .bind(&f.industry)
            .bind(f.company_size.as_str())
            .bind(&f.notes)
            .bind(&f.external_id)
            .bind(now)
            .bind(f.portal_shared)
            .fetch_one(c)
            .await
            .map_err(name_taken)?
    });
    row.try_into()
}

/// The unique index on the name key reports as `name_key`; people know it as `name`.
fn name_taken(error: sqlx::Error) -> StoreError {
    match StoreError::from(error) {
        StoreError::Duplicate { field } if field == "name_key" => StoreError::Duplicate {
            field: "name".to_owned(),
        },
        other => other,
    }
}

/// One organization.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Organization, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM organizations WHERE id = $1");
    let row: Option<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// One organization by name, ignoring case.
pub async fn by_name(conn: &mut Conn<'_>, name: &str) -> Result<Option<Organization>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM organizations WHERE name_key = $1");
    let row: Option<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(crate::customers::name_key(name))
            .fetch_optional(c)
            .await?
    });
    row.map(Organization::try_from).transpose()
}

/// Saves new values if still at `expected_version`.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &OrganizationFields,
) -> Result<Organization, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE organizations SET name = $1, name_key = $2, region = $3, industry = $4, company_size = $5, notes = $6, \
         external_id = $7, portal_shared = $11, version = version + 1, updated_at = $8 WHERE id = $9 AND version = $10 RETURNING {COLUMNS}"
    );
    let row: Option<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(crate::customers::name_key(&f.name))
            .bind(&f.region)
            .bind(&f.industry)
            .bind(f.company_size.as_str())
            .bind(&f.notes)
            .bind(&f.external_id)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .bind(f.portal_shared)
            .fetch_optional(&mut *c)
            .await
            .map_err(name_taken)?
    });
    match row {
        Some(row) => row.try_into(),
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// Organizations in id order after `after_id`, optionally narrowed to
/// names containing `name_part`.
pub async fn list(
    conn: &mut Conn<'_>,
    name_part: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Organization>, StoreError> {
    let pattern = name_part.map(|p| crate::customers::like_pattern(&crate::customers::name_key(p)));
    let sql = format!(
        "SELECT {COLUMNS} FROM organizations WHERE id > $1 AND ($2 IS NULL OR name_key LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3"
    );
    let rows: Vec<Row> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after_id)
            .bind(pattern)
            .bind(limit)
            .fetch_all(c)
            .await?
    });
    rows.into_iter().map(Organization::try_from).collect()
}

/// The names of these organizations, as (id, name), in one query.
pub async fn names_of(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<(i64, String)>, StoreError> {
    crate::names_of(conn, crate::Named::Organizations, ids).await
}

/// How many active customers each of these organizations has.
pub async fn member_counts(
    conn: &mut Conn<'_>,
    ids: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT organization_id, count(*) FROM customers WHERE erased_at IS NULL AND merged_into_id IS NULL AND organization_id IN ({}) GROUP BY organization_id",
        crate::customers::placeholders(1, ids.len())
    );
    on_conn!(conn, |c| {
        let mut query = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(c).await?)
    })
}
