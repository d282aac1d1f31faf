//! Writing a rendered bundle to a directory as `bundle.pdf` + `bundle.json`, so that a reader
//! never sees a half-written file under the final names.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

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

impl RenderedBundle {
    /// The manifest as written to `bundle.json`: compact (it lists every bubble of every page;
    /// pretty-printing would more than double it), newline-terminated.
    pub fn manifest_json(&self) -> serde_json::Result<Vec<u8>> {
        let mut json = serde_json::to_vec(&self.manifest)?;
        json.push(b'\n');
        Ok(json)
    }

    /// Writes `dir/bundle.pdf` and `dir/bundle.json` (creating `dir`): each goes to a
    /// temporary file in `dir` first, synced, then renamed over the final name.
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        let fail = |path: &Path| {
            let path = path.to_path_buf();
            move |source| WriteError { path, source }
        };
        let json = self
            .manifest_json()
            .map_err(|e| fail(&dir.join("bundle.json"))(std::io::Error::other(e)))?;
        fs::create_dir_all(dir).map_err(fail(dir))?;
        let pdf_tmp = write_temp(dir, "bundle.pdf", &self.pdf)?;
        let json_tmp = match write_temp(dir, "bundle.json", &json) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_file(&pdf_tmp);
                return Err(e);
            }
        };
        for (tmp, name) in [(&pdf_tmp, "bundle.pdf"), (&json_tmp, "bundle.json")] {
            let target = dir.join(name);
            if let Err(e) = fs::rename(tmp, &target) {
                let _ = fs::remove_file(&pdf_tmp);
                let _ = fs::remove_file(&json_tmp);
                return Err(fail(&target)(e));
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to a hidden temporary file in `dir` and syncs it; returns its path.
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
            Err(WriteError { path, source })
        }
    }
}
