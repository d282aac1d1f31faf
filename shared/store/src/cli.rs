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
