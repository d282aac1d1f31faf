//! `grader batch SOURCE`: one task of a Cloud Run Job — grade this task's shard of every object
//! under `gs://BUCKET/PREFIX` (or a folder), once.
//!
//! - **Shards**: an object belongs to task [`shard_of`] its name (below SOURCE) among
//!   `CLOUD_RUN_TASK_COUNT`: the same task on every attempt, without any coordination between
//!   tasks. The listing is paged and sharded as it comes: a page of names at a time.
//! - **Once**: a scan is received by content hash (the same bytes are one scan of the school),
//!   and a chunk of scans is recorded in one transaction that records only scans still
//!   `received`. So a retried task (`CLOUD_RUN_TASK_ATTEMPT` ≥ 1), a second run over the same
//!   prefix, or the same bytes under two names in two tasks count each scan once: what is
//!   recorded already is "already graded". A task killed mid-chunk leaves that chunk's scans
//!   `received`; its retry grades them.
//! - **Memory**: a page of names (≤ 1,000) and one chunk of scans' bytes (≤ `--chunk` scans,
//!   ≤ [`CHUNK_BYTES`] of them), each chunk dropped once recorded.
//! - **Exit**: 0 when every object of the shard is recorded (graded, already graded, or
//!   recorded as not a readable scan, for review); 1 when some could not be processed (each
//!   named on stderr: storage or database errors, names that are not keys; a retry takes them
//!   up); 2 when the task could not run (no database, the listing failed).

use std::num::NonZeroUsize;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use grader::StoreDirectory;
use grader::cloud_ocr::{self, OcrChain, Round, ScanPages};
use grader::grading::{Grading, Ingested, RecordedPage, ScanVerdict};
use pipeline::decode::DecodeError;
use pipeline::{Grader, Limits};
use rayon::prelude::*;
use store::cli::error_line;
use store::{ListedObject, NewScan, ObjectStore};

use super::{EXIT_ATTENTION, EXIT_OK};

/// Names asked for per listing call (Cloud Storage's largest page).
const LIST_PAGE: usize = 1000;

/// At most this many bytes of scans are held at once (a chunk is cut short to stay below it).
pub const CHUNK_BYTES: u64 = 256 * 1024 * 1024;

/// Arguments of `grader batch`.
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// Where the scans are: `gs://BUCKET/PREFIX` or a folder. Every object under it is taken
    /// as a scan (an image or a PDF) of the school's registered sheets.
    source: String,
    /// This task's number, from 0 (Cloud Run sets it).
    #[arg(long, env = "CLOUD_RUN_TASK_INDEX", default_value_t = 0)]
    task_index: u64,
    /// How many tasks share the source (Cloud Run sets it).
    #[arg(long, env = "CLOUD_RUN_TASK_COUNT", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..))]
    task_count: u64,
    /// Which attempt at this task this is, from 0 (Cloud Run sets it). A retry does the same
    /// work and counts nothing twice; the number is only reported.
    #[arg(long, env = "CLOUD_RUN_TASK_ATTEMPT", default_value_t = 0)]
    task_attempt: u64,
    /// Scans graded and recorded together, in one transaction.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1000))]
    chunk: u64,
    /// Worker threads, at most the number of cores (default: all cores).
    #[arg(long, value_name = "N", value_parser = super::jobs::parse)]
    jobs: Option<NonZeroUsize>,
    /// Read the marks of pages whose code cannot be read with this exam's layout (by default,
    /// with the layout all the school's sheets share, if they share one).
    #[arg(long, value_name = "EXAM")]
    exam: Option<String>,
    #[command(flatten)]
    storage: super::storage::StorageArgs,
    #[command(flatten)]
    ocr: grader::cloud_ocr::OcrArgs,
    #[command(flatten)]
    db: super::db::DbArgs,
}

/// Runs the subcommand; `Err` is a fatal error (exit code 2).
pub fn run(args: BatchArgs) -> Result<u8> {
    if args.task_index >= args.task_count {
        bail!(
            "task index {} is not below the task count {} (CLOUD_RUN_TASK_INDEX, CLOUD_RUN_TASK_COUNT)",
            args.task_index,
            args.task_count
        );
    }
    let tenant = args.db.tenant()?;
    let chain = OcrChain::from_args(&args.ocr)?;
    // I/O (listing, downloads, the database) on the runtime; grading on the worker threads.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(super::jobs::worker_threads(args.jobs))
        .build()
        .context("cannot start worker threads")?;
    let summary = rt.block_on(async {
        let store = args.db.open().await?;
        let objects = args.storage.open().await?;
        let source = args.storage.open_at(&args.source).await?;
        let directory = StoreDirectory::load_in(
            tokio::runtime::Handle::current(),
            store.clone(),
            tenant.clone(),
            args.exam.as_deref(),
        )
        .await?;
        let limits = Limits::default();
        let grader =
            chain.configure(Grader::with_directory(Box::new(directory)).with_limits(limits));
        let task = Task {
            grading: Grading {
                store: &store,
                objects: objects.as_ref(),
                tenant: &tenant,
            },
            grader: &grader,
            chain: &chain,
            pool: &pool,
            source: Arc::clone(&source),
            limits,
            task: args.task_index,
        };
        let summary = task.run(&args).await;
        store.close().await;
        summary
    })?;
    println!(
        "grader batch: task {} of {} (attempt {}) over {}: listed {}, mine {}, graded {}, \
         already graded {}, to review {}, failed {}",
        args.task_index,
        args.task_count,
        args.task_attempt,
        args.source,
        summary.listed,
        summary.mine,
        summary.graded,
        summary.already,
        summary.review,
        summary.failed
    );
    if summary.failed > 0 {
        eprintln!(
            "grader batch: {} objects could not be processed (named above); run the task again \
             to take them up",
            summary.failed
        );
        return Ok(EXIT_ATTENTION);
    }
    Ok(EXIT_OK)
}

/// The task an object named `name` belongs to, of `count`: a 64-bit FNV-1a hash of the name,
/// mixed (splitmix64's finaliser, so that the low bits spread), modulo `count`. Stable across
/// runs, attempts, machines and versions (std's hasher is randomly seeded).
pub fn shard_of(name: &str, count: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    h % count.max(1)
}

/// What one task did.
#[derive(Debug, Default)]
struct Summary {
    /// Objects listed under the source (every task lists them all).
    listed: u64,
    /// Objects of this task's shard.
    mine: u64,
    /// Scans graded and recorded by this task.
    graded: u64,
    /// Objects whose scan was recorded before (an earlier attempt or run, the same bytes
    /// under another name).
    already: u64,
    /// Scans graded by this task with something for a person to look at (also files that are
    /// not readable scans, recorded as failed).
    review: u64,
    /// Objects that could not be processed: nothing recorded of them.
    failed: u64,
}

/// What a chunk is graded with.
struct Task<'a> {
    grading: Grading<'a>,
    grader: &'a Grader,
    chain: &'a OcrChain,
    pool: &'a rayon::ThreadPool,
    source: Arc<dyn ObjectStore>,
    limits: Limits,
    /// This task's index, for the log.
    task: u64,
}

/// An object of the chunk, read.
enum Fetched {
    /// Its bytes.
    Bytes(Vec<u8>),
    /// Too large to grade: its content hash, read in pieces, to record the refusal under.
    TooLarge(String),
}

impl Task<'_> {
    /// Lists the source page by page, keeps this task's objects and grades them chunk by chunk.
    async fn run(&self, args: &BatchArgs) -> Result<Summary> {
        let mut summary = Summary::default();
        let chunk_len = usize::try_from(args.chunk).unwrap_or(32);
        let mut chunk: Vec<ListedObject> = Vec::with_capacity(chunk_len);
        let mut bytes = 0u64;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .source
                .list(token.as_deref(), LIST_PAGE)
                .await
                .with_context(|| format!("cannot list {}", self.source.describe()))?;
            for object in page.objects {
                summary.listed += 1;
                if shard_of(&object.name, args.task_count) != args.task_index {
                    continue;
                }
                summary.mine += 1;
                let size = object.len.min(self.limits.max_file_bytes);
                if !chunk.is_empty() && (chunk.len() >= chunk_len || bytes + size > CHUNK_BYTES) {
                    self.process(std::mem::take(&mut chunk), &mut summary).await;
                    bytes = 0;
                }
                bytes += size;
                chunk.push(object);
            }
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        if !chunk.is_empty() {
            self.process(chunk, &mut summary).await;
        }
        Ok(summary)
    }

    /// Reads, stores, receives, grades and records one chunk. Whatever fails is counted and
    /// named, and the batch goes on.
    async fn process(&self, chunk: Vec<ListedObject>, summary: &mut Summary) {
        let fail = |summary: &mut Summary, name: &str, why: &str| {
            eprintln!("grader batch: {name}: not processed: {why}");
            summary.failed += 1;
        };
        // Read the chunk's objects at once (I/O bound).
        let mut reads = tokio::task::JoinSet::new();
        for (i, object) in chunk.iter().enumerate() {
            let source = Arc::clone(&self.source);
            let object = object.clone();
            let max = self.limits.max_file_bytes;
            reads.spawn(async move { (i, fetch(source.as_ref(), &object, max).await) });
        }
        let mut fetched: Vec<Option<Result<Fetched, String>>> =
            (0..chunk.len()).map(|_| None).collect();
        while let Some(done) = reads.join_next().await {
            if let Ok((i, result)) = done
                && let Some(slot) = fetched.get_mut(i)
            {
                *slot = Some(result);
            }
        }
        // Store each scan by content hash before anything else is done with it.
        let mut scans: Vec<NewScan> = Vec::new();
        let mut held: Vec<(usize, Option<Vec<u8>>)> = Vec::new();
        for (i, result) in fetched.into_iter().enumerate() {
            let object = &chunk[i];
            match result {
                Some(Ok(Fetched::Bytes(bytes))) => {
                    match self.grading.store_bytes(&object.name, &bytes).await {
                        Ok(scan) => {
                            scans.push(scan);
                            held.push((i, Some(bytes)));
                        }
                        Err(e) => fail(summary, &object.name, &error_line(&e)),
                    }
                }
                Some(Ok(Fetched::TooLarge(hash))) => {
                    scans.push(NewScan {
                        content_hash: hash,
                        object_key: String::new(),
                        byte_len: object.len,
                        file_name: object.name.clone(),
                    });
                    held.push((i, None));
                }
                Some(Err(why)) => fail(summary, &object.name, &why),
                None => fail(summary, &object.name, "its read did not finish"),
            }
        }
        if scans.is_empty() {
            return;
        }
        let received = match self.grading.receive_chunk(&scans).await {
            Ok(received) => received,
            Err(e) => {
                let why = format!("cannot record its scan: {}", error_line(&e));
                for (i, _) in &held {
                    fail(summary, &chunk[*i].name, &why);
                }
                return;
            }
        };
        drop(scans);
        // What is recorded already stays as it is; the same bytes twice in a chunk are graded
        // once.
        let mut to_grade: Vec<(usize, Ingested, Option<Vec<u8>>)> = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for ((i, bytes), ingested) in held.into_iter().zip(received) {
            if ingested.grade.is_none() || !taken.insert(ingested.scan_id) {
                summary.already += 1;
                continue;
            }
            to_grade.push((i, ingested, bytes));
        }
        let max = self.limits.max_file_bytes;
        let pages: Vec<ScanPages> = self.pool.install(|| {
            to_grade
                .par_iter()
                .map(|(i, _, bytes)| {
                    let object = &chunk[*i];
                    match bytes {
                        Some(bytes) => {
                            cloud_ocr::grade_pages(self.grader, &object.name, bytes, |_| {})
                        }
                        None => ScanPages::Ready(vec![RecordedPage::refused(
                            &object.name,
                            DecodeError::FileTooLarge(object.len, max).to_string(),
                        )]),
                    }
                })
                .collect()
        });
        // Pages no local step identified go to Cloud Vision, 16 a call, across the chunk.
        let mut graded: Vec<(Ingested, Vec<RecordedPage>)> = Vec::new();
        let mut names: Vec<usize> = Vec::new();
        let mut round: Round<usize> = Round::new();
        for ((i, ingested, _), pages) in to_grade.into_iter().zip(pages) {
            match pages {
                ScanPages::Ready(pages) => {
                    names.push(i);
                    graded.push((ingested, pages));
                }
                ScanPages::Waiting(pages) => round.hold(i, ingested, pages),
            }
        }
        while let Some(batch) = round.take(true) {
            let texts = match &self.chain.vision {
                Some(client) => cloud_ocr::read_batch(client, &batch).await,
                None => vec![None; batch.len()],
            };
            let finished = self
                .pool
                .install(|| cloud_ocr::finish_batch(self.grader, batch, texts, |_| {}));
            for complete in round.put(finished) {
                names.push(complete.tag);
                graded.push((complete.ingested, complete.pages));
            }
        }
        if graded.is_empty() {
            return;
        }
        let outcomes = match self.grading.record_chunk(&graded).await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                let why = format!("not recorded: {}", error_line(&e));
                for i in &names {
                    fail(summary, &chunk[*i].name, &why);
                }
                return;
            }
        };
        let before = summary.graded;
        for ((i, (_, pages)), outcome) in names.iter().zip(&graded).zip(outcomes) {
            match outcome.verdict {
                ScanVerdict::AlreadyGraded => {
                    summary.already += 1;
                    continue;
                }
                ScanVerdict::Graded | ScanVerdict::Regraded | ScanVerdict::Refused => {
                    summary.graded += 1;
                }
            }
            if outcome.open {
                summary.review += 1;
            }
            if let [only] = pages.as_slice()
                && only.whole_file_failed
            {
                eprintln!(
                    "grader batch: {}: not a readable scan: {} (recorded for review)",
                    chunk[*i].name,
                    only.report.error.as_deref().unwrap_or("unknown error")
                );
            }
        }
        // A line a chunk, so that a long task's log shows it moving.
        eprintln!(
            "grader batch: task {}: chunk recorded: {} graded ({} graded of {} listed as mine so far)",
            self.task,
            summary.graded - before,
            summary.graded,
            summary.mine
        );
    }
}

/// Reads a listed object: its bytes, or, past `max`, only its hash (read in pieces).
async fn fetch(
    source: &dyn ObjectStore,
    object: &ListedObject,
    max: u64,
) -> Result<Fetched, String> {
    let Some(key) = object.key.as_deref() else {
        return Err(
            "its name is not a valid object key (segments of letters, digits, '.', '-' \
             and '_' between '/'): rename it"
                .into(),
        );
    };
    if object.len > max {
        let reader = source
            .read_range(key, 0..object.len)
            .await
            .map_err(|e| error_line(&e))?;
        let hash = store::objects::content_hash_of_reader(reader)
            .await
            .map_err(|e| format!("cannot read it: {e}"))?;
        return Ok(Fetched::TooLarge(hash));
    }
    source
        .get(key)
        .await
        .map(Fetched::Bytes)
        .map_err(|e| error_line(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_even() {
        // Fixed values: the shard of a name must never change between versions, or a retried
        // task of a newer image would take other objects than its first attempt.
        assert_eq!(shard_of("escola-a/tray-1/0001.jpg", 1), 0);
        assert_eq!(shard_of("escola-a/tray-1/0001.jpg", 10), 6);
        assert_eq!(shard_of("escola-a/tray-1/0002.jpg", 1000), 93);
        assert_eq!(shard_of("s1.jpg", 7), 4);
        let first: Vec<u64> = (0..20).map(|i| shard_of(&format!("s{i}.jpg"), 7)).collect();
        let again: Vec<u64> = (0..20).map(|i| shard_of(&format!("s{i}.jpg"), 7)).collect();
        assert_eq!(first, again);
        for count in [2u64, 3, 10] {
            let mut per = vec![0u64; count as usize];
            for i in 0..10_000 {
                per[shard_of(&format!("lote-3/bandeja-{}/{i:05}.jpg", i % 7), count) as usize] += 1;
            }
            let even = 10_000 / count;
            assert!(
                per.iter().all(|&n| n.abs_diff(even) < even / 10),
                "{count} tasks: {per:?}"
            );
        }
    }
}
