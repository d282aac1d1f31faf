//! What both command-line programs share (feature `cli`): the `--db` and `--tenant` options,
//! and how an error is told in one line.

use clap::Args;

use crate::{DEFAULT_DATABASE_URL, DEFAULT_TENANT, Store, StoreError, TenantId};

/// Which database, and which school in it.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Database: a postgres:// URL, or an SQLite file (`sqlite:PATH` or a path).
    #[arg(long = "db", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, value_name = "URL")]
    pub url: String,
    /// The school (tenant) to act for.
    #[arg(long, env = "GABARITO_TENANT", default_value = DEFAULT_TENANT)]
    pub tenant: String,
}

impl DbArgs {
    /// The tenant, checked.
    pub fn tenant(&self) -> Result<TenantId, StoreError> {
        TenantId::new(&self.tenant)
    }

    /// Opens the database and brings its schema up to date.
    pub async fn open(&self) -> Result<Store, StoreError> {
        let store = Store::connect(&self.url).await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// A read replica, for what only reads (results and statistics): Cloud SQL's read replicas
/// take those reads off the primary that a national batch is writing to.
#[derive(Args, Debug, Clone, Default)]
pub struct ReadDbArgs {
    /// A read replica of the database (a postgres:// URL) for results and statistics. Unset or
    /// empty: they are read from the database itself.
    // Not `url`: clap names an argument by its field, and [`DbArgs::url`] is flattened beside it.
    #[arg(long = "read-db", env = "DATABASE_READ_URL", value_name = "URL")]
    pub read_url: Option<String>,
}

impl ReadDbArgs {
    /// The replica's URL, if one is set (an empty variable, as a deployment template may leave
    /// it, is none).
    pub fn url(&self) -> Option<&str> {
        self.read_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
    }

    /// The replica, opened but not migrated (a replica follows its primary's schema, and
    /// takes no writes), or `None` when none is set.
    pub async fn open(&self) -> Result<Option<Store>, StoreError> {
        match self.url() {
            Some(url) => Ok(Some(Store::connect(url).await?)),
            None => Ok(None),
        }
    }
}

/// Which database, for commands that act across schools (`grader token list`/`revoke`):
/// `--db` alone, as in [`DbArgs`].
#[derive(Args, Debug, Clone)]
pub struct DbUrlArgs {
    /// Database: a postgres:// URL, or an SQLite file (`sqlite:PATH` or a path).
    #[arg(long = "db", env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, value_name = "URL")]
    pub url: String,
}

impl DbUrlArgs {
    /// Opens the database and brings its schema up to date.
    pub async fn open(&self) -> Result<Store, StoreError> {
        let store = Store::connect(&self.url).await?;
        store.migrate().await?;
        Ok(store)
    }
}

/// An error and its causes in one line, each cause once: libraries often repeat their
/// source's message in their own, which a plain walk of the chain would print twice or more.
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("database: {0}")]
        Database(#[from] Inner),
        #[error("cannot open the database")]
        Open(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused")]
    struct Inner;

    #[test]
    fn a_read_database_is_optional_and_empty_means_unset() {
        let none = ReadDbArgs::default();
        assert_eq!(none.url(), None);
        let empty = ReadDbArgs {
            read_url: Some("  ".into()),
        };
        assert_eq!(empty.url(), None);
        let set = ReadDbArgs {
            read_url: Some("postgres://replica/gabarito".into()),
        };
        assert_eq!(set.url(), Some("postgres://replica/gabarito"));
    }

    #[test]
    fn each_cause_is_told_once() {
        assert_eq!(
            error_line(&Outer::Database(Inner)),
            "database: connection refused"
        );
        assert_eq!(
            error_line(&Outer::Open(Inner)),
            "cannot open the database: connection refused"
        );
    }
}
