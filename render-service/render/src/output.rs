//! Writing a rendered bundle to a directory as `bundle.pdf` + `bundle.json`, so that a reader
//! never sees a half-written file under the final names.
//!
//! Writing is staged so that a caller can register the bundle only once its files are known to
//! be writable: [`RenderedBundle::stage`] writes the PDF under a temporary name (which proves
//! the directory usable), [`StagedBundle::commit`] then writes the manifest (which carries the
//! registered exam's id) and renames both into place. A stage dropped without a commit removes
//! its temporary files. [`StagedBundle::begin`] and [`StagedBundle::create`] stage files the
//! renderer writes as it goes, so that a bundle is never held in memory.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use model::Bundle;

use crate::RenderedBundle;

/// A file of the bundle could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    /// The file or directory that failed.
    pub path: PathBuf,
    /// Why (the error's `source()`).
    pub source: std::io::Error,
}

/// The names the bundle's files take in their directory.
const PDF_NAME: &str = "bundle.pdf";
/// See [`PDF_NAME`].
const JSON_NAME: &str = "bundle.json";

/// A bundle whose PDF is written, under a temporary name, in its output directory; its
/// manifest is not yet. Dropping it without [`StagedBundle::commit`] removes what it wrote.
#[derive(Debug)]
pub struct StagedBundle {
    dir: PathBuf,
    /// Whether staging created `dir` (then an abandoned stage removes it again).
    created: bool,
    /// Temporary files written so far and their final names, removed on drop unless
    /// committed.
    temps: Vec<(PathBuf, String)>,
}

impl RenderedBundle {
    /// The manifest as written to `bundle.json`: compact (it lists every bubble of every page;
    /// pretty-printing would more than double it), newline-terminated.
    pub fn manifest_json(&self) -> serde_json::Result<Vec<u8>> {
        manifest_json(&self.manifest)
    }

    /// Writes `dir/bundle.pdf` and `dir/bundle.json` (creating `dir`): each goes to a
    /// temporary file in `dir` first, synced, then renamed over the final name.
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        self.stage(dir)?.commit(&self.manifest)
    }

    /// Creates `dir` if needed and writes the PDF there under a temporary name, synced: after
    /// this, only the manifest remains to write. Refuses a directory whose final names are
    /// taken by something that cannot be replaced (a directory).
    pub fn stage(&self, dir: &Path) -> Result<StagedBundle, WriteError> {
        stage_files(dir, &[(PDF_NAME, &self.pdf)])
    }
}

/// A rendered bundle of one or more PDF files (one per class when split), held in memory.
#[derive(Debug, Clone)]
pub struct RenderedFiles {
    /// Each PDF file's name and bytes, in print order.
    pub files: Vec<(String, Vec<u8>)>,
    /// The content of `bundle.json`.
    pub manifest: Bundle,
}

impl RenderedFiles {
    /// Bytes of all the PDF files.
    pub fn pdf_bytes(&self) -> usize {
        self.files.iter().map(|(_, b)| b.len()).sum()
    }
}

/// Creates `dir` if needed and writes each of `files` there under a temporary name, synced.
fn stage_files(dir: &Path, files: &[(&str, &[u8])]) -> Result<StagedBundle, WriteError> {
    let mut staged = StagedBundle::begin(dir)?;
    for (name, _) in files {
        staged.refuse_directory(name)?;
    }
    for (name, bytes) in files {
        let tmp = write_temp(dir, name, bytes)?;
        staged.temps.push((tmp, name.to_string()));
    }
    Ok(staged)
}

impl StagedBundle {
    /// An empty stage in `dir` (created if needed), whose files are then written as they are
    /// rendered ([`StagedBundle::create`]): a bundle streamed to disk, never held in memory.
    pub fn begin(dir: &Path) -> Result<Self, WriteError> {
        let created = fs::symlink_metadata(dir).is_err();
        if fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
            // create_dir_all would only say "File exists".
            return Err(WriteError {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file has this name, not a folder",
                ),
            });
        }
        fs::create_dir_all(dir).map_err(|source| WriteError {
            path: dir.to_path_buf(),
            source,
        })?;
        let staged = Self {
            dir: dir.to_path_buf(),
            created,
            temps: Vec::new(),
        };
        staged.refuse_directory(JSON_NAME)?;
        Ok(staged)
    }

    /// Refuses a final name that a directory has (a rename could not replace it).
    fn refuse_directory(&self, name: &str) -> Result<(), WriteError> {
        let target = self.dir.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            return Err(WriteError {
                path: target,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a directory has this name",
                ),
            });
        }
        Ok(())
    }

    /// Creates file `name` of the bundle under a temporary name in the stage's folder, for the
    /// renderer to write; it takes its name on [`StagedBundle::commit`], synced first.
    pub fn create(&mut self, name: &str) -> Result<fs::File, WriteError> {
        self.refuse_directory(name)?;
        let path = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = fs::File::create(&path).map_err(|source| WriteError {
            path: self.dir.join(name),
            source,
        })?;
        self.temps.push((path, name.to_string()));
        Ok(file)
    }

    /// Writes `manifest` as `bundle.json` (to a temporary name), then renames the PDF and the
    /// manifest into place. On failure, the temporary files are removed.
    pub fn commit(mut self, manifest: &Bundle) -> Result<(), WriteError> {
        let json = manifest_json(manifest).map_err(|e| WriteError {
            path: self.dir.join(JSON_NAME),
            source: std::io::Error::other(e),
        })?;
        // Files the renderer wrote through `create` reach the disk before any takes its name.
        for (tmp, name) in &self.temps {
            fs::File::open(tmp)
                .and_then(|f| f.sync_all())
                .map_err(|source| WriteError {
                    path: self.dir.join(name),
                    source,
                })?;
        }
        let tmp = write_temp(&self.dir, JSON_NAME, &json)?;
        self.temps.push((tmp, JSON_NAME.to_string()));
        for (tmp, name) in &self.temps {
            let target = self.dir.join(name);
            fs::rename(tmp, &target).map_err(|source| WriteError {
                path: target,
                source,
            })?;
        }
        self.temps.clear();
        self.created = false;
        Ok(())
    }
}

impl Drop for StagedBundle {
    fn drop(&mut self) {
        for (tmp, _) in &self.temps {
            // Already renamed, or never fully written: either way nothing more to clean.
            let _ = fs::remove_file(tmp);
        }
        if self.created {
            // Only when empty: never remove anything this stage did not write.
            let _ = fs::remove_dir(&self.dir);
        }
    }
}

/// `manifest` as written to `bundle.json`.
fn manifest_json(manifest: &Bundle) -> serde_json::Result<Vec<u8>> {
    let mut json = serde_json::to_vec(manifest)?;
    json.push(b'\n');
    Ok(json)
}

/// Writes `bytes` to a hidden temporary file in `dir` and syncs it; returns its path. An error
/// names the file's final name, which is the one the user knows.
fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, WriteError> {
    let path = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::File::create(&path)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(path),
        Err(source) => {
            let _ = fs::remove_file(&path);
            Err(WriteError {
                path: dir.join(name),
                source,
            })
        }
    }
}
