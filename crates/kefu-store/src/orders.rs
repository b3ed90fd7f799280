//! Orders and transactions (消费信息) a customer made.

use crate::{Conn, StoreError, on_conn};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One order.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Order {
    /// Internal id.
    pub id: i64,
    /// The customer who bought.
    pub customer_id: i64,
    /// When the order was made.
    pub ordered_at: DateTime<Utc>,
    /// Amount in the currency's minor unit (分 for CNY).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// What was bought.
    pub product: String,
    /// Where it was bought (营业厅, app, web…).
    pub channel: String,
    /// Id in the billing or shop system; re-imports update by it.
    pub external_id: Option<String>,
    /// Recorded.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, customer_id, ordered_at, amount_minor, currency, product, channel, external_id, created_at";

/// A validated order to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// Customer.
    pub customer_id: i64,
    /// When.
    pub ordered_at: DateTime<Utc>,
    /// Minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// Product.
    pub product: String,
    /// Channel.
    pub channel: String,
    /// External id.
    pub external_id: Option<String>,
}

/// Records an order.
pub async fn insert(conn: &mut Conn<'_>, o: &NewOrder) -> Result<Order, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO orders (customer_id, ordered_at, amount_minor, currency, product, channel, external_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(o.customer_id)
        .bind(o.ordered_at)
        .bind(o.amount_minor)
        .bind(&o.currency)
        .bind(&o.product)
        .bind(&o.channel)
        .bind(&o.external_id)
        .bind(now)
        .fetch_one(c)
        .await?))
}

/// A customer's most recent orders, newest first.
pub async fn recent(
    conn: &mut Conn<'_>,
    customer_id: i64,
    limit: i64,
) -> Result<Vec<Order>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY ordered_at DESC, id DESC LIMIT $2"
    );
    on_conn!(conn, |c| Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(customer_id)
        .bind(limit)
        .fetch_all(c)
        .await?))
}

/// Per-currency totals of a customer's orders.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Totals {
    /// Currency.
    pub currency: String,
    /// Number of orders.
    pub orders: i64,
    /// Sum in minor units.
    pub amount_minor: i64,
    /// First order.
    pub first_at: DateTime<Utc>,
    /// Last order.
    pub last_at: DateTime<Utc>,
}

/// A customer's totals per currency.
pub async fn totals(conn: &mut Conn<'_>, customer_id: i64) -> Result<Vec<Totals>, StoreError> {
    // CAST keeps SUM an integer on PostgreSQL (it widens BIGINT to NUMERIC).
    on_conn!(conn, |c| Ok(sqlx::query_as(
        "SELECT currency, count(*) AS orders, CAST(sum(amount_minor) AS BIGINT) AS amount_minor, \
         min(ordered_at) AS first_at, max(ordered_at) AS last_at \
         FROM orders WHERE customer_id = $1 GROUP BY currency ORDER BY currency"
    )
    .bind(customer_id)
    .fetch_all(c)
    .await?))
}

/// Moves every order of one customer to another (merging duplicates).
pub async fn move_to(conn: &mut Conn<'_>, from: i64, to: i64) -> Result<u64, StoreError> {
    on_conn!(conn, |c| Ok(sqlx::query(
        "UPDATE orders SET customer_id = $1 WHERE customer_id = $2"
    )
    .bind(to)
    .bind(from)
    .execute(c)
    .await?
    .rows_affected()))
}

/// Records many orders with one statement per hundred rows (bulk loads and
/// generated data); returns how many were stored.
pub async fn insert_many(conn: &mut Conn<'_>, all: &[NewOrder]) -> Result<u64, StoreError> {
    let now = crate::now();
    let mut stored = 0;
    for chunk in all.chunks(100) {
        let values = crate::customers::value_rows(chunk.len(), 8);
        let sql = format!(
            "INSERT INTO orders (customer_id, ordered_at, amount_minor, currency, product, channel, external_id, created_at) \
             VALUES {values}"
        );
        let sql = crate::for_backend(&*conn, sql);
        stored += on_conn!(&mut *conn, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in chunk {
                query = query
                    .bind(o.customer_id)
                    .bind(o.ordered_at)
                    .bind(o.amount_minor)
                    .bind(&o.currency)
                    .bind(&o.product)
                    .bind(&o.channel)
                    .bind(&o.external_id)
                    .bind(now);
            }
            query.execute(c).await?.rows_affected()
        });
    }
    Ok(stored)
}
