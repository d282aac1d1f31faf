//! What the HTTP services need of the repository (issue 9): API tokens, jobs claimed across
//! tenants with leases, bundles and scan batches queued as jobs.

use std::time::Duration;

use rand::RngExt;

use super::{Access, Backend, R, Store, now_ms, run_then_commit};
use crate::repo::{TokenRow, Tx};
use crate::types::*;

/// Every token starts so: a secret scanner (and a person) can tell what it is.
const TOKEN_PREFIX: &str = "gab_";
/// Hex digits of a token's id: 48 bits, so that ids of one database do not collide in practice
/// (and a collision is retried).
const TOKEN_ID_DIGITS: usize = 12;
/// Random bytes of a token's secret part (256 bits, as 64 hex digits).
const TOKEN_SECRET_BYTES: usize = 32;

impl Store {
    /// Creates an API token for `tenant` (creating the tenant when it does not exist) with
    /// `scopes`, and returns it: the token itself is shown this once, only its SHA-256 is kept.
    /// Refuses an empty scope list.
    pub async fn create_token(
        &self,
        tenant: &TenantId,
        scopes: &[Scope],
        label: Option<&str>,
    ) -> R<NewToken> {
        if scopes.is_empty() {
            return Err(StoreError::Invalid(
                "a token needs at least one scope (render, scan, results, admin)".into(),
            ));
        }
        let scopes = scopes_str(scopes);
        for _ in 0..3 {
            let (id, token) = new_token();
            let row = TokenRow {
                id: id.clone(),
                tenant_id: tenant.to_string(),
                token_hash: token_hash(&token),
                scopes: scopes.clone(),
                label: label.map(str::to_string),
                created_at: now_ms(),
                revoked_at: None,
            };
            let inserted = with_tx!(self, Write, |tx| insert_token(tx, tenant, &row))?;
            if inserted {
                return Ok(NewToken { id, token });
            }
        }
        Err(StoreError::Corrupt(
            "three new token ids in a row were taken".into(),
        ))
    }

    /// What `token` (as the client sent it, without `Bearer `) grants: `None` when it is
    /// malformed, unknown or revoked. One indexed look-up of the token's SHA-256.
    pub async fn verify_token(&self, token: &str) -> R<Option<Grant>> {
        let Some(id) = token_id_of(token) else {
            return Ok(None);
        };
        let hash = token_hash(token);
        let row = with_tx!(self, Read, one | tx | tx.token_by_hash(&hash))?;
        let Some(row) = row.filter(|r| r.revoked_at.is_none() && r.id == id) else {
            return Ok(None);
        };
        Ok(Some(Grant {
            tenant: TenantId::new(&row.tenant_id)
                .map_err(|_| StoreError::Corrupt(format!("token tenant {:?}", row.tenant_id)))?,
            token_id: row.id,
            scopes: parse_scopes(&row.scopes)?,
        }))
    }

    /// Every token (revoked ones too) of `tenant`, or of every tenant; never their secrets.
    pub async fn tokens(&self, tenant: Option<&TenantId>) -> R<Vec<TokenInfo>> {
        let rows = with_tx!(
            self,
            Read,
            one | tx | tx.tokens(tenant.map(TenantId::as_str))
        )?;
        rows.into_iter()
            .map(|row| -> R<TokenInfo> {
                Ok(TokenInfo {
                    tenant: TenantId::new(&row.tenant_id).map_err(|_| {
                        StoreError::Corrupt(format!("token tenant {:?}", row.tenant_id))
                    })?,
                    scopes: parse_scopes(&row.scopes)?,
                    id: row.id,
                    label: row.label,
                    created_at: row.created_at,
                    revoked_at: row.revoked_at,
                })
            })
            .collect()
    }

    /// Revokes a token by its id; `false` when there is no such token not yet revoked. Takes
    /// effect at the next request (tokens are not cached).
    pub async fn revoke_token(&self, token_id: &str) -> R<bool> {
        let now = now_ms();
        let changed = with_tx!(self, Write, one | tx | tx.revoke_token(token_id, now))?;
        Ok(changed > 0)
    }

    /// Whether the database answers (`SELECT 1`), for a readiness probe.
    pub async fn ping(&self) -> R<()> {
        let result = match &self.backend {
            Backend::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Backend::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        };
        result.map_err(|e| self.explain(e.into()))
    }

    /// Claims a job of one of `kinds`, of any tenant, for `lease`: first one whose worker's
    /// lease ran out, else the queued one ready longest (`run_after` reached). On Postgres two
    /// instances never claim the same job (`FOR UPDATE SKIP LOCKED`); on SQLite claims are
    /// serialised by the write lock.
    ///
    /// A job found that has had `max_attempts` claims already is not claimed again: it is marked
    /// failed, with `gave up after N attempts: …` as its error (the worker stopped, when its
    /// lease ran out; the last attempt's own error, when it was queued again), and the search
    /// goes on.
    pub async fn claim_next_job(
        &self,
        worker: &str,
        kinds: &[&str],
        lease: Duration,
        max_attempts: u32,
    ) -> R<Option<ClaimedJob>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = now_ms();
        let until = now.saturating_add(millis(lease));
        with_tx!(self, Write, |tx| claim_next_job(
            tx,
            worker,
            kinds,
            until,
            now,
            max_attempts
        ))
    }

    /// Extends the lease of a job `worker` holds; `false` when it no longer holds it (its lease
    /// ran out and another worker claimed it, or it was given up on): stop working on it.
    pub async fn renew_job(&self, job_id: i64, worker: &str, lease: Duration) -> R<bool> {
        let now = now_ms();
        let until = now.saturating_add(millis(lease));
        let changed = with_tx!(
            self,
            Write,
            one | tx | tx.renew_job(job_id, worker, until, now)
        )?;
        Ok(changed > 0)
    }

    /// Gives a job `worker` holds back to the queue at once (a graceful shutdown): this claim
    /// does not count as an attempt. Nothing happens when the worker no longer holds it.
    pub async fn release_job(&self, job_id: i64, worker: &str) -> R<()> {
        let now = now_ms();
        with_tx!(self, Write, one | tx | tx.release_job(job_id, worker, now))?;
        Ok(())
    }

    /// A job of the tenant, `None` when it has no such job.
    pub async fn job(&self, tenant: &TenantId, job_id: i64) -> R<Option<JobRecord>> {
        with_tx!(self, Read, one | tx | tx.job(tenant.as_str(), job_id))
    }

    /// How many jobs of each kind are in each status, over every tenant (for metrics).
    pub async fn job_counts(&self) -> R<Vec<JobCount>> {
        let rows = with_tx!(self, Read, one | tx | tx.job_counts())?;
        rows.into_iter()
            .map(|(kind, status, count)| -> R<JobCount> {
                Ok(JobCount {
                    kind,
                    status: JobStatus::parse(&status)?,
                    count: u64::try_from(count).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Records a bundle asked for and queues the job that renders it (`job_kind`,
    /// `job_payload`), in one transaction. `NotFound` when the tenant has no such exam;
    /// `Invalid` when the bundle id is taken.
    pub async fn queue_bundle(
        &self,
        tenant: &TenantId,
        bundle: &NewBundle<'_>,
        job_kind: &str,
        job_payload: &str,
    ) -> R<BundleRecord> {
        with_tx!(self, Write, |tx| queue_bundle(
            tx,
            tenant,
            bundle,
            job_kind,
            job_payload
        ))
    }

    /// A bundle of the tenant, with its job's status; `None` when it has no such bundle.
    pub async fn bundle(&self, tenant: &TenantId, id: &str) -> R<Option<BundleRecord>> {
        with_tx!(self, Read, one | tx | tx.bundle(tenant.as_str(), id))
    }

    /// Records how many pages of a bundle are rendered.
    pub async fn bundle_progress(&self, tenant: &TenantId, id: &str, pages_done: u32) -> R<()> {
        let now = now_ms();
        let changed = with_tx!(
            self,
            Write,
            one | tx | tx.bundle_progress(tenant.as_str(), id, i64::from(pages_done), now)
        )?;
        found(changed, "bundle", id)
    }

    /// Records where a bundle's PDF and manifest were written (every page is then done). The
    /// job is completed separately ([`Store::complete_job`]): a worker that dies between the two
    /// leaves a job that renders the bundle again, never a done job without its PDF.
    pub async fn bundle_written(
        &self,
        tenant: &TenantId,
        id: &str,
        pdf_key: &str,
        manifest_key: &str,
        pdf_bytes: u64,
    ) -> R<()> {
        let now = now_ms();
        let bytes = i64::try_from(pdf_bytes)
            .map_err(|_| StoreError::Invalid(format!("PDF of {pdf_bytes} bytes")))?;
        let changed = with_tx!(
            self,
            Write,
            one | tx | tx.bundle_written(tenant.as_str(), id, pdf_key, manifest_key, bytes, now)
        )?;
        found(changed, "bundle", id)
    }

    /// Records a batch of received scans (in the order given) and queues the job that grades
    /// them, in one transaction. `NotFound` when a scan is not the tenant's; `Invalid` when the
    /// batch id is taken or the batch is empty.
    pub async fn queue_scan_batch(
        &self,
        tenant: &TenantId,
        batch_id: &str,
        scan_ids: &[i64],
        job_kind: &str,
        job_payload: &str,
    ) -> R<ScanBatchRecord> {
        if scan_ids.is_empty() {
            return Err(StoreError::Invalid(format!(
                "scan batch {batch_id:?} has no scans"
            )));
        }
        with_tx!(self, Write, |tx| queue_scan_batch(
            tx,
            tenant,
            batch_id,
            scan_ids,
            job_kind,
            job_payload
        ))
    }

    /// A scan batch of the tenant, with its job's status and its scans' own; `None` when it has
    /// no such batch.
    pub async fn scan_batch(
        &self,
        tenant: &TenantId,
        batch_id: &str,
    ) -> R<Option<ScanBatchRecord>> {
        with_tx!(
            self,
            Read,
            one | tx | tx.scan_batch(tenant.as_str(), batch_id)
        )
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn found(changed: u64, what: &'static str, id: &str) -> R<()> {
    if changed == 0 {
        return Err(StoreError::NotFound {
            what,
            id: id.to_string(),
        });
    }
    Ok(())
}

/// A new (id, token): `gab_` + 12 hex digits of id + `_` + 64 hex digits of secret.
fn new_token() -> (String, String) {
    let mut rng = rand::rng();
    let mut hex = |n: usize| -> String {
        (0..n)
            .map(|_| char::from(HEX[rng.random_range(0..HEX.len())]))
            .collect()
    };
    let id = hex(TOKEN_ID_DIGITS);
    let secret = hex(TOKEN_SECRET_BYTES * 2);
    let token = format!("{TOKEN_PREFIX}{id}_{secret}");
    (id, token)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The id inside a well-formed token; `None` for anything else (which then costs no query).
fn token_id_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| HEX.contains(&b));
    (hex(id, TOKEN_ID_DIGITS) && hex(secret, TOKEN_SECRET_BYTES * 2)).then_some(id)
}

/// What is stored of a token: the hex SHA-256 of the whole token. A fast hash is enough (no
/// password stretching): the secret has 256 random bits, so it cannot be guessed from it.
fn token_hash(token: &str) -> String {
    crate::content_hash(token.as_bytes())
}

async fn insert_token<T: Tx>(mut tx: T, tenant: &TenantId, row: &TokenRow) -> R<bool> {
    tx.ensure_tenant(tenant.as_str(), tenant.as_str(), row.created_at)
        .await?;
    let inserted = tx.insert_token(row).await?;
    tx.commit().await?;
    Ok(inserted)
}

async fn claim_next_job<T: Tx>(
    mut tx: T,
    worker: &str,
    kinds: &[&str],
    lease_until: i64,
    now: i64,
    max_attempts: u32,
) -> R<Option<ClaimedJob>> {
    // Each pass either claims a job or fails one for good, so this ends.
    let claimed = loop {
        let Some(job) = tx.next_claimable(kinds, now).await? else {
            break None;
        };
        let attempts = u32::try_from(job.attempts).unwrap_or_default();
        if attempts >= max_attempts {
            let why = if job.status == JobStatus::Running.as_str() {
                "the worker stopped (lease expired)".to_string()
            } else {
                job.last_error
                    .clone()
                    .unwrap_or_else(|| "no error recorded".into())
            };
            let error = format!("gave up after {attempts} attempts: {why}");
            tx.give_up_job(job.id, &error, now).await?;
            continue;
        }
        tx.start_job(job.id, worker, lease_until, now).await?;
        break Some(ClaimedJob {
            id: job.id,
            tenant: TenantId::new(&job.tenant_id)
                .map_err(|_| StoreError::Corrupt(format!("job tenant {:?}", job.tenant_id)))?,
            kind: job.kind,
            payload: job.payload,
            attempts: attempts.saturating_add(1),
        });
    };
    tx.commit().await?;
    Ok(claimed)
}

async fn queue_bundle<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    bundle: &NewBundle<'_>,
    job_kind: &str,
    job_payload: &str,
) -> R<BundleRecord> {
    let t = tenant.as_str();
    if tx.exam(t, bundle.exam_id).await?.is_none() {
        return Err(StoreError::NotFound {
            what: "exam",
            id: bundle.exam_id.to_string(),
        });
    }
    let now = now_ms();
    let job_id = tx.enqueue_job(t, job_kind, job_payload, now).await?;
    if !tx.insert_bundle(t, bundle, job_id, now).await? {
        return Err(StoreError::Invalid(format!(
            "bundle id {:?} is taken",
            bundle.id
        )));
    }
    let record = tx
        .bundle(t, bundle.id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("bundle {} vanished", bundle.id)))?;
    tx.commit().await?;
    Ok(record)
}

async fn queue_scan_batch<T: Tx>(
    mut tx: T,
    tenant: &TenantId,
    batch_id: &str,
    scan_ids: &[i64],
    job_kind: &str,
    job_payload: &str,
) -> R<ScanBatchRecord> {
    let t = tenant.as_str();
    for &scan in scan_ids {
        if tx.scan(t, scan).await?.is_none() {
            return Err(StoreError::NotFound {
                what: "scan",
                id: scan.to_string(),
            });
        }
    }
    let now = now_ms();
    let job_id = tx.enqueue_job(t, job_kind, job_payload, now).await?;
    if !tx
        .insert_scan_batch(t, batch_id, job_id, scan_ids, now)
        .await?
    {
        return Err(StoreError::Invalid(format!(
            "scan batch id {batch_id:?} is taken"
        )));
    }
    let record = tx
        .scan_batch(t, batch_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("scan batch {batch_id} vanished")))?;
    tx.commit().await?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognised_by_their_shape() {
        let (id, token) = new_token();
        assert_eq!(token_id_of(&token), Some(id.as_str()));
        assert_eq!(token.len(), 4 + 12 + 1 + 64);
        for bad in [
            "",
            "gab_",
            "Bearer x",
            &token[1..],
            &token[..token.len() - 1],
            &format!("{token}0"),
            &token.replace("gab_", "gab-"),
            &token.to_uppercase(),
        ] {
            assert_eq!(token_id_of(bad), None, "{bad:?}");
        }
        assert_ne!(token_hash(&token), token_hash(&new_token().1));
    }

    #[test]
    fn admin_allows_everything() {
        let grant = |scopes: Vec<Scope>| Grant {
            tenant: TenantId::default_tenant(),
            token_id: "x".into(),
            scopes,
        };
        assert!(grant(vec![Scope::Admin]).allows(Scope::Render));
        assert!(grant(vec![Scope::Scan]).allows(Scope::Scan));
        assert!(!grant(vec![Scope::Scan]).allows(Scope::Results));
        assert!(!grant(vec![]).allows(Scope::Scan));
        for s in Scope::ALL {
            assert_eq!(s.to_string().parse::<Scope>().ok(), Some(s));
            assert_eq!(serde_json::to_string(&s).ok(), Some(format!("\"{s}\"")));
        }
        assert!("Admin".parse::<Scope>().is_err());
        assert_eq!(
            scopes_str(&[Scope::Scan, Scope::Render, Scope::Scan]),
            "render,scan"
        );
        assert_eq!(
            parse_scopes("render,scan").ok(),
            Some(vec![Scope::Render, Scope::Scan])
        );
    }
}
