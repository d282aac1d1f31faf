//! The statements of batched recording ([`crate::Store::record_chunk`],
//! [`crate::Store::receive_scans`]): each takes the rows of a whole chunk of scans and sends
//! them as multi-row statements, so that recording costs a handful of round trips per chunk
//! rather than a dozen per page. Like [`super::Tx`], written once and compiled for each driver;
//! only the row locks differ.

use std::future::Future;

use model::scoring::ReadAnswer;

use super::{MarkRow, NewReview, PageRow, R, ScanRow, SheetRow, scan_row, sheet_row};
use crate::types::{NewScan, StoreError, marked_str, state_str};

/// Ids and keys are sent this many to a statement (one bind each).
const LIST_ROWS: usize = super::BATCH_ROWS;
/// Marks are inserted this many to a statement: five binds a row, under SQLite's 32,766.
const MARK_ROWS: usize = 6000;

/// A page row as inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InsertedPage {
    pub id: i64,
    pub scan_id: i64,
    pub page: i32,
}

/// A page that counts, of an answer sheet a chunk touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CurrentPageRow {
    pub sheet_group: String,
    pub version: String,
    /// The student the sheet was printed for.
    pub student_id: Option<String>,
    /// The number read on the page's grid (anonymous sheets).
    pub student_number: Option<String>,
    pub page_id: i64,
}

/// A review item as inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InsertedReview {
    pub id: i64,
    pub scan_id: i64,
    pub page_id: Option<i64>,
}

/// The multi-row operations of batched recording, inside one transaction.
pub(crate) trait ChunkTx: Send {
    /// Inserts the scans not received yet (by content hash), the others left alone; returns
    /// the content hashes inserted.
    fn insert_scans(
        &mut self,
        tenant: &str,
        scans: &[NewScan],
        now: i64,
    ) -> impl Future<Output = R<Vec<String>>> + Send;
    fn scans_by_hashes(
        &mut self,
        tenant: &str,
        hashes: &[&str],
    ) -> impl Future<Output = R<Vec<ScanRow>>> + Send;
    /// (id, status) of the scans, holding their row locks (Postgres), taken in id order so that
    /// concurrent chunks sharing a scan wait for each other instead of deadlocking.
    fn lock_scans(
        &mut self,
        tenant: &str,
        ids: &[i64],
    ) -> impl Future<Output = R<Vec<(i64, String)>>> + Send;
    /// Which of the scans have pages recorded.
    fn scans_with_pages(
        &mut self,
        tenant: &str,
        ids: &[i64],
    ) -> impl Future<Output = R<Vec<i64>>> + Send;
    /// The sheets of `codes` that exist, without their layouts, locked in code order
    /// (Postgres): two chunks recording pages of one sheet take turns, so that the later one
    /// sees the earlier one's page when it decides which page counts.
    fn lock_sheets(
        &mut self,
        tenant: &str,
        codes: &[String],
    ) -> impl Future<Output = R<Vec<SheetRow>>> + Send;
    fn insert_pages(
        &mut self,
        tenant: &str,
        pages: &[PageRow<'_>],
        now: i64,
    ) -> impl Future<Output = R<Vec<InsertedPage>>> + Send;
    /// Inserts marks: (page id, what was read).
    fn insert_marks_of(
        &mut self,
        tenant: &str,
        marks: &[(i64, &ReadAnswer)],
    ) -> impl Future<Output = R<()>> + Send;
    fn insert_reviews(
        &mut self,
        tenant: &str,
        items: &[NewReview<'_>],
        now: i64,
    ) -> impl Future<Output = R<Vec<InsertedReview>>> + Send;
    /// [`super::Tx::resupersede`] for several sheets at once.
    fn resupersede_codes(
        &mut self,
        tenant: &str,
        codes: &[String],
    ) -> impl Future<Output = R<()>> + Send;
    fn set_scans_graded(
        &mut self,
        tenant: &str,
        ids: &[i64],
        now: i64,
    ) -> impl Future<Output = R<()>> + Send;
    /// The pages that count of several answer sheets: what [`super::Tx::groups`] aggregates,
    /// one row a page, with the page's id, so that the caller can tell which pages it holds
    /// the marks of already.
    fn current_pages_in(
        &mut self,
        tenant: &str,
        groups: &[String],
    ) -> impl Future<Output = R<Vec<CurrentPageRow>>> + Send;
    /// [`super::Tx::marks`] for several answer sheets at once.
    fn marks_in(
        &mut self,
        tenant: &str,
        groups: &[String],
    ) -> impl Future<Output = R<Vec<MarkRow>>> + Send;
}

macro_rules! impl_chunk_tx {
    ($db:ty, lock = $lock:literal, lock_sheets = $lock_sheets:literal, insert_marks = $insert_marks:path) => {
        impl<'c> ChunkTx for sqlx::Transaction<'c, $db> {
            async fn insert_scans(&mut self, tenant: &str, scans: &[NewScan], now: i64) -> R<Vec<String>> {
                let mut lens = Vec::with_capacity(scans.len());
                for s in scans {
                    lens.push(i64::try_from(s.byte_len).map_err(|_| {
                        StoreError::Invalid("scan larger than 2^63 bytes".into())
                    })?);
                }
                let rows: Vec<(&NewScan, i64)> = scans.iter().zip(lens).collect();
                let mut inserted = Vec::new();
                for chunk in rows.chunks(super::BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO scans (tenant_id, content_hash, object_key, byte_len, file_name, \
                         status, received_at) ",
                    );
                    b.push_values(chunk, |mut row, (s, len)| {
                        row.push_bind(tenant.to_string())
                            .push_bind(s.content_hash.clone())
                            .push_bind(s.object_key.clone())
                            .push_bind(*len)
                            .push_bind(s.file_name.clone())
                            .push_bind("received")
                            .push_bind(now);
                    });
                    b.push(" ON CONFLICT (tenant_id, content_hash) DO NOTHING RETURNING content_hash");
                    for row in b.build().fetch_all(&mut **self).await? {
                        inserted.push(sqlx::Row::try_get(&row, "content_hash")?);
                    }
                }
                Ok(inserted)
            }

            async fn scans_by_hashes(&mut self, tenant: &str, hashes: &[&str]) -> R<Vec<ScanRow>> {
                let mut out = Vec::with_capacity(hashes.len());
                for chunk in hashes.chunks(LIST_ROWS) {
                    let mut b =
                        sqlx::QueryBuilder::<$db>::new(scan_select!("tenant_id = "));
                    b.push_bind(tenant.to_string());
                    b.push(" AND content_hash IN (");
                    let mut list = b.separated(", ");
                    for h in chunk {
                        list.push_bind(h.to_string());
                    }
                    b.push(")");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(scan_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn lock_scans(&mut self, tenant: &str, ids: &[i64]) -> R<Vec<(i64, String)>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(LIST_ROWS) {
                    let mut b =
                        sqlx::QueryBuilder::<$db>::new("SELECT id, status FROM scans WHERE tenant_id = ");
                    b.push_bind(tenant.to_string());
                    b.push(" AND id IN (");
                    let mut list = b.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    b.push(") ORDER BY id");
                    b.push($lock);
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push((
                            sqlx::Row::try_get(&row, "id")?,
                            sqlx::Row::try_get(&row, "status")?,
                        ));
                    }
                }
                Ok(out)
            }

            async fn scans_with_pages(&mut self, tenant: &str, ids: &[i64]) -> R<Vec<i64>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(LIST_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "SELECT DISTINCT scan_id FROM scan_pages WHERE tenant_id = ",
                    );
                    b.push_bind(tenant.to_string());
                    b.push(" AND scan_id IN (");
                    let mut list = b.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    b.push(")");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(sqlx::Row::try_get(&row, "scan_id")?);
                    }
                }
                Ok(out)
            }

            async fn lock_sheets(&mut self, tenant: &str, codes: &[String]) -> R<Vec<SheetRow>> {
                let mut out = Vec::with_capacity(codes.len());
                for chunk in codes.chunks(LIST_ROWS) {
                    let mut b =
                        sqlx::QueryBuilder::<$db>::new(sheet_identity_select!("s.tenant_id = "));
                    b.push_bind(tenant.to_string());
                    b.push(" AND s.code IN (");
                    let mut list = b.separated(", ");
                    for c in chunk {
                        list.push_bind(c.clone());
                    }
                    b.push(") ORDER BY s.code");
                    b.push($lock_sheets);
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(sheet_row(&row)?);
                    }
                }
                Ok(out)
            }

            async fn insert_pages(
                &mut self,
                tenant: &str,
                pages: &[PageRow<'_>],
                now: i64,
            ) -> R<Vec<InsertedPage>> {
                let mut out = Vec::with_capacity(pages.len());
                for chunk in pages.chunks(super::BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO scan_pages (tenant_id, scan_id, page, sheet_code, exam_id, \
                         identified_by, error, superseded, graded_at, student_number, outcome) ",
                    );
                    b.push_values(chunk, |mut row, p| {
                        row.push_bind(tenant.to_string())
                            .push_bind(p.scan_id)
                            .push_bind(p.page)
                            .push_bind(p.sheet_code.map(str::to_string))
                            .push_bind(p.exam_id.map(str::to_string))
                            .push_bind(p.identified_by.map(str::to_string))
                            .push_bind(p.error.map(str::to_string))
                            .push_bind(false)
                            .push_bind(now)
                            .push_bind(p.student_number.map(str::to_string))
                            .push_bind(p.outcome.map(str::to_string));
                    });
                    // Neither backend promises RETURNING in VALUES order: (scan, page) is unique.
                    b.push(" RETURNING id, scan_id, page");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(InsertedPage {
                            id: sqlx::Row::try_get(&row, "id")?,
                            scan_id: sqlx::Row::try_get(&row, "scan_id")?,
                            page: sqlx::Row::try_get(&row, "page")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn insert_marks_of(&mut self, tenant: &str, marks: &[(i64, &ReadAnswer)]) -> R<()> {
                $insert_marks(self, tenant, marks).await
            }

            async fn insert_reviews(
                &mut self,
                tenant: &str,
                items: &[NewReview<'_>],
                now: i64,
            ) -> R<Vec<InsertedReview>> {
                let mut out = Vec::with_capacity(items.len());
                for chunk in items.chunks(super::BATCH_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO review_items (tenant_id, exam_id, scan_id, page_id, sheet_code, \
                         question, reason, status, created_at) ",
                    );
                    b.push_values(chunk, |mut row, r| {
                        row.push_bind(tenant.to_string())
                            .push_bind(r.exam_id.map(str::to_string))
                            .push_bind(r.scan_id)
                            .push_bind(r.page_id)
                            .push_bind(r.sheet_code.map(str::to_string))
                            .push_bind(r.question)
                            .push_bind(r.reason.to_string())
                            .push_bind("open")
                            .push_bind(now);
                    });
                    b.push(" RETURNING id, scan_id, page_id");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(InsertedReview {
                            id: sqlx::Row::try_get(&row, "id")?,
                            scan_id: sqlx::Row::try_get(&row, "scan_id")?,
                            page_id: sqlx::Row::try_get(&row, "page_id")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn resupersede_codes(&mut self, tenant: &str, codes: &[String]) -> R<()> {
                for chunk in codes.chunks(LIST_ROWS) {
                    // The latest identified page of each sheet counts; the others are kept,
                    // superseded. Rows that keep their value are not written.
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE scan_pages SET superseded = NOT superseded WHERE superseded = \
                         (id = (SELECT l.id FROM scan_pages l WHERE l.tenant_id = scan_pages.tenant_id \
                         AND l.sheet_code = scan_pages.sheet_code AND l.error IS NULL \
                         ORDER BY l.scan_id DESC, l.page DESC LIMIT 1)) AND error IS NULL AND tenant_id = ",
                    );
                    b.push_bind(tenant.to_string());
                    b.push(" AND sheet_code IN (");
                    let mut list = b.separated(", ");
                    for c in chunk {
                        list.push_bind(c.clone());
                    }
                    b.push(")");
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn set_scans_graded(&mut self, tenant: &str, ids: &[i64], now: i64) -> R<()> {
                for chunk in ids.chunks(LIST_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE scans SET status = 'graded', error = NULL, graded_at = ",
                    );
                    b.push_bind(now);
                    b.push(" WHERE tenant_id = ");
                    b.push_bind(tenant.to_string());
                    b.push(" AND id IN (");
                    let mut list = b.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    b.push(")");
                    b.build().execute(&mut **self).await?;
                }
                Ok(())
            }

            async fn current_pages_in(&mut self, tenant: &str, groups: &[String]) -> R<Vec<CurrentPageRow>> {
                let mut out = Vec::with_capacity(groups.len());
                for chunk in groups.chunks(LIST_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(concat!(
                        "SELECT s.sheet_group, s.version, s.student_id, p.student_number, p.id AS page_id ",
                        current_pages!(groups_in, "")
                    ));
                    b.push_bind(tenant.to_string());
                    b.push(" AND s.sheet_group IN (");
                    let mut list = b.separated(", ");
                    for g in chunk {
                        list.push_bind(g.clone());
                    }
                    b.push(") ORDER BY s.sheet_group, s.version, p.id");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(CurrentPageRow {
                            sheet_group: sqlx::Row::try_get(&row, "sheet_group")?,
                            version: sqlx::Row::try_get(&row, "version")?,
                            student_id: sqlx::Row::try_get(&row, "student_id")?,
                            student_number: sqlx::Row::try_get(&row, "student_number")?,
                            page_id: sqlx::Row::try_get(&row, "page_id")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn marks_in(&mut self, tenant: &str, groups: &[String]) -> R<Vec<MarkRow>> {
                let mut out = Vec::new();
                for chunk in groups.chunks(LIST_ROWS) {
                    let mut b = sqlx::QueryBuilder::<$db>::new(concat!(
                        marks_head!(),
                        current_pages!(
                            groups_in,
                            "JOIN marks m ON m.tenant_id = p.tenant_id AND m.page_id = p.id"
                        )
                    ));
                    b.push_bind(tenant.to_string());
                    b.push(" AND s.sheet_group IN (");
                    let mut list = b.separated(", ");
                    for g in chunk {
                        list.push_bind(g.clone());
                    }
                    b.push(") ORDER BY s.sheet_group, m.question");
                    for row in b.build().fetch_all(&mut **self).await? {
                        out.push(MarkRow {
                            sheet_group: sqlx::Row::try_get(&row, "sheet_group")?,
                            question: sqlx::Row::try_get(&row, "question")?,
                            marked: sqlx::Row::try_get(&row, "marked")?,
                            state: sqlx::Row::try_get(&row, "state")?,
                        });
                    }
                }
                Ok(out)
            }
        }
    };
}

/// The question number as stored.
fn question(a: &ReadAnswer) -> R<i32> {
    i32::try_from(a.question)
        .map_err(|_| StoreError::Invalid(format!("question number {} out of range", a.question)))
}

/// Marks on Postgres: `COPY … FROM STDIN` (text format), several times faster than multi-row
/// inserts for the ~90 rows of every page, and no limit on bound parameters.
async fn copy_marks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    tenant: &str,
    marks: &[(i64, &ReadAnswer)],
) -> R<()> {
    use std::fmt::Write;
    if marks.is_empty() {
        return Ok(());
    }
    let tenant = copy_text(tenant);
    let mut data = String::with_capacity(marks.len() * (tenant.len() + 24));
    for (page_id, a) in marks {
        let _ = writeln!(
            data,
            "{tenant}\t{page_id}\t{}\t{}\t{}",
            question(a)?,
            marked_str(&a.marked),
            state_str(a.state)
        );
    }
    let mut copy = tx
        .copy_in_raw("COPY marks (tenant_id, page_id, question, marked, state) FROM STDIN")
        .await?;
    // The data is a few hundred KB a chunk: sent in one piece (the driver frames it).
    if let Err(e) = copy.send(data.into_bytes()).await {
        let _ = copy.abort("send failed").await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// A value in COPY's text format: backslash, tab, newline and carriage return escaped.
fn copy_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Marks on SQLite: multi-row inserts (an embedded database: no round trips to save, only
/// statements to prepare).
async fn insert_marks_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    tenant: &str,
    marks: &[(i64, &ReadAnswer)],
) -> R<()> {
    for chunk in marks.chunks(MARK_ROWS) {
        let rows = chunk
            .iter()
            .map(|(p, a)| Ok((*p, question(a)?, marked_str(&a.marked), state_str(a.state))))
            .collect::<R<Vec<_>>>()?;
        let mut b = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO marks (tenant_id, page_id, question, marked, state) ",
        );
        b.push_values(rows, |mut row, (page_id, question, marked, state)| {
            row.push_bind(tenant.to_string())
                .push_bind(page_id)
                .push_bind(question)
                .push_bind(marked)
                .push_bind(state);
        });
        b.build().execute(&mut **tx).await?;
    }
    Ok(())
}

impl_chunk_tx!(
    sqlx::Postgres,
    lock = " FOR UPDATE",
    lock_sheets = " FOR UPDATE OF s",
    insert_marks = copy_marks
);

// SQLite has no row locks; its write transactions are serialised instead (see `db.rs`).
impl_chunk_tx!(
    sqlx::Sqlite,
    lock = "",
    lock_sheets = "",
    insert_marks = insert_marks_sqlite
);

#[cfg(test)]
mod tests {
    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        assert_eq!(super::copy_text("escola-a"), "escola-a");
        assert_eq!(super::copy_text("a\tb\\c\nd"), "a\\tb\\\\c\\nd");
    }
}
