//! Customers (客户) with their contact points and tags, and the one
//! identity lookup every channel uses to find a customer.

use crate::filter::{Param, Where, bind_params};
use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, NaiveDate, Utc};
use kefu_domain::customer::{CompanySize, ContactKind, Gender, Grade};
use kefu_domain::name;
use serde::Serialize;

/// A customer record.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Customer {
    /// Internal id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Birthday, when given.
    pub birthday: Option<NaiveDate>,
    /// Language to write to the customer in (`zh-CN`, `en`).
    pub language: String,
    /// IANA time zone.
    pub time_zone: String,
    /// The organization the customer belongs to.
    pub organization_id: Option<i64>,
    /// Address: province (省).
    pub province: String,
    /// Address: city (市).
    pub city: String,
    /// Address: district (区/县).
    pub district: String,
    /// Address: street and number.
    pub street: String,
    /// Classification: region (地区).
    pub region: String,
    /// Classification: industry (行业).
    pub industry: String,
    /// Classification: company size (规模).
    pub company_size: CompanySize,
    /// Grade (客户分级).
    pub grade: Grade,
    /// Needs and preferences.
    pub notes: String,
    /// Id in another system; re-imports update by it.
    pub external_id: Option<String>,
    /// When personal data was erased on request; the record stays for counts.
    pub erased_at: Option<DateTime<Utc>>,
    /// The customer this duplicate was merged into.
    pub merged_into_id: Option<i64>,
    /// Optimistic-locking version.
    pub version: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, gender, birthday, language, time_zone, organization_id, province, city, district, street, \
     region, industry, company_size, grade, notes, external_id, erased_at, merged_into_id, version, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    name: String,
    gender: String,
    birthday: Option<NaiveDate>,
    language: String,
    time_zone: String,
    organization_id: Option<i64>,
    province: String,
    city: String,
    district: String,
    street: String,
    region: String,
    industry: String,
    company_size: String,
    grade: String,
    notes: String,
    external_id: Option<String>,
    erased_at: Option<DateTime<Utc>>,
    merged_into_id: Option<i64>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn corrupt(id: i64, column: &str, value: &str) -> StoreError {
    StoreError::Other(format!("customer {id}: unknown {column} {value:?}"))
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;
    fn try_from(row: CustomerRow) -> Result<Self, StoreError> {
        Ok(Customer {
            gender: row
                .gender
                .parse()
                .map_err(|()| corrupt(row.id, "gender", &row.gender))?,
            company_size: row
                .company_size
                .parse()
                .map_err(|()| corrupt(row.id, "company_size", &row.company_size))?,
            grade: row
                .grade
                .parse()
                .map_err(|()| corrupt(row.id, "grade", &row.grade))?,
            id: row.id,
            name: row.name,
            birthday: row.birthday,
            language: row.language,
            time_zone: row.time_zone,
            organization_id: row.organization_id,
            province: row.province,
            city: row.city,
            district: row.district,
            street: row.street,
            region: row.region,
            industry: row.industry,
            notes: row.notes,
            external_id: row.external_id,
            erased_at: row.erased_at,
            merged_into_id: row.merged_into_id,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Every field an agent edits, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFields {
    /// Full name.
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Birthday.
    pub birthday: Option<NaiveDate>,
    /// Language.
    pub language: String,
    /// Time zone.
    pub time_zone: String,
    /// Organization.
    pub organization_id: Option<i64>,
    /// Province.
    pub province: String,
    /// City.
    pub city: String,
    /// District.
    pub district: String,
    /// Street.
    pub street: String,
    /// Region.
    pub region: String,
    /// Industry.
    pub industry: String,
    /// Company size.
    pub company_size: CompanySize,
    /// Grade.
    pub grade: Grade,
    /// Needs and preferences.
    pub notes: String,
    /// External id.
    pub external_id: Option<String>,
}

impl CustomerFields {
    /// The fields of a stored customer, as the starting point of an edit.
    pub fn of(customer: &Customer) -> CustomerFields {
        CustomerFields {
            name: customer.name.clone(),
            gender: customer.gender,
            birthday: customer.birthday,
            language: customer.language.clone(),
            time_zone: customer.time_zone.clone(),
            organization_id: customer.organization_id,
            province: customer.province.clone(),
            city: customer.city.clone(),
            district: customer.district.clone(),
            street: customer.street.clone(),
            region: customer.region.clone(),
            industry: customer.industry.clone(),
            company_size: customer.company_size,
            grade: customer.grade,
            notes: customer.notes.clone(),
            external_id: customer.external_id.clone(),
        }
    }
}

/// The key names are searched and sorted by: lower-cased, spaces folded.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// How many leading characters a name search can start at: a search for
/// a part of a name that begins later in a very long name does not find it.
pub const NAME_SEARCH_STARTS: usize = 32;

/// The suffixes of a name key a name search matches: one starting at each
/// of the first [`NAME_SEARCH_STARTS`] characters that is not a space. A
/// part of a name is a prefix of one of them. (Migration 0010 computes the
/// same set in SQL for the customers stored before it.)
pub fn name_suffixes(key: &str) -> Vec<&str> {
    key.char_indices()
        .take(NAME_SEARCH_STARTS)
        .filter(|(_, c)| *c != ' ')
        .map(|(i, _)| &key[i..])
        .collect()
}

/// Writes the name search keys of customers: (customer id, name key).
/// `replace` removes their old keys first (a rename).
async fn write_name_keys(
    conn: &mut Conn<'_>,
    names: &[(i64, String)],
    replace: bool,
) -> Result<(), StoreError> {
    if replace {
        for (id, _) in names {
            on_conn!(&mut *conn, |c| {
                sqlx::query("DELETE FROM customer_name_keys WHERE customer_id = $1")
                    .bind(*id)
                    .execute(c)
                    .await?;
            });
        }
    }
    let rows: Vec<(&str, i64)> = names
        .iter()
        .flat_map(|(id, key)| name_suffixes(key).into_iter().map(move |s| (s, *id)))
        .collect();
    for chunk in rows.chunks(BULK_ROWS * 8) {
        let values = crate::customers::value_rows(chunk.len(), 2);
        let sql = format!("INSERT INTO customer_name_keys (key, customer_id) VALUES {values}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (key, id) in chunk {
                query = query.bind(*key).bind(*id);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Gives customers stored before the pinyin keys existed their sort and
/// sound keys (computed in Rust, so migration SQL cannot), a thousand per
/// transaction; customers written since carry them already.
pub async fn fill_sort_and_sound_keys(store: &crate::Store) -> Result<u64, StoreError> {
    let mut filled = 0;
    loop {
        let mut tx = store.write().await?;
        let rows: Vec<(i64, String)> = on_conn!(&mut tx.conn(), |c| {
            sqlx::query_as(
                "SELECT id, name FROM customers WHERE sort_key = '' ORDER BY id LIMIT 1000",
            )
            .fetch_all(c)
            .await?
        });
        if rows.is_empty() {
            return Ok(filled);
        }
        for (id, name) in &rows {
            on_conn!(&mut tx.conn(), |c| {
                sqlx::query("UPDATE customers SET sort_key = $1, name_sound = $2 WHERE id = $3")
                    .bind(name::sort_key(name))
                    .bind(name::sound_key(name))
                    .bind(id)
                    .execute(c)
                    .await?;
            });
        }
        tx.commit().await?;
        filled += rows.len() as u64;
    }
}

/// Creates a customer.
pub async fn insert(conn: &mut Conn<'_>, f: &CustomerFields) -> Result<Customer, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO customers (name, gender, birthday, language, time_zone, organization_id, province, city, \
         district, street, region, industry, company_size, grade, notes, external_id, sort_key, name_sound, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $18, $19, 1, $17, $17) RETURNING {COLUMNS}"
    );
    let row: CustomerRow = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(f.gender.as_str())
            .bind(f.birthday)
            .bind(&f.language)
            .bind(&f.time_zone)
            .bind(f.organization_id)
            .bind(&f.province)
            .bind(&f.city)
            .bind(&f.district)
            .bind(&f.street)
            .bind(&f.region)
            .bind(&f.industry)
            .bind(f.company_size.as_str())
            .bind(f.grade.as_str())
            .bind(&f.notes)
            .bind(&f.external_id)
            .bind(now)
            .bind(name::sort_key(&f.name))
            .bind(name::sound_key(&f.name))
            .fetch_one(c)
            .await?
    });
    let customer: Customer = row.try_into()?;
    write_name_keys(conn, &[(customer.id, name_key(&customer.name))], false).await?;
    Ok(customer)
}

/// Rows per multi-row INSERT: far below both backends' limits on bound
/// values (SQLite 32,766; PostgreSQL 65,535) at 21 values a row.
pub const BULK_ROWS: usize = 50;

/// Creates many customers with one statement per [`BULK_ROWS`]; returns
/// them in the order given. Both backends assign ids in the order the
/// VALUES rows are processed, so sorting the returned rows by id restores
/// the input order.
pub async fn insert_many(
    conn: &mut Conn<'_>,
    all: &[CustomerFields],
) -> Result<Vec<Customer>, StoreError> {
    let now = crate::now();
    let mut out = Vec::with_capacity(all.len());
    for chunk in all.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|r| {
                let base = 1 + r * 20;
                let cells: Vec<String> = (base..base + 20).map(|n| format!("${n}")).collect();
                format!(
                    "({}, 1, {}, {})",
                    cells[..18].join(", "),
                    cells[18],
                    cells[19]
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO customers (name, gender, birthday, language, time_zone, organization_id, province, city, \
             district, street, region, industry, company_size, grade, notes, external_id, sort_key, name_sound, \
             version, created_at, updated_at) VALUES {values} RETURNING id"
        );
        let sql = crate::for_backend(&*conn, sql);
        let mut ids: Vec<i64> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for f in chunk {
                query = query
                    .bind(&f.name)
                    .bind(f.gender.as_str())
                    .bind(f.birthday)
                    .bind(&f.language)
                    .bind(&f.time_zone)
                    .bind(f.organization_id)
                    .bind(&f.province)
                    .bind(&f.city)
                    .bind(&f.district)
                    .bind(&f.street)
                    .bind(&f.region)
                    .bind(&f.industry)
                    .bind(f.company_size.as_str())
                    .bind(f.grade.as_str())
                    .bind(&f.notes)
                    .bind(&f.external_id)
                    .bind(name::sort_key(&f.name))
                    .bind(name::sound_key(&f.name))
                    .bind(now)
                    .bind(now);
            }
            query.fetch_all(c).await?
        });
        if ids.len() != chunk.len() {
            return Err(StoreError::Other(format!(
                "inserted {} customers, expected {}",
                ids.len(),
                chunk.len()
            )));
        }
        ids.sort_unstable();
        let names: Vec<(i64, String)> = ids
            .iter()
            .zip(chunk)
            .map(|(id, f)| (*id, name_key(&f.name)))
            .collect();
        write_name_keys(&mut *conn, &names, false).await?;
        for (id, f) in ids.into_iter().zip(chunk) {
            out.push(Customer {
                id,
                name: f.name.clone(),
                gender: f.gender,
                birthday: f.birthday,
                language: f.language.clone(),
                time_zone: f.time_zone.clone(),
                organization_id: f.organization_id,
                province: f.province.clone(),
                city: f.city.clone(),
                district: f.district.clone(),
                street: f.street.clone(),
                region: f.region.clone(),
                industry: f.industry.clone(),
                company_size: f.company_size,
                grade: f.grade,
                notes: f.notes.clone(),
                external_id: f.external_id.clone(),
                erased_at: None,
                merged_into_id: None,
                version: 1,
                created_at: now,
                updated_at: now,
            });
        }
    }
    Ok(out)
}

/// Adds contact points to several new customers: (customer id, point).
pub async fn add_contact_points_many(
    conn: &mut Conn<'_>,
    points: &[(i64, ContactPoint)],
) -> Result<(), StoreError> {
    let now = crate::now();
    for chunk in points.chunks(BULK_ROWS * 2) {
        let values = value_rows(chunk.len(), 5);
        let sql = format!(
            "INSERT INTO contact_points (customer_id, kind, value, label, created_at) VALUES {values}"
        );
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (customer_id, p) in chunk {
                query = query
                    .bind(*customer_id)
                    .bind(p.kind.as_str())
                    .bind(&p.value)
                    .bind(&p.label)
                    .bind(now);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Adds tags to several new customers: (customer id, tag).
pub async fn add_tags_many(conn: &mut Conn<'_>, tags: &[(i64, String)]) -> Result<(), StoreError> {
    for chunk in tags.chunks(BULK_ROWS * 4) {
        let values = crate::customers::value_rows(chunk.len(), 2);
        let sql = format!("INSERT INTO customer_tags (customer_id, tag) VALUES {values}");
        let sql = crate::for_backend(&*conn, sql);
        on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (customer_id, tag) in chunk {
                query = query.bind(*customer_id).bind(tag);
            }
            query.execute(c).await?;
        });
    }
    Ok(())
}

/// Refreshes the planner's statistics of the archive tables after a bulk
/// change, inside the transaction that made it. PostgreSQL otherwise plans
/// the next import's lookups for the table as it was before (sequential
/// scans of a million rows); SQLite's planner needs no statistics for them.
pub async fn analyze_after_bulk(conn: &mut Conn<'_>) -> Result<(), StoreError> {
    if let Conn::Postgres(c) = conn {
        sqlx::query("ANALYZE customers, contact_points, customer_tags, customer_field_values, customer_name_keys")
            .execute(&mut **c)
            .await?;
    }
    Ok(())
}

/// One customer by id.
pub async fn get(conn: &mut Conn<'_>, id: i64) -> Result<Customer, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM customers WHERE id = $1");
    let row: Option<CustomerRow> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(c)
            .await?
    });
    row.ok_or(StoreError::NotFound)?.try_into()
}

/// The active customers holding these external ids, as (external id, customer id).
pub async fn ids_by_external_id(
    conn: &mut Conn<'_>,
    external_ids: &[String],
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut out = Vec::new();
    for chunk in external_ids.chunks(BULK_ROWS) {
        let sql = format!(
            "SELECT external_id, id FROM customers WHERE erased_at IS NULL AND merged_into_id IS NULL \
             AND external_id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(String, i64)> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id);
            }
            query.fetch_all(c).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// Saves new field values if the customer is still at `expected_version`;
/// otherwise `Conflict` with the version now stored.
pub async fn update(
    conn: &mut Conn<'_>,
    id: i64,
    expected_version: i64,
    f: &CustomerFields,
) -> Result<Customer, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE customers SET name = $1, gender = $2, birthday = $3, language = $4, time_zone = $5, \
         organization_id = $6, province = $7, city = $8, district = $9, street = $10, region = $11, industry = $12, \
         company_size = $13, grade = $14, notes = $15, external_id = $16, sort_key = $20, name_sound = $21, \
         version = version + 1, updated_at = $17 WHERE id = $18 AND version = $19 RETURNING {COLUMNS}"
    );
    let row: Option<CustomerRow> = on_conn!(conn, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&f.name)
            .bind(f.gender.as_str())
            .bind(f.birthday)
            .bind(&f.language)
            .bind(&f.time_zone)
            .bind(f.organization_id)
            .bind(&f.province)
            .bind(&f.city)
            .bind(&f.district)
            .bind(&f.street)
            .bind(&f.region)
            .bind(&f.industry)
            .bind(f.company_size.as_str())
            .bind(f.grade.as_str())
            .bind(&f.notes)
            .bind(&f.external_id)
            .bind(now)
            .bind(id)
            .bind(expected_version)
            .bind(name::sort_key(&f.name))
            .bind(name::sound_key(&f.name))
            .fetch_optional(&mut *c)
            .await?
    });
    match row {
        Some(row) => {
            let customer: Customer = row.try_into()?;
            write_name_keys(conn, &[(id, name_key(&customer.name))], true).await?;
            Ok(customer)
        }
        None => Err(StoreError::Conflict {
            current_version: get(conn, id).await?.version,
        }),
    }
}

/// Marks a customer erased; the caller has already blanked the fields.
pub async fn mark_erased(conn: &mut Conn<'_>, id: i64) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
            "UPDATE customers SET erased_at = $1, version = version + 1, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Marks `id` as merged into `survivor`: it leaves lists and lookups.
pub async fn mark_merged(conn: &mut Conn<'_>, id: i64, survivor: i64) -> Result<(), StoreError> {
    let now = crate::now();
    on_conn!(conn, |c| {
        sqlx::query(
            "UPDATE customers SET merged_into_id = $1, version = version + 1, updated_at = $2 WHERE id = $3",
        )
        .bind(survivor)
        .bind(now)
        .bind(id)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Why customers look like duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DuplicateGroup {
    /// `phone`, `email` (a shared contact value) or `name` (the same name
    /// in the same organization).
    pub reason: String,
    /// The shared value (E.164 phone, email, or the name).
    pub key: String,
    /// The customers, oldest first.
    pub customer_ids: Vec<i64>,
}

/// Groups of active customers that share a phone or email, or have the
/// same name in one organization; at most `limit` groups.
pub async fn duplicate_groups(
    conn: &mut Conn<'_>,
    limit: i64,
) -> Result<Vec<DuplicateGroup>, StoreError> {
    let rows: Vec<(String, String, i64)> = on_conn!(conn, |c| {
        sqlx::query_as(
            "SELECT p.kind, p.value, p.customer_id FROM contact_points p \
             JOIN customers c ON c.id = p.customer_id \
             WHERE p.kind IN ('phone', 'email') AND c.erased_at IS NULL AND c.merged_into_id IS NULL \
             AND (p.kind, p.value) IN ( \
                 SELECT q.kind, q.value FROM contact_points q JOIN customers d ON d.id = q.customer_id \
                 WHERE q.kind IN ('phone', 'email') AND d.erased_at IS NULL AND d.merged_into_id IS NULL \
                 GROUP BY q.kind, q.value HAVING count(DISTINCT q.customer_id) > 1 LIMIT $1) \
             ORDER BY p.kind, p.value, p.customer_id",
        )
        .bind(limit)
        .fetch_all(&mut *c)
        .await?
    });
    let names: Vec<(i64, String, String, i64)> = on_conn!(conn, |c| {
        sqlx::query_as(
            "SELECT c.organization_id, c.name_sound, c.name, c.id FROM customers c \
             WHERE c.erased_at IS NULL AND c.merged_into_id IS NULL AND c.organization_id IS NOT NULL \
             AND (c.organization_id, c.name_sound) IN ( \
                 SELECT d.organization_id, d.name_sound FROM customers d \
                 WHERE d.erased_at IS NULL AND d.merged_into_id IS NULL AND d.organization_id IS NOT NULL \
                 AND d.name_sound <> '' \
                 GROUP BY d.organization_id, d.name_sound HAVING count(*) > 1 LIMIT $1) \
             ORDER BY c.organization_id, c.name_sound, c.id",
        )
        .bind(limit)
        .fetch_all(c)
        .await?
    });
    let mut groups: Vec<DuplicateGroup> = Vec::new();
    for (kind, value, id) in rows {
        match groups.last_mut() {
            Some(g) if g.reason == kind && g.key == value => g.customer_ids.push(id),
            _ => groups.push(DuplicateGroup {
                reason: kind,
                key: value,
                customer_ids: vec![id],
            }),
        }
    }
    // Names group by how they sound within one organization; the group
    // shows the first one's name.
    let mut last = None;
    for (org, sound, name, id) in names {
        let same = last.as_ref() == Some(&(org, sound.clone()))
            && groups.last().is_some_and(|g| g.reason == "name");
        match groups.last_mut() {
            Some(g) if same => g.customer_ids.push(id),
            _ => groups.push(DuplicateGroup {
                reason: "name".into(),
                key: name,
                customer_ids: vec![id],
            }),
        }
        last = Some((org, sound));
    }
    groups.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(groups)
}

/// A way to reach or recognise a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ContactPoint {
    /// Kind.
    pub kind: ContactKind,
    /// Normalised value (E.164 phone, lower-cased email).
    pub value: String,
    /// A label such as 家庭 or work.
    pub label: String,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    customer_id: i64,
    kind: String,
    value: String,
    label: String,
}

impl ContactRow {
    fn into_point(self) -> Result<(i64, ContactPoint), StoreError> {
        let kind = self.kind.parse().map_err(|()| {
            StoreError::Other(format!(
                "customer {}: unknown contact kind {:?}",
                self.customer_id, self.kind
            ))
        })?;
        Ok((
            self.customer_id,
            ContactPoint {
                kind,
                value: self.value,
                label: self.label,
            },
        ))
    }
}

/// A customer's contact points, in the order they were given.
pub async fn contact_points(
    conn: &mut Conn<'_>,
    customer_id: i64,
) -> Result<Vec<ContactPoint>, StoreError> {
    Ok(contact_points_of(conn, &[customer_id])
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect())
}

/// The contact points of several customers, as (customer id, point).
pub async fn contact_points_of(
    conn: &mut Conn<'_>,
    customer_ids: &[i64],
) -> Result<Vec<(i64, ContactPoint)>, StoreError> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT customer_id, kind, value, label FROM contact_points WHERE customer_id IN ({}) ORDER BY customer_id, id",
        placeholders(1, customer_ids.len())
    );
    let rows: Vec<ContactRow> = on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in customer_ids {
            query = query.bind(*id);
        }
        query.fetch_all(c).await?
    });
    rows.into_iter().map(ContactRow::into_point).collect()
}

/// Replaces a customer's contact points.
pub async fn set_contact_points(
    conn: &mut Conn<'_>,
    customer_id: i64,
    points: &[ContactPoint],
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM contact_points WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *c)
            .await?;
    });
    add_contact_points(conn, customer_id, points).await
}

/// Adds contact points to a customer that has none of them yet (a new
/// customer), in one statement.
pub async fn add_contact_points(
    conn: &mut Conn<'_>,
    customer_id: i64,
    points: &[ContactPoint],
) -> Result<(), StoreError> {
    if points.is_empty() {
        return Ok(());
    }
    let now = crate::now();
    let sql = format!(
        "INSERT INTO contact_points (customer_id, created_at, kind, value, label) VALUES {}",
        (0..points.len())
            .map(|i| format!("($1, $2, ${}, ${}, ${})", 3 * i + 3, 3 * i + 4, 3 * i + 5))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sql = crate::for_backend(&*conn, sql);
    on_conn!(conn, |c| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_id)
            .bind(now);
        for point in points {
            query = query
                .bind(point.kind.as_str())
                .bind(&point.value)
                .bind(&point.label);
        }
        query.execute(c).await?;
        Ok(())
    })
}

/// The one identity lookup: the customer holding this normalised contact
/// value. When several do (duplicates not yet merged) the oldest record
/// wins, so every channel agrees; erased customers are never matched.
pub async fn find_by_contact(
    conn: &mut Conn<'_>,
    kind: ContactKind,
    value: &str,
) -> Result<Option<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT p.customer_id FROM contact_points p JOIN customers c ON c.id = p.customer_id \
         WHERE p.kind = $1 AND p.value = $2 AND c.erased_at IS NULL AND c.merged_into_id IS NULL \
         ORDER BY p.customer_id LIMIT 1"
    )
    .bind(kind.as_str())
    .bind(value)
    .fetch_optional(c)
    .await?))
}

/// Every customer holding this contact value (for duplicate warnings).
pub async fn holders_of(
    conn: &mut Conn<'_>,
    kind: ContactKind,
    value: &str,
) -> Result<Vec<i64>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT p.customer_id FROM contact_points p JOIN customers c ON c.id = p.customer_id \
         WHERE p.kind = $1 AND p.value = $2 AND c.erased_at IS NULL AND c.merged_into_id IS NULL \
         ORDER BY p.customer_id"
    )
    .bind(kind.as_str())
    .bind(value)
    .fetch_all(c)
    .await?))
}

/// Other customers of `organization_id` whose names sound like `name`
/// (same pinyin), not erased or merged: possible duplicates.
pub async fn sounding_alike(
    conn: &mut Conn<'_>,
    organization_id: i64,
    name: &str,
    except: i64,
) -> Result<Vec<i64>, StoreError> {
    let sound = name::sound_key(name);
    if sound.is_empty() {
        return Ok(Vec::new());
    }
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT id FROM customers WHERE organization_id = $1 AND name_sound = $2 AND id <> $3 \
         AND erased_at IS NULL AND merged_into_id IS NULL ORDER BY id LIMIT 20"
    )
    .bind(organization_id)
    .bind(sound)
    .bind(except)
    .fetch_all(c)
    .await?))
}

/// A customer's tags, alphabetically.
pub async fn tags(conn: &mut Conn<'_>, customer_id: i64) -> Result<Vec<String>, StoreError> {
    Ok(tags_of(conn, &[customer_id])
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}

/// The tags of several customers, as (customer id, tag).
pub async fn tags_of(
    conn: &mut Conn<'_>,
    customer_ids: &[i64],
) -> Result<Vec<(i64, String)>, StoreError> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT customer_id, tag FROM customer_tags WHERE customer_id IN ({})",
        placeholders(1, customer_ids.len())
    );
    let mut rows: Vec<(i64, String)> = on_conn!(conn, |c| {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in customer_ids {
            query = query.bind(*id);
        }
        query.fetch_all(c).await?
    });
    // Code-point order on both backends, whatever PostgreSQL's collation.
    rows.sort();
    Ok(rows)
}

/// Replaces a customer's tags.
pub async fn set_tags(
    conn: &mut Conn<'_>,
    customer_id: i64,
    tags: &[String],
) -> Result<(), StoreError> {
    on_conn!(conn, |c| {
        sqlx::query("DELETE FROM customer_tags WHERE customer_id = $1")
            .bind(customer_id)
            .execute(&mut *c)
            .await?;
    });
    add_tags(conn, customer_id, tags).await
}

/// Adds tags to a customer that has none of them yet, in one statement.
pub async fn add_tags(
    conn: &mut Conn<'_>,
    customer_id: i64,
    tags: &[String],
) -> Result<(), StoreError> {
    if tags.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO customer_tags (customer_id, tag) VALUES {}",
        (0..tags.len())
            .map(|i| format!("($1, ${})", i + 2))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sql = crate::for_backend(&*conn, sql);
    on_conn!(conn, |c| {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_id);
        for tag in tags {
            query = query.bind(tag);
        }
        query.execute(c).await?;
        Ok(())
    })
}

/// `$first, $first+1, …` for `count` values.
/// Of `ids`, the customers merged into another: (id, survivor id).
pub async fn merged_among(conn: &mut Conn<'_>, ids: &[i64]) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT id, merged_into_id FROM customers WHERE id IN ({}) AND merged_into_id IS NOT NULL",
            placeholders(1, chunk.len())
        );
        let rows: Vec<(i64, i64)> = on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(*id);
            }
            query.fetch_all(c).await?
        });
        out.extend(rows);
    }
    Ok(out)
}

/// `($1, $2), ($3, $4), …`: the VALUES rows of a multi-row insert of
/// `rows` rows, `width` parameters each.
pub(crate) fn value_rows(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(1 + r * width, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The order of a customer list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Newest first.
    #[default]
    Newest,
    /// By name, A–Z / by pinyin code point order.
    Name,
    /// Most recently changed first.
    Updated,
}

/// Where a page starts: after this row in the list's order.
#[derive(Debug, Clone, PartialEq)]
pub enum After {
    /// The first page.
    Start,
    /// After the customer with this id (newest first).
    Id(i64),
    /// After the customer with this id, in name order.
    Name(i64),
    /// After this change time and id.
    Updated(DateTime<Utc>, i64),
}

/// What to narrow a customer list to; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Part of the name (already a name key).
    pub name: Option<String>,
    /// Digits that occur in one of the customer's phone numbers.
    pub phone_digits: Option<String>,
    /// A whole contact value (email, WeChat id, E.164 phone) or the customer's external id.
    pub contact_value: Option<String>,
    /// Organization.
    pub organization_id: Option<i64>,
    /// Carries this tag.
    pub tag: Option<String>,
    /// Grade.
    pub grade: Option<Grade>,
    /// Region, exactly.
    pub region: Option<String>,
    /// Industry, exactly.
    pub industry: Option<String>,
    /// Company size.
    pub company_size: Option<CompanySize>,
    /// Not changed since this instant (records to refresh).
    pub not_updated_since: Option<DateTime<Utc>>,
    /// Has this value in this custom field (field id, value).
    pub custom: Option<(i64, String)>,
    /// Include erased customers.
    pub include_erased: bool,
}

pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Who a customer is in a generated floor: enough to write their tickets
/// and orders (id, language, organization).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RosterEntry {
    /// Internal id.
    pub id: i64,
    /// Preferred language (`zh-CN`, `en`…).
    pub language: String,
    /// Their organization, if any.
    pub organization_id: Option<i64>,
}

/// Every live customer (not erased, not merged), oldest first: the people
/// a data generator spreads tickets and orders over.
pub async fn roster(conn: &mut Conn<'_>) -> Result<Vec<RosterEntry>, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT id, language, organization_id FROM customers \
         WHERE erased_at IS NULL AND merged_into_id IS NULL ORDER BY id"
    )
    .fetch_all(c)
    .await?))
}

/// One page of customers matching `filter`, in `sort` order, starting
/// after `after`, at most `limit`.
pub async fn search(
    conn: &mut Conn<'_>,
    filter: &Filter,
    sort: Sort,
    after: &After,
    limit: i64,
) -> Result<Vec<Customer>, StoreError> {
    let mut w = Where::default();
    let mut add = |clause: &str, values: Vec<Param>| w.add(clause, values);
    if !filter.include_erased {
        add("erased_at IS NULL AND merged_into_id IS NULL", vec![]);
    }
    if let Some(name) = &filter.name {
        // A part of a name is a prefix of one of its suffixes: a range of
        // the suffix index, whatever the size of the archive.
        add(
            "id IN (SELECT k.customer_id FROM customer_name_keys k WHERE k.key >= ? AND k.key < ?)",
            vec![
                Param::Text(name.clone()),
                Param::Text(format!("{name}\u{10FFFF}")),
            ],
        );
    }
    if let Some(digits) = &filter.phone_digits {
        add(
            // The few matching numbers first, then their customers: far
            // cheaper than probing every customer for a match.
            "id IN (SELECT p.customer_id FROM contact_points p WHERE p.kind = 'phone' AND p.value LIKE ? ESCAPE '\\')",
            vec![Param::Text(like_pattern(digits))],
        );
    }
    if let Some(value) = &filter.contact_value {
        // Naming every kind lets the (kind, value) index find the few
        // holders; probing each customer for a match would scan the archive.
        // One IN over a UNION rather than `external_id = ? OR id IN (…)`:
        // PostgreSQL cannot use an index for that OR and, expecting half
        // the archive to match, walked every customer newest first (50 ms
        // at 200,000 customers, on every search that found no name).
        let kinds = vec!["?"; ContactKind::ALL.len()].join(", ");
        let mut values = vec![Param::Text(value.clone())];
        values.extend(
            ContactKind::ALL
                .iter()
                .map(|k| Param::Text(k.as_str().to_owned())),
        );
        values.push(Param::Text(value.clone()));
        add(
            &format!(
                "id IN (SELECT e.id FROM customers e WHERE e.external_id = ? \
                 UNION ALL SELECT p.customer_id FROM contact_points p WHERE p.kind IN ({kinds}) AND p.value = ?)"
            ),
            values,
        );
    }
    if let Some(id) = filter.organization_id {
        add("organization_id = ?", vec![Param::Int(id)]);
    }
    if let Some(tag) = &filter.tag {
        add(
            "EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = customers.id AND t.tag = ?)",
            vec![Param::Text(tag.clone())],
        );
    }
    if let Some(grade) = filter.grade {
        add("grade = ?", vec![Param::Text(grade.as_str().to_owned())]);
    }
    if let Some(region) = &filter.region {
        add("region = ?", vec![Param::Text(region.clone())]);
    }
    if let Some(industry) = &filter.industry {
        add("industry = ?", vec![Param::Text(industry.clone())]);
    }
    if let Some(size) = filter.company_size {
        add(
            "company_size = ?",
            vec![Param::Text(size.as_str().to_owned())],
        );
    }
    if let Some((field, value)) = &filter.custom {
        add(
            "EXISTS (SELECT 1 FROM customer_field_values v WHERE v.customer_id = customers.id AND v.field_id = ? AND v.value = ?)",
            vec![Param::Int(*field), Param::Text(value.clone())],
        );
    }
    if let Some(at) = filter.not_updated_since {
        add("updated_at < ?", vec![Param::Time(at)]);
    }
    match after {
        After::Start => {}
        After::Id(id) => add("id < ?", vec![Param::Int(*id)]),
        // The key is read from the row the last page ended at, so a cursor
        // is just an id.
        After::Name(id) => add(
            "(sort_key, id) > ((SELECT s.sort_key FROM customers s WHERE s.id = ?), ?)",
            vec![Param::Int(*id), Param::Int(*id)],
        ),
        After::Updated(at, id) => add(
            "(updated_at < ? OR (updated_at = ? AND id < ?))",
            vec![Param::Time(*at), Param::Time(*at), Param::Int(*id)],
        ),
    }
    let order = match sort {
        Sort::Newest => "id DESC",
        Sort::Name => "sort_key, id",
        Sort::Updated => "updated_at DESC, id DESC",
    };
    let limit = w.bind(Param::Int(limit));
    let condition = w.condition();
    // Only placeholders and fixed column names go into the text; every value is bound.
    let sql =
        format!("SELECT {COLUMNS} FROM customers WHERE {condition} ORDER BY {order} LIMIT {limit}");
    let rows: Vec<CustomerRow> = on_conn!(conn, |c| {
        bind_params!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), w.params)
            .fetch_all(c)
            .await?
    });
    rows.into_iter().map(Customer::try_from).collect()
}

/// How many customers are not erased.
pub async fn count(conn: &mut Conn<'_>) -> Result<i64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query_scalar(
        "SELECT count(*) FROM customers WHERE erased_at IS NULL AND merged_into_id IS NULL"
    )
    .fetch_one(c)
    .await?))
}

#[cfg(test)]
mod tests {
    use super::{name_key, name_suffixes};

    #[test]
    fn every_part_of_a_name_is_a_prefix_of_one_suffix() {
        assert_eq!(name_suffixes("王小明"), ["王小明", "小明", "明"]);
        let key = name_key("Olivia  Brown");
        assert_eq!(key, "olivia brown");
        let suffixes = name_suffixes(&key);
        assert!(suffixes.contains(&"brown"));
        assert!(!suffixes.iter().any(|s| s.starts_with(' ')));
        for part in ["oli", "via b", "own", "n"] {
            assert!(suffixes.iter().any(|s| s.starts_with(part)), "{part}");
        }
        let long = "甲".repeat(40);
        assert_eq!(name_suffixes(&long).len(), super::NAME_SEARCH_STARTS);
    }
}
