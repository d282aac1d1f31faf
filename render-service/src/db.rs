//! The database side of the command line (issue 4): `--db`/`--tenant`, registering a rendered
//! bundle, and `render-service migrate`.

use anyhow::{Context, Result};
use model::Bundle;
pub use store::cli::DbArgs;

/// Registers the exam and every sheet of `bundle`; returns the exam's id.
pub fn register(db: &DbArgs, bundle: &Bundle) -> Result<String> {
    let tenant = db.tenant()?;
    let rt = store::runtime()?;
    rt.block_on(async {
        let store = db.open().await?;
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
    let rt = store::runtime()?;
    rt.block_on(async {
        let store = db.open().await?;
        eprintln!("{} database is up to date", store.backend_name());
        store.close().await;
        Ok(())
    })
}
