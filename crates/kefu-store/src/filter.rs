//! A dynamic WHERE clause for list searches: conditions added one by one,
//! each value bound as a parameter, never written into the SQL text.

use chrono::{DateTime, NaiveDate, Utc};

/// A value bound to a placeholder.
pub(crate) enum Param {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Instant.
    Time(DateTime<Utc>),
    /// Calendar date.
    Date(NaiveDate),
}

/// Conditions joined by AND, with their parameters in placeholder order.
#[derive(Default)]
pub(crate) struct Where {
    clauses: Vec<String>,
    /// The values, `$1` first.
    pub(crate) params: Vec<Param>,
}

impl Where {
    /// Adds `clause`, whose `?` marks are replaced, in order, by the
    /// placeholders of `values`.
    pub(crate) fn add(&mut self, clause: &str, values: Vec<Param>) {
        let mut text = clause.to_owned();
        for value in values {
            self.params.push(value);
            text = text.replacen('?', &format!("${}", self.params.len()), 1);
        }
        self.clauses.push(text);
    }

    /// Adds one more value (a LIMIT, say) and returns its placeholder.
    pub(crate) fn bind(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// The conditions joined, or `TRUE` when there are none.
    pub(crate) fn condition(&self) -> String {
        if self.clauses.is_empty() {
            "TRUE".to_owned()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// Binds every parameter of a [`Where`] to a query, in order.
macro_rules! bind_params {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                $crate::filter::Param::Text(v) => query.bind(v),
                $crate::filter::Param::Int(v) => query.bind(v),
                $crate::filter::Param::Time(v) => query.bind(v),
                $crate::filter::Param::Date(v) => query.bind(v),
            };
        }
        query
    }};
}
pub(crate) use bind_params;
