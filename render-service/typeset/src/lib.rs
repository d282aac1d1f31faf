//! Typesets an exam's question booklets with typst, every version in one PDF.
//!
//! The exam's text never reaches typst as markup: statements and options are parsed in Rust
//! ([`markdown`]) and every piece of text is written into the generated source as a string
//! literal, so `#`, `[`, `$`, `\`, `<`, `@`, `=`… are printed as typed. LaTeX-style math is
//! converted to typst math by mitex; a formula that does not convert, or whose conversion typst
//! refuses, is printed as its LaTeX source in monospace instead of failing the exam.
//!
//! Everything is typeset inside [`model::layout::BookletFrame::body`]: the rest of each page is
//! left blank for the per-student overlay (corner marks, QR code, text id, the student's name).

mod markdown;
mod source;
mod world;

use std::collections::HashSet;
use std::ops::Range;

use model::Exam;
use model::layout::Rect;
use typst::World;
use typst::diag::SourceDiagnostic;
use typst::foundations::{Label, Value};
use typst::introspection::{Introspector, MetadataElem};
use typst::utils::PicoStr;
use typst_layout::PagedDocument;

pub use markdown::{Block, Inline};

/// Compiles kept in typst's memoisation caches after each compile: enough that typesetting the
/// same exam again is warm, few enough that a long-running service does not grow.
const KEEP_COMPILES: usize = 4;

/// How many times a booklet is compiled again after typst refused some formulas (each retry
/// prints the refused ones as their LaTeX source).
const MAX_RETRIES: usize = 3;

/// The typeset booklets of every version of an exam.
#[derive(Debug, Clone, Default)]
pub struct Typeset {
    /// ONE PDF holding every version's booklet pages, version after version (one font copy for
    /// all versions), each page the paper size of the exam. Empty when the exam has no booklet.
    pub pdf: Vec<u8>,
    /// Each version's pages, in the order of `exam.versions` (empty when the exam has no booklet).
    pub versions: Vec<TypesetVersion>,
}

/// Where one version's booklet is in [`Typeset::pdf`].
#[derive(Debug, Clone, PartialEq)]
pub struct TypesetVersion {
    /// The version label.
    pub version: String,
    /// 0-based indexes of this version's pages in `pdf`.
    pub pages: Range<u32>,
    /// Open questions' answer boxes: (page index in `pdf`, open question index, box Rect in
    /// PDF points from the page's top-left) — from typst's introspector (labels + locate), not guessed.
    pub open_boxes: Vec<(u32, usize, Rect)>,
}

/// Figures given by `path` in the exam file are resolved by the caller (file system, upload).
pub trait FigureSource {
    /// The bytes of the file at `path`, if there is one.
    fn figure(&self, path: &str) -> Option<Vec<u8>>;
}

/// A [`FigureSource`] with no files: for exams whose figures are all inline.
pub struct NoFigures;

impl FigureSource for NoFigures {
    fn figure(&self, _path: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Why an exam's booklets could not be typeset.
#[derive(Debug, thiserror::Error)]
pub enum TypesetError {
    /// A figure given by path was not supplied by the [`FigureSource`].
    #[error("{at}: the figure {path:?} was not supplied")]
    MissingFigure {
        /// Where in the exam file, e.g. `questions[3].figures[0]`.
        at: String,
        /// The path the exam file gives.
        path: String,
    },
    /// A figure's bytes are not an image typst can embed.
    #[error("{at}: {message}")]
    BadFigure {
        /// Where in the exam file.
        at: String,
        /// What is wrong with it.
        message: String,
    },
    /// typst refused the booklet (a bug of this crate, unless a figure is at fault).
    #[error("typesetting failed: {0}")]
    Typst(String),
    /// The PDF could not be written.
    #[error("writing the PDF failed: {0}")]
    Pdf(String),
}

/// Typesets every version of `exam` (in `exam.versions` order, each in its
/// [`model::booklet::VersionPlan`] order of questions and choices) in one compile.
pub fn typeset(exam: &Exam, figures: &dyn FigureSource) -> Result<Typeset, TypesetError> {
    if !exam.has_booklet() {
        return Ok(Typeset::default());
    }
    let mut literal: HashSet<usize> = HashSet::new();
    for _ in 0..=MAX_RETRIES {
        let generated = source::generate(exam, figures, &literal)?;
        let world = world::BookletWorld::new(generated.source, generated.files)
            .ok_or_else(|| TypesetError::Typst("bad virtual path".into()))?;
        let result = typst::compile::<PagedDocument>(&world).output;
        // typst's caches are process-global: without eviction every compile stays in memory.
        comemo::evict(KEEP_COMPILES);
        match result {
            Ok(document) => return finish(exam, &document),
            Err(errors) => {
                let refused = refused_formulas(&world, &generated.parts, &errors)?;
                // Nothing new to print literally: retrying would fail the same way.
                if refused.is_subset(&literal) {
                    return Err(TypesetError::Typst(messages(&errors)));
                }
                literal.extend(refused);
            }
        }
    }
    Err(TypesetError::Typst(
        "formulas kept failing after printing them as typed".into(),
    ))
}

fn messages(errors: &[SourceDiagnostic]) -> String {
    errors
        .iter()
        .map(|e| e.message.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The formulas that caused `errors`, or the figure at fault as an error; any other error is
/// this crate's fault and is returned as is.
fn refused_formulas(
    world: &world::BookletWorld,
    parts: &[(Range<usize>, source::Part)],
    errors: &[SourceDiagnostic],
) -> Result<HashSet<usize>, TypesetError> {
    use typst::syntax::DiagSpanKind;
    let mut refused = HashSet::new();
    for error in errors {
        let mut spans: Vec<typst::syntax::DiagSpan> = vec![error.span];
        spans.extend(
            error
                .trace
                .iter()
                .map(|t| typst::syntax::DiagSpan::from(t.span)),
        );
        let mut found = false;
        for span in spans {
            let range = match span.get() {
                DiagSpanKind::Number { id, num, sub_range } if id == world.main() => {
                    world.main_source().range(num, sub_range)
                }
                _ => None,
            };
            let Some(range) = range else { continue };
            let hit = parts
                .iter()
                .find(|(r, _)| r.start <= range.start && range.end <= r.end);
            match hit {
                Some((_, source::Part::Formula(i))) => {
                    refused.insert(*i);
                    found = true;
                    break;
                }
                Some((_, source::Part::Figure(at))) => {
                    return Err(TypesetError::BadFigure {
                        at: at.clone(),
                        message: error.message.to_string(),
                    });
                }
                None => {}
            }
        }
        if !found {
            return Err(TypesetError::Typst(messages(errors)));
        }
    }
    Ok(refused)
}

fn label(name: &str) -> Option<Label> {
    Label::new(PicoStr::intern(name))
}

/// The PDF and where each version's pages and answer boxes are in it.
fn finish(exam: &Exam, document: &PagedDocument) -> Result<Typeset, TypesetError> {
    let pdf = typst_pdf::pdf(document, &typst_pdf::PdfOptions::default())
        .map_err(|e| TypesetError::Pdf(messages(&e)))?;
    let introspector = document.introspector();
    let total = u32::try_from(document.pages().len()).unwrap_or(u32::MAX);
    let query = |name: &str| -> Vec<(Value, u32, Rect)> {
        let Some(label) = label(name) else {
            return Vec::new();
        };
        introspector
            .query(&typst::foundations::Selector::Label(label))
            .iter()
            .filter_map(|content| {
                let value = content.to_packed::<MetadataElem>()?.value.clone();
                let position = introspector.position(content.location()?)?;
                let page = u32::try_from(position.page.get() - 1).ok()?;
                let at = Rect {
                    x: position.point.x.to_pt() as f32,
                    y: position.point.y.to_pt() as f32,
                    width: 0.0,
                    height: 0.0,
                };
                Some((value, page, at))
            })
            .collect()
    };
    let starts = query(source::VERSION_LABEL);
    if starts.len() != exam.versions.len() {
        return Err(TypesetError::Typst(format!(
            "{} version starts found for {} versions",
            starts.len(),
            exam.versions.len()
        )));
    }
    let mut versions: Vec<TypesetVersion> = exam
        .versions
        .iter()
        .zip(&starts)
        .enumerate()
        .map(|(k, (version, (_, page, _)))| {
            let end = starts.get(k + 1).map_or(total, |(_, p, _)| *p);
            TypesetVersion {
                version: version.clone(),
                pages: *page..end,
                open_boxes: Vec::new(),
            }
        })
        .collect();
    for (value, page, at) in query(source::OPEN_BOX_LABEL) {
        let Value::Dict(dict) = value else { continue };
        let number = |key: &str| match dict.get(key) {
            Ok(Value::Int(i)) => Some(*i as f64),
            Ok(Value::Float(f)) => Some(*f),
            _ => None,
        };
        let (Some(index), Some(width), Some(height)) =
            (number("open"), number("width"), number("height"))
        else {
            continue;
        };
        let rect = Rect {
            width: width as f32,
            height: height as f32,
            ..at
        };
        if let Some(v) = versions.iter_mut().find(|v| v.pages.contains(&page)) {
            v.open_boxes.push((page, index as usize, rect));
        }
    }
    Ok(Typeset { pdf, versions })
}
