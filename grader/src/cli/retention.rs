//! `grader retention`: delete what the retention rules say has been kept long enough, from the
//! local object folder. The rules are Cloud Storage lifecycle rules (`deploy/lifecycle.json` by
//! default, built in), which Cloud Storage applies by itself to a bucket; this applies the same
//! ones to a folder, by the age of each file (days since it was last written).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Args;
use gcs::lifecycle::{DEFAULT_RULES, Retention};

use super::EXIT_OK;

/// Arguments of `grader retention`.
#[derive(Args, Debug)]
pub struct RetentionArgs {
    /// The object folder (the services' GABARITO_STORAGE). A gs:// bucket is refused: Cloud
    /// Storage applies lifecycle rules itself (`gcloud storage buckets update gs://BUCKET
    /// --lifecycle-file=deploy/lifecycle.json`).
    #[arg(
        long,
        env = "GABARITO_STORAGE",
        default_value = "gabarito-objects",
        value_name = "DIR"
    )]
    storage: String,
    /// A lifecycle file (Cloud Storage's JSON: Delete rules with age and matchesPrefix);
    /// default: the rules of deploy/lifecycle.json (scans 365 days, bundles 180, annotated
    /// images 30).
    #[arg(long, env = "GABARITO_RETENTION_RULES", value_name = "FILE")]
    rules: Option<PathBuf>,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// What a pass found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Files past their age (deleted unless a dry run).
    pub expired: u64,
    /// Their bytes.
    pub expired_bytes: u64,
    /// Files kept.
    pub kept: u64,
}

/// Runs the subcommand.
pub fn run(args: RetentionArgs) -> Result<u8> {
    if args.storage.starts_with("gs://") {
        bail!(
            "{} is a Cloud Storage bucket: its lifecycle rules delete objects there (gcloud storage \
             buckets update {} --lifecycle-file=deploy/lifecycle.json); this command is for a \
             local folder",
            args.storage,
            args.storage
        );
    }
    let rules = match &args.rules {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => DEFAULT_RULES.to_string(),
    };
    let retention = Retention::parse(&rules).context("retention rules")?;
    let root = Path::new(&args.storage);
    if !root.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let pass = apply(
        root,
        &retention,
        SystemTime::now(),
        args.dry_run,
        &mut |key, days| {
            let verb = if args.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            println!("{verb} {key} ({days} days old)");
        },
    )?;
    eprintln!(
        "grader: {} {} files ({:.1} MiB) past their retention, kept {}",
        if args.dry_run {
            "would delete"
        } else {
            "deleted"
        },
        pass.expired,
        pass.expired_bytes as f64 / (1024.0 * 1024.0),
        pass.kept
    );
    Ok(EXIT_OK)
}

/// Walks `root`, deleting (unless `dry_run`) every object whose age at `now` reaches its rule's;
/// `each` hears of every one (its key and age in days).
pub fn apply(
    root: &Path,
    retention: &Retention,
    now: SystemTime,
    dry_run: bool,
    each: &mut dyn FnMut(&str, u64),
) -> Result<Pass> {
    let mut pass = Pass::default();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list {}", folder.display()))?;
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                folders.push(path);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Some(key) = key_of(root, &path) else {
                // Not an object (a writer's temporary file, a stray name): not ours to judge.
                continue;
            };
            let Some(days) = retention.age_days(&gcs::object_name("", &key)) else {
                pass.kept += 1;
                continue;
            };
            let meta = entry.metadata()?;
            let age = now
                .duration_since(meta.modified()?)
                .unwrap_or(Duration::ZERO);
            let age_days = age.as_secs() / 86_400;
            if age_days >= u64::from(days) {
                each(&key, age_days);
                pass.expired += 1;
                pass.expired_bytes += meta.len();
                if !dry_run {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("cannot delete {}", path.display()))?;
                }
            } else {
                pass.kept += 1;
            }
        }
    }
    Ok(pass)
}

/// The key of the file at `path` under `root`, when it is a valid one.
fn key_of(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = relative.iter().map(|p| p.to_str()).collect();
    let parts = parts?;
    // `.tmp-…`: an object being written (LocalObjects writes aside, then renames).
    if parts.iter().any(|p| p.starts_with('.')) {
        return None;
    }
    let key = parts.join("/");
    store::objects::check_key(&key).ok().map(|()| key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_kept_its_time_and_dry_runs_delete_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let files = [
            "escola-a/scans/ab/abcd",
            "escola-a/bundles/b1/bundle.pdf",
            "escola-a/annotated/1/p1.png",
            "escola-a/inbox/lote.pdf",
            "escola-a/scans/ab/.tmp-0123",
        ];
        for f in files {
            let path = root.join(f);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, b"x").expect("write");
        }
        let rules = Retention::parse(DEFAULT_RULES).expect("rules");
        let day = Duration::from_secs(86_400);
        let at = |days: u64| SystemTime::now() + day * days as u32;
        let run = |days, dry| {
            let mut seen = Vec::new();
            let pass = apply(root, &rules, at(days), dry, &mut |k, _| {
                seen.push(k.to_string())
            })
            .expect("apply");
            seen.sort();
            (pass.expired, seen)
        };
        assert_eq!(run(1, false).0, 0);
        // A month on, annotated images go (a dry run first: nothing deleted).
        assert_eq!(run(31, true).1, vec!["escola-a/annotated/1/p1.png"]);
        assert_eq!(run(31, true).1, vec!["escola-a/annotated/1/p1.png"]);
        assert_eq!(run(31, false).0, 1);
        assert!(!root.join(files[2]).exists());
        assert_eq!(run(200, false).1, vec!["escola-a/bundles/b1/bundle.pdf"]);
        assert_eq!(
            run(366, false).1,
            vec!["escola-a/inbox/lote.pdf", "escola-a/scans/ab/abcd"]
        );
        // A writer's temporary file is not an object: left alone.
        assert!(root.join(files[4]).exists());
    }
}
