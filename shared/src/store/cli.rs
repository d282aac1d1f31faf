//! The `--db` and `--tenant` options every command that uses the database takes, in both
//! binaries (feature `cli`).

use clap::Args;

use super::{DEFAULT_DATABASE_URL, DEFAULT_TENANT, Store, StoreError, TenantId};

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
