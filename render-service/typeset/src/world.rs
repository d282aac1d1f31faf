//! The typst `World` of a booklet: one generated source, the figures' bytes as virtual files,
//! the fonts compiled into the binary. No network, no file system, no clock.

use std::collections::HashMap;
use std::sync::LazyLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

/// The fonts every booklet may use, parsed once per process: Libertinus Serif (text, with
/// Portuguese accents, bold and italic), New Computer Modern Math (a MATH table for formulas),
/// DejaVu Sans Mono (LaTeX printed as typed when it does not convert).
static FONTS: LazyLock<(LazyHash<FontBook>, Vec<Font>)> = LazyLock::new(|| {
    let fonts: Vec<Font> = typst_assets::fonts()
        .flat_map(|data| Font::iter(Bytes::new(data)))
        .collect();
    (LazyHash::new(FontBook::from_fonts(&fonts)), fonts)
});

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

/// A file id for a virtual path of the booklet's project.
pub fn file_id(path: &str) -> Option<FileId> {
    let vpath = VirtualPath::new(path).ok()?;
    Some(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

/// One compile's world.
pub struct BookletWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
}

impl BookletWorld {
    /// A world whose main file is `source` and whose other files are `files` (virtual path,
    /// bytes).
    pub fn new(source: String, files: Vec<(FileId, Vec<u8>)>) -> Option<Self> {
        let main = Source::new(file_id("/booklet.typ")?, source);
        Some(Self {
            main,
            files: files
                .into_iter()
                .map(|(id, bytes)| (id, Bytes::new(bytes)))
                .collect(),
        })
    }

    /// The main source.
    pub fn main_source(&self) -> &Source {
        &self.main
    }
}

impl World for BookletWorld {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.0
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        self.files.get(&id).cloned().ok_or(FileError::AccessDenied)
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.1.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        None
    }
}
