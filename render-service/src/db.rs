//! The database side of the command line (issue 4): `--db`/`--tenant`, registering a rendered
//! bundle, and `render-service migrate`.

use anyhow::{Context, Result};
use clap::Args;
use shared::Bundle;
use shared::store::{DEFAULT_DATABASE_URL, DEFAULT_TENANT, Store, TenantId};

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

async fn open(db: &DbArgs) -> Result<Store> {
    let store = Store::connect(&db.url)
        .await
        .context("cannot open the database")?;
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// Registers the exam and every sheet of `bundle`; returns the exam's id.
pub fn register(db: &DbArgs, bundle: &Bundle) -> Result<String> {
    let tenant = TenantId::new(&db.tenant)?;
    let rt = shared::store::runtime()?;
    rt.block_on(async {
        let store = open(db).await?;
        let id = store
            .register_bundle(&tenant, bundle)
            .await
            .context("cannot register the bundle");
        store.close().await;
        id
    })
}

/// `render-service migrate`.
pub fn migrate(db: &DbArgs) -> Result<()> {
    let rt = shared::store::runtime()?;
    rt.block_on(async {
        let store = open(db).await?;
        eprintln!("{} database is up to date", store.backend_name());
        store.close().await;
        Ok(())
    })
}
