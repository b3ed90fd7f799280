//! Where the database is: a SQLite file or a PostgreSQL URL.

use crate::StoreError;
use std::path::PathBuf;

/// A parsed database location.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An embedded SQLite database file.
    SqliteFile(PathBuf),
    /// A PostgreSQL connection URL (may hold a password).
    Postgres(String),
}

impl std::fmt::Debug for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseLocation {
    /// Reads `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or
    /// `postgresql://…`; anything else is an error naming the accepted forms.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "the SQLite URL names no file; use sqlite:///absolute/path/kefu.db or sqlite://relative/kefu.db".into(),
                ));
            }
            return Ok(DatabaseLocation::SqliteFile(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(url.to_owned()));
        }
        Err(StoreError::Invalid(format!(
            "the database URL {:?} is not understood; use postgres://user:password@host:5432/database, or sqlite:///path/to/kefu.db (or leave it unset for the embedded database under the data directory)",
            redact_url(url)
        )))
    }

    /// The location with any password replaced by `***`, for logs and output.
    pub fn redacted(&self) -> String {
        match self {
            DatabaseLocation::SqliteFile(path) => format!("sqlite://{}", path.display()),
            DatabaseLocation::Postgres(url) => redact_url(url),
        }
    }
}

/// Replaces the password in `scheme://user:password@host…` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_backends() {
        assert_eq!(
            DatabaseLocation::parse("sqlite:///var/lib/kefu/kefu.db").ok(),
            Some(DatabaseLocation::SqliteFile("/var/lib/kefu/kefu.db".into()))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:data/kefu.db?mode=rwc").ok(),
            Some(DatabaseLocation::SqliteFile("data/kefu.db".into()))
        );
        assert!(matches!(
            DatabaseLocation::parse("postgres://kefu@127.0.0.1/kefu"),
            Ok(DatabaseLocation::Postgres(_))
        ));
        assert!(DatabaseLocation::parse("mysql://x").is_err());
        assert!(DatabaseLocation::parse("sqlite://").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let loc = DatabaseLocation::parse("postgres://kefu:s3cret@db:5432/kefu").ok();
        let text = loc.map(|l| l.redacted()).unwrap_or_default();
        assert_eq!(text, "postgres://kefu:***@db:5432/kefu");
        assert!(
            !format!(
                "{:?}",
                DatabaseLocation::Postgres("postgres://a:pw@h/d".into())
            )
            .contains("pw")
        );
        let Err(error) = DatabaseLocation::parse("mysql://root:hunter2@h/d") else {
            panic!("mysql accepted");
        };
        assert!(!error.to_string().contains("hunter2"));
    }
}
