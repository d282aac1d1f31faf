//! The migrations of each backend, embedded in the binary (`shared/store/migrations/{postgres,sqlite}`).
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
        include_str!("../migrations/postgres/0001_state.sql"),
    ),
    (
        2,
        "student number",
        include_str!("../migrations/postgres/0002_student_number.sql"),
    ),
    (
        3,
        "layouts",
        include_str!("../migrations/postgres/0003_layouts.sql"),
    ),
    (
        5,
        "outcomes",
        include_str!("../migrations/postgres/0005_outcomes.sql"),
    ),
    (
        6,
        "services",
        include_str!("../migrations/postgres/0006_services.sql"),
    ),
    (
        7,
        "ocr steps",
        include_str!("../migrations/postgres/0007_ocr_steps.sql"),
    ),
    (
        8,
        "booklet pages",
        include_str!("../migrations/postgres/0008_booklet_pages.sql"),
    ),
    (
        9,
        "recording at scale",
        include_str!("../migrations/postgres/0009_recording_at_scale.sql"),
    ),
];

/// (version, description, SQL) of every SQLite migration, in order. Same versions as Postgres.
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "state",
        include_str!("../migrations/sqlite/0001_state.sql"),
    ),
    (
        2,
        "student number",
        include_str!("../migrations/sqlite/0002_student_number.sql"),
    ),
    (
        3,
        "layouts",
        include_str!("../migrations/sqlite/0003_layouts.sql"),
    ),
    (
        5,
        "outcomes",
        include_str!("../migrations/sqlite/0005_outcomes.sql"),
    ),
    (
        6,
        "services",
        include_str!("../migrations/sqlite/0006_services.sql"),
    ),
    (
        7,
        "ocr steps",
        include_str!("../migrations/sqlite/0007_ocr_steps.sql"),
    ),
    (
        8,
        "booklet pages",
        include_str!("../migrations/sqlite/0008_booklet_pages.sql"),
    ),
    (
        9,
        "recording at scale",
        include_str!("../migrations/sqlite/0009_recording_at_scale.sql"),
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

    /// A sheet registered before migration 3 (its layout inline in the row) is still read after
    /// it: SQLite's table rebuild keeps every row.
    #[tokio::test]
    async fn sheets_registered_before_shared_layouts_survive_the_sqlite_rebuild() {
        use std::sync::Arc;

        use crate::{Store, TenantId};
        use model::layout::{SheetShape, layout_sheet};
        use model::{Exam, SheetCode};

        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("old.sqlite").display());
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        migrator(&SQLITE[..2])
            .run(&pool)
            .await
            .expect("migrations 1-2");
        let exam = Exam::from_json(r#"{"title":"T","questions":[{"key":"A"}]}"#).expect("exam");
        let layout = Arc::new(layout_sheet(&SheetShape::of(&exam, false)).remove(0));
        let code = SheetCode::random();
        for sql in [
            "INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', 0)".to_string(),
            format!(
                "INSERT INTO exams (tenant_id, id, title, exam_json, revision, created_at, \
                 updated_at) VALUES ('t', 'ex', 'T', '{}', 1, 0, 0)",
                serde_json::to_string(&exam).expect("json")
            ),
            format!(
                "INSERT INTO sheets (tenant_id, code, exam_id, version, student_id, sheet_group, \
                 sheet_page, sheet_pages, pdf_page, layout_json, layout_version, created_at) \
                 VALUES ('t', '{c}', 'ex', 'A', 's1', '{c}', 1, 1, 1, '{}', 1, 0)",
                serde_json::to_string(layout.as_ref()).expect("json"),
                c = code.printed()
            ),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("old row");
        }
        pool.close().await;

        let store = Store::connect(&url).await.expect("reopen");
        store.migrate().await.expect("migration 3");
        let tenant = TenantId::new("t").expect("tenant");
        let sheet = store
            .sheet(&tenant, &code)
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(sheet.layout, *layout);
        assert_eq!(sheet.student_id.as_deref(), Some("s1"));
        store.close().await;
    }

    /// A page identified by the one OCR step there was before issue 10 (`ocr`, an external
    /// reader) reads as the cloud OCR after migration 7, in its column and its outcome JSON.
    #[tokio::test]
    async fn pages_identified_by_the_old_ocr_step_become_ocr_vision() {
        use crate::Store;

        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("old.sqlite").display());
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
        let before_7 = SQLITE.iter().take_while(|m| m.0 < 7).count();
        migrator(&SQLITE[..before_7])
            .run(&pool)
            .await
            .expect("migrations before 7");
        for sql in [
            "INSERT INTO tenants (id, name, created_at) VALUES ('t', 't', 0)",
            "INSERT INTO scans (id, tenant_id, content_hash, object_key, byte_len, file_name, \
             status, received_at) VALUES (1, 't', 'h', 'k', 1, 'a.jpg', 'graded', 0)",
            "INSERT INTO scan_pages (tenant_id, scan_id, page, identified_by, superseded, \
             graded_at, outcome) VALUES ('t', 1, 1, 'ocr', false, 0, \
             '{\"page\":1,\"identified_by\":\"ocr\"}')",
            "INSERT INTO scan_pages (tenant_id, scan_id, page, identified_by, superseded, \
             graded_at, outcome) VALUES ('t', 1, 2, 'qr-rxing', false, 0, \
             '{\"page\":2,\"identified_by\":\"qr-rxing\"}')",
        ] {
            sqlx::query(sql).execute(&pool).await.expect("old row");
        }
        pool.close().await;

        let store = Store::connect(&url).await.expect("reopen");
        store.migrate().await.expect("migration 7");
        store.close().await;
        let pool = sqlx::SqlitePool::connect(&url).await.expect("open");
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT identified_by, outcome FROM scan_pages ORDER BY page")
                .fetch_all(&pool)
                .await
                .expect("rows");
        assert_eq!(
            rows,
            vec![
                (
                    "ocr-vision".to_string(),
                    r#"{"page":1,"identified_by":"ocr-vision"}"#.to_string()
                ),
                (
                    "qr-rxing".to_string(),
                    r#"{"page":2,"identified_by":"qr-rxing"}"#.to_string()
                ),
            ]
        );
        pool.close().await;
    }
}
