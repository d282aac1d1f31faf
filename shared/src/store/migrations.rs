//! The migrations of each backend, embedded in the binary (`shared/migrations/{postgres,sqlite}`).
//!
//! Built by hand rather than with `sqlx::migrate!`, which needs sqlx's proc-macro crate (and a
//! second build of the drivers for the host) only to do what `include_str!` does here. Versions
//! and checksums are sqlx's own, so the `sqlx` CLI sees the same history.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) of every Postgres migration, in order.
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "state",
        include_str!("../../migrations/postgres/0001_state.sql"),
    ),
    (
        2,
        "student number",
        include_str!("../../migrations/postgres/0002_student_number.sql"),
    ),
];

/// (version, description, SQL) of every SQLite migration, in order. Same versions as Postgres.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "state",
        include_str!("../../migrations/sqlite/0001_state.sql"),
    ),
    (
        2,
        "student number",
        include_str!("../../migrations/sqlite/0002_student_number.sql"),
    ),
];

fn migrator(list: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations: Vec<Migration> = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// The Postgres migrator.
pub(crate) fn postgres() -> Migrator {
    migrator(POSTGRES)
}

/// The SQLite migrator.
pub(crate) fn sqlite() -> Migrator {
    migrator(SQLITE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_versions() {
        let versions = |l: &'static [(i64, &'static str, &'static str)]| {
            l.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>()
        };
        assert_eq!(versions(POSTGRES), versions(SQLITE));
    }
}
