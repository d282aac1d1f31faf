//! The files a `grader grade` run reads, and the names of the pictures it writes about them.
//!
//! Folders are walked recursively, following symbolic links but never into a folder already
//! walked (a link back up the tree is a loop, not more scans); a file reached twice — named twice
//! on the command line, or through a link — is graded once. Within a folder, entries are taken in
//! sorted order, so two runs over the same tree list the same files in the same order.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use anyhow::{Result, bail};

/// The extensions (lower-cased) of the files a folder walk picks up. Files named on the command
/// line are read whatever their extension.
const EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "tif", "tiff", "pdf"];

/// One file to grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The path as found (the command-line argument, or the folder argument joined with the
    /// path below it).
    pub path: PathBuf,
    /// Where its annotated pages go, relative to the `--annotate` folder and without the
    /// `-pN.png` ending: its path below the folder of the run's inputs they all share (e.g.
    /// `a/page` for `scans/a/page.jpg` when grading `scans`), unique within the run.
    pub annotation: PathBuf,
}

impl Input {
    /// The annotated picture of page `page` (1-based) under the `--annotate` folder `dir`.
    pub fn annotation_path(&self, dir: &Path, page: u32) -> PathBuf {
        let mut name: OsString = self
            .annotation
            .file_name()
            .map(OsString::from)
            .unwrap_or_else(|| OsString::from("page"));
        name.push(format!("-p{page}.png"));
        dir.join(&self.annotation).with_file_name(name)
    }
}

/// A file found, before the run's annotation names are given out.
struct Found {
    path: PathBuf,
    /// The canonical path of the folder argument it was found under (the file's own folder
    /// for a file argument).
    root: PathBuf,
    /// Its path below `root`, as walked (through links, not resolved).
    below: PathBuf,
}

/// Every file to grade under `paths`, each once, with its annotation name. An argument that does
/// not exist is an error; a folder below an argument that cannot be read is skipped with a
/// warning on stderr.
pub fn collect(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut walk = Walk::default();
    for p in paths {
        let Ok(canonical) = p.canonicalize() else {
            bail!("no such file or folder: {}", p.display());
        };
        if canonical.is_dir() {
            walk.folder(p, &canonical, Path::new(""));
        } else {
            let root = canonical
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let below = PathBuf::from(canonical.file_name().unwrap_or_default());
            walk.file(p.clone(), canonical, root, below);
        }
    }
    Ok(name_annotations(walk.found))
}

#[derive(Default)]
struct Walk {
    /// Canonical paths of the folders walked so far.
    folders: HashSet<PathBuf>,
    /// Canonical paths of the files listed so far.
    files: HashSet<PathBuf>,
    found: Vec<Found>,
}

impl Walk {
    /// Walks `dir` (canonically `root.join(below)` as reached), unless it was walked already.
    fn folder(&mut self, root: &Path, canonical_root: &Path, below: &Path) {
        let dir = root.join(below);
        let Ok(canonical) = dir.canonicalize() else {
            return;
        };
        if !self.folders.insert(canonical) {
            return;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                eprintln!("grader: {}: folder skipped: {e}", dir.display());
                return;
            }
        };
        let mut names: Vec<OsString> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            let below = below.join(&name);
            let path = root.join(&below);
            // `is_dir` follows links: a linked folder is walked (once), a broken link is neither.
            if path.is_dir() {
                self.folder(root, canonical_root, &below);
            } else if has_scan_extension(&path)
                && let Ok(canonical) = path.canonicalize()
            {
                self.file(path, canonical, canonical_root.to_path_buf(), below);
            }
        }
    }

    fn file(&mut self, path: PathBuf, canonical: PathBuf, root: PathBuf, below: PathBuf) {
        if self.files.insert(canonical) {
            self.found.push(Found { path, root, below });
        }
    }
}

fn has_scan_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Names every file's annotations after its path below the folder all the run's roots share.
/// Two files can still meet on one name (`page.jpg` beside `page.png`, or case on a file system
/// that ignores it): the later one keeps its extension in the name, then gets a `~N` suffix.
fn name_annotations(found: Vec<Found>) -> Vec<Input> {
    let base = common_ancestor(found.iter().map(|f| f.root.as_path()));
    let mut taken: HashSet<String> = HashSet::new();
    found
        .into_iter()
        .map(|f| {
            let full = relative(&f.root, base.as_deref()).join(&f.below);
            let stem = full.with_extension("");
            let candidates = [stem.clone(), full.clone()];
            let annotation = candidates
                .into_iter()
                .chain((2..).map(|n| {
                    let mut name = full.clone().into_os_string();
                    name.push(format!("~{n}"));
                    PathBuf::from(name)
                }))
                .find(|c| taken.insert(c.to_string_lossy().to_lowercase()))
                .unwrap_or(stem);
            Input {
                path: f.path,
                annotation,
            }
        })
        .collect()
}

/// The deepest folder that holds every one of `roots` (all canonical), if they share one.
fn common_ancestor<'a>(mut roots: impl Iterator<Item = &'a Path>) -> Option<PathBuf> {
    let mut base = roots.next()?.to_path_buf();
    for root in roots {
        while !root.starts_with(&base) {
            if !base.pop() {
                return None;
            }
        }
    }
    Some(base)
}

/// `root` below `base`, or (with no shared folder, e.g. two Windows drives) `root` without its
/// prefix: never an absolute path, so that annotations stay inside the `--annotate` folder.
fn relative(root: &Path, base: Option<&Path>) -> PathBuf {
    let below = base.and_then(|b| root.strip_prefix(b).ok()).unwrap_or(root);
    below
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder of its own for one test, removed afterwards (no dev-dependency for this).
    struct TempDir(PathBuf);

    impl TempDir {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn tempdir(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("grader-files-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Canonical, so that paths compare with what `collect` finds (e.g. /tmp a link).
        TempDir(dir.canonicalize().expect("canonical temp dir"))
    }

    fn touch(path: &Path) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(path, path.to_string_lossy().as_bytes()).expect("write");
    }

    fn names(inputs: &[Input], base: &Path) -> Vec<String> {
        inputs
            .iter()
            .map(|i| {
                i.path
                    .strip_prefix(base)
                    .unwrap_or(&i.path)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    fn annotations(inputs: &[Input]) -> Vec<String> {
        inputs
            .iter()
            .map(|i| {
                i.annotation_path(Path::new("OUT"), 1)
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_walked_once() {
        let tmp = tempdir("loop");
        let scans = tmp.path().join("scans");
        for f in ["a.jpg", "b.png", "sub/c.pdf"] {
            touch(&scans.join(f));
        }
        std::os::unix::fs::symlink("..", scans.join("sub/up")).expect("symlink");
        std::os::unix::fs::symlink(".", scans.join("here")).expect("symlink");
        std::os::unix::fs::symlink(&scans, scans.join("sub/again")).expect("symlink");
        let inputs = collect(std::slice::from_ref(&scans)).expect("collect");
        assert_eq!(names(&inputs, &scans), ["a.jpg", "b.png", "sub/c.pdf"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_named_twice_or_through_a_link_is_listed_once() {
        let tmp = tempdir("twice");
        let a = tmp.path().join("a.jpg");
        touch(&a);
        let link = tmp.path().join("link.jpg");
        std::os::unix::fs::symlink(&a, &link).expect("symlink");
        let inputs =
            collect(&[a.clone(), a.clone(), link, tmp.path().to_path_buf()]).expect("collect");
        assert_eq!(names(&inputs, tmp.path()), ["a.jpg"]);
    }

    #[test]
    fn folders_are_walked_in_sorted_order_and_other_files_skipped() {
        let tmp = tempdir("sorted");
        for f in ["z.JPG", "m/b.tiff", "a.txt", "m/a.jpeg", "b.pdf"] {
            touch(&tmp.path().join(f));
        }
        let inputs = collect(&[tmp.path().to_path_buf()]).expect("collect");
        assert_eq!(
            names(&inputs, tmp.path()),
            ["b.pdf", "m/a.jpeg", "m/b.tiff", "z.JPG"]
        );
    }

    #[test]
    fn a_missing_argument_is_named() {
        let tmp = tempdir("missing");
        let missing = tmp.path().join("nope");
        let err = collect(std::slice::from_ref(&missing)).expect_err("missing");
        assert!(err.to_string().contains(&missing.display().to_string()));
    }

    #[test]
    fn same_named_pages_in_two_folders_get_two_annotations() {
        let tmp = tempdir("same_named");
        let scans = tmp.path().join("scans");
        for f in [
            "a/page.jpg",
            "b/page.jpg",
            "page.jpg",
            "page.png",
            "PAGE.tif",
        ] {
            touch(&scans.join(f));
        }
        let inputs = collect(&[scans]).expect("collect");
        let got = annotations(&inputs);
        assert_eq!(
            got,
            [
                "OUT/PAGE-p1.png",
                "OUT/a/page-p1.png",
                "OUT/b/page-p1.png",
                "OUT/page.jpg-p1.png",
                "OUT/page.png-p1.png",
            ]
        );
    }

    #[test]
    fn files_from_two_folders_are_named_below_the_folder_they_share() {
        let tmp = tempdir("two_folders");
        let a = tmp.path().join("a/page.jpg");
        let b = tmp.path().join("b/page.jpg");
        touch(&a);
        touch(&b);
        let inputs = collect(&[a, b.clone()]).expect("collect");
        assert_eq!(
            annotations(&inputs),
            ["OUT/a/page-p1.png", "OUT/b/page-p1.png"]
        );
        // One file alone keeps the name it always had.
        let inputs = collect(&[b]).expect("collect");
        assert_eq!(annotations(&inputs), ["OUT/page-p1.png"]);
    }

    #[test]
    fn annotation_names_never_leave_the_output_folder() {
        assert_eq!(relative(Path::new("/x/y"), None), PathBuf::from("x/y"));
        assert_eq!(
            relative(Path::new("/x/y"), Some(Path::new("/x"))),
            PathBuf::from("y")
        );
        assert_eq!(
            common_ancestor([Path::new("/s/a"), Path::new("/s/b/c")].into_iter()),
            Some(PathBuf::from("/s"))
        );
    }
}
