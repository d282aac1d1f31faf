//! Importing the typesetter's PDF: each typeset booklet page becomes one Form XObject of the
//! bundle, written once, with every object its resources reach (fonts, images, patterns…)
//! renumbered into the bundle's object space and written once however many pages share it.
//!
//! The input is parsed with lopdf, which reads object streams and cross-reference streams (what
//! typst-pdf writes) into plain objects; the objects are written back as classic indirect
//! objects, their streams passed through still compressed.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;

use lopdf::{Dictionary, Document, Object, ObjectId};
use model::layout::Rect;
use pdf_writer::Ref;

use crate::pdf::{PdfStream, deflate};

/// The typesetter's output, as the bundle writer takes it: one PDF holding every version's
/// booklet pages, and where each version's pages and answer boxes are in it.
#[derive(Debug, Clone, Default)]
pub struct TypesetBooklets {
    /// The PDF's bytes (compressed object streams and cross-reference streams are fine).
    pub pdf: Vec<u8>,
    /// Each version's pages.
    pub versions: Vec<TypesetVersion>,
}

/// One version's booklet in [`TypesetBooklets::pdf`].
#[derive(Debug, Clone, PartialEq)]
pub struct TypesetVersion {
    /// The version's label, as in `Exam::versions`.
    pub label: String,
    /// Its pages: 0-based page indices in the PDF, end exclusive.
    pub pages: Range<u32>,
    /// Its open questions' answer boxes.
    pub answer_boxes: Vec<TypesetAnswerBox>,
}

/// Where an open question's written answer goes in the typeset PDF.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypesetAnswerBox {
    /// 0-based page index in the PDF.
    pub page: u32,
    /// The open question, from 0 in `Exam::open_questions`.
    pub open_question: u32,
    /// The box, PDF points from the page's top-left corner.
    pub rect: Rect,
}

/// Why the typeset booklets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not a PDF lopdf can read.
    #[error("the typeset PDF cannot be read: {0}")]
    Parse(String),
    /// An exam version has no typeset booklet.
    #[error("no typeset booklet for version {0:?}")]
    MissingVersion(String),
    /// A version's page range is empty or beyond the PDF's pages.
    #[error("version {label:?}: pages {start}..{end} are not within the PDF's {pages} pages")]
    PageRange {
        /// The version.
        label: String,
        /// First page index.
        start: u32,
        /// End page index (exclusive).
        end: u32,
        /// Pages the PDF has.
        pages: u32,
    },
    /// An answer box names a page outside its version's range, or lies off the page.
    #[error(
        "version {label:?}: answer box of open question {open_question} is not on one of its pages"
    )]
    AnswerBox {
        /// The version.
        label: String,
        /// The open question, from 0.
        open_question: u32,
    },
    /// A page is not the exam's paper size (the overlay would miss its margins).
    #[error(
        "page {page} of the typeset PDF is {width}×{height} pt; the exam's paper is \
         {expected_width}×{expected_height} pt"
    )]
    PageSize {
        /// 0-based page index.
        page: u32,
        /// Its width.
        width: f32,
        /// Its height.
        height: f32,
        /// The paper's width.
        expected_width: f32,
        /// The paper's height.
        expected_height: f32,
    },
    /// A page is malformed (no media box, broken references, content beyond the limit…).
    #[error("page {page} of the typeset PDF: {message}")]
    Page {
        /// 0-based page index.
        page: u32,
        /// What is wrong.
        message: String,
    },
}

/// Most bytes one page's decompressed content may take: far beyond any booklet page, and a
/// bound against a decompression bomb.
const MAX_PAGE_CONTENT: usize = 64 << 20;
/// Deepest nesting of arrays and dictionaries followed (a bound against hostile input).
const MAX_DEPTH: usize = 64;
/// How far a page's inherited attributes are looked for up its page tree.
const MAX_TREE_DEPTH: usize = 32;
/// Paper sizes agree within this many points.
const SIZE_TOLERANCE: f32 = 1.0;

/// The typeset PDF, parsed and checked against the exam: ready to be written into bundles.
pub(crate) struct Booklets {
    doc: Document,
    /// Page object of each page index.
    pages: Vec<ObjectId>,
    /// Each exam version's booklet, in exam order.
    pub(crate) versions: Vec<VersionPages>,
}

/// One version's pages, checked.
pub(crate) struct VersionPages {
    pub(crate) label: String,
    pub(crate) pages: Range<u32>,
    pub(crate) answer_boxes: Vec<TypesetAnswerBox>,
}

impl Booklets {
    /// Parses `typeset` and checks it covers every version in `versions`, on `paper` (w, h).
    pub(crate) fn new(
        typeset: &TypesetBooklets,
        versions: &[String],
        paper: (f32, f32),
    ) -> Result<Self, ImportError> {
        let doc =
            Document::load_mem(&typeset.pdf).map_err(|e| ImportError::Parse(e.to_string()))?;
        let pages: Vec<ObjectId> = doc.page_iter().collect();
        let count = u32::try_from(pages.len()).unwrap_or(u32::MAX);
        let mut checked = Vec::with_capacity(versions.len());
        for label in versions {
            let v = typeset
                .versions
                .iter()
                .find(|v| &v.label == label)
                .ok_or_else(|| ImportError::MissingVersion(label.clone()))?;
            if v.pages.start >= v.pages.end || v.pages.end > count {
                return Err(ImportError::PageRange {
                    label: label.clone(),
                    start: v.pages.start,
                    end: v.pages.end,
                    pages: count,
                });
            }
            for b in &v.answer_boxes {
                let r = &b.rect;
                let on_page = v.pages.contains(&b.page)
                    && r.x >= 0.0
                    && r.y >= 0.0
                    && r.width > 0.0
                    && r.height > 0.0
                    && r.x + r.width <= paper.0 + SIZE_TOLERANCE
                    && r.y + r.height <= paper.1 + SIZE_TOLERANCE;
                if !on_page {
                    return Err(ImportError::AnswerBox {
                        label: label.clone(),
                        open_question: b.open_question,
                    });
                }
            }
            checked.push(VersionPages {
                label: label.clone(),
                pages: v.pages.clone(),
                answer_boxes: v.answer_boxes.clone(),
            });
        }
        let booklets = Self {
            doc,
            pages,
            versions: checked,
        };
        for v in &booklets.versions {
            for page in v.pages.clone() {
                let (x0, y0, x1, y1) = booklets.media_box(page)?;
                let (width, height) = (x1 - x0, y1 - y0);
                if (width - paper.0).abs() > SIZE_TOLERANCE
                    || (height - paper.1).abs() > SIZE_TOLERANCE
                {
                    return Err(ImportError::PageSize {
                        page,
                        width,
                        height,
                        expected_width: paper.0,
                        expected_height: paper.1,
                    });
                }
            }
        }
        Ok(booklets)
    }

    /// The version labelled `label`.
    pub(crate) fn version(&self, label: &str) -> Option<&VersionPages> {
        self.versions.iter().find(|v| v.label == label)
    }

    /// The page indices any version uses, each once, in order.
    pub(crate) fn used_pages(&self) -> Vec<u32> {
        let mut pages: Vec<u32> = self.versions.iter().flat_map(|v| v.pages.clone()).collect();
        pages.sort_unstable();
        pages.dedup();
        pages
    }

    fn page_dict(&self, page: u32) -> Result<&Dictionary, ImportError> {
        let id = usize::try_from(page)
            .ok()
            .and_then(|i| self.pages.get(i))
            .ok_or_else(|| page_error(page, "no such page"))?;
        self.doc
            .get_dictionary(*id)
            .map_err(|e| page_error(page, &e.to_string()))
    }

    /// An attribute of the page, or inherited from its page tree.
    fn inherited(&self, page: u32, key: &[u8]) -> Result<Option<&Object>, ImportError> {
        let mut dict = self.page_dict(page)?;
        for _ in 0..MAX_TREE_DEPTH {
            if let Ok(value) = dict.get(key) {
                return Ok(Some(value));
            }
            let Ok(parent) = dict.get(b"Parent").and_then(Object::as_reference) else {
                return Ok(None);
            };
            dict = self
                .doc
                .get_dictionary(parent)
                .map_err(|e| page_error(page, &e.to_string()))?;
        }
        Err(page_error(page, "page tree too deep"))
    }

    /// The page's media box (x0, y0, x1, y1).
    pub(crate) fn media_box(&self, page: u32) -> Result<(f32, f32, f32, f32), ImportError> {
        let value = self
            .inherited(page, b"MediaBox")?
            .ok_or_else(|| page_error(page, "no MediaBox"))?;
        let (_, value) = self
            .doc
            .dereference(value)
            .map_err(|e| page_error(page, &e.to_string()))?;
        let numbers: Vec<f32> = value
            .as_array()
            .map_err(|_| page_error(page, "MediaBox is not an array"))?
            .iter()
            .map(|n| {
                self.doc
                    .dereference(n)
                    .ok()
                    .and_then(|(_, n)| n.as_float().ok())
            })
            .collect::<Option<Vec<f32>>>()
            .filter(|n| n.len() == 4 && n.iter().all(|v| v.is_finite()))
            .ok_or_else(|| page_error(page, "MediaBox is not four numbers"))?;
        let (x0, x1) = (numbers[0].min(numbers[2]), numbers[0].max(numbers[2]));
        let (y0, y1) = (numbers[1].min(numbers[3]), numbers[1].max(numbers[3]));
        Ok((x0, y0, x1, y1))
    }
}

fn page_error(page: u32, message: &str) -> ImportError {
    ImportError::Page {
        page,
        message: message.to_string(),
    }
}

/// One typeset page as written into a bundle file: its Form XObject and where its origin is.
pub(crate) struct ImportedPage {
    /// The Form XObject.
    pub(crate) form: Ref,
    /// Its name in the pages' resources.
    pub(crate) name: String,
    /// The media box's lower-left corner (the form is drawn shifted by minus this).
    pub(crate) origin: (f32, f32),
}

/// Writes every page any version uses as a Form XObject into `pdf`, numbering objects from
/// `next` on (advanced past the last one used). Returns each page index's import (index into
/// the PDF's pages; `None` for pages no version uses).
pub(crate) fn write_pages<W: Write>(
    booklets: &Booklets,
    pdf: &mut PdfStream<W>,
    next: &mut i32,
) -> Result<Vec<Option<ImportedPage>>, crate::RenderError> {
    let mut imported: Vec<Option<ImportedPage>> = (0..booklets.pages.len()).map(|_| None).collect();
    let mut renumber = Renumber {
        doc: &booklets.doc,
        map: HashMap::new(),
        pending: Vec::new(),
        next,
    };
    for page in booklets.used_pages() {
        let (x0, y0, x1, y1) = booklets.media_box(page)?;
        let content = booklets
            .doc
            .get_page_content_with_limit(booklets.pages[page as usize], MAX_PAGE_CONTENT)
            .map_err(|e| page_error(page, &e.to_string()))?;
        let stream = deflate(&content);
        let mut dict = Vec::with_capacity(256);
        dict.extend_from_slice(b"<<\n/Type /XObject\n/Subtype /Form\n/BBox [");
        for (i, v) in [x0, y0, x1, y1].into_iter().enumerate() {
            if i > 0 {
                dict.push(b' ');
            }
            write_real(&mut dict, v);
        }
        dict.extend_from_slice(b"]\n/Resources ");
        match booklets.inherited(page, b"Resources")? {
            Some(resources) => renumber
                .write(resources, &mut dict, 0)
                .map_err(|m| page_error(page, &m))?,
            None => dict.extend_from_slice(b"<<>>"),
        }
        let page_dict = booklets.page_dict(page)?;
        if let Ok(group) = page_dict.get(b"Group") {
            // The page's transparency group (typst sets one) keeps its blending as typeset.
            dict.extend_from_slice(b"\n/Group ");
            renumber
                .write(group, &mut dict, 0)
                .map_err(|m| page_error(page, &m))?;
        }
        let _ = write!(
            dict,
            "\n/Filter /FlateDecode\n/Length {}\n>>\nstream\n",
            stream.len()
        );
        dict.extend_from_slice(&stream);
        dict.extend_from_slice(b"\nendstream");
        let form = renumber.allocate();
        pdf.raw_object(form, &dict)?;
        renumber.flush(pdf, page)?;
        imported[page as usize] = Some(ImportedPage {
            form,
            name: format!("B{page}"),
            origin: (x0, y0),
        });
    }
    Ok(imported)
}

/// The mapping of the typeset PDF's objects to the bundle's numbers, and the objects mapped
/// but not yet written.
struct Renumber<'a> {
    doc: &'a Document,
    map: HashMap<ObjectId, Ref>,
    pending: Vec<ObjectId>,
    next: &'a mut i32,
}

impl Renumber<'_> {
    fn allocate(&mut self) -> Ref {
        *self.next += 1;
        Ref::new(*self.next)
    }

    /// The bundle's number for `id`, queued to be written the first time it is seen.
    fn map(&mut self, id: ObjectId) -> Ref {
        if let Some(r) = self.map.get(&id) {
            return *r;
        }
        let r = self.allocate();
        self.map.insert(id, r);
        self.pending.push(id);
        r
    }

    /// Writes every queued object (and what they reach).
    fn flush<W: Write>(
        &mut self,
        pdf: &mut PdfStream<W>,
        page: u32,
    ) -> Result<(), crate::RenderError> {
        let mut buf = Vec::new();
        while let Some(id) = self.pending.pop() {
            let Some(&r) = self.map.get(&id) else {
                continue;
            };
            buf.clear();
            // A dangling reference is null, as the format says.
            match self.doc.get_object(id) {
                Ok(object) => self
                    .write(object, &mut buf, 0)
                    .map_err(|m| page_error(page, &m))?,
                Err(_) => buf.extend_from_slice(b"null"),
            }
            pdf.raw_object(r, &buf)?;
        }
        Ok(())
    }

    /// Serialises `object`, its references renumbered.
    fn write(&mut self, object: &Object, out: &mut Vec<u8>, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err("objects nested too deep".into());
        }
        match object {
            Object::Null => out.extend_from_slice(b"null"),
            Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Object::Integer(i) => {
                let _ = write!(out, "{i}");
            }
            Object::Real(r) => write_real(out, *r),
            Object::Name(name) => write_name(out, name),
            Object::String(bytes, _) => {
                out.push(b'<');
                for b in bytes {
                    let _ = write!(out, "{b:02X}");
                }
                out.push(b'>');
            }
            Object::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    self.write(item, out, depth + 1)?;
                }
                out.push(b']');
            }
            Object::Dictionary(dict) => self.write_dict(dict, out, depth, None)?,
            Object::Stream(stream) => {
                self.write_dict(&stream.dict, out, depth, Some(stream.content.len()))?;
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(&stream.content);
                out.extend_from_slice(b"\nendstream");
            }
            Object::Reference(id) => {
                let r = self.map(*id);
                let _ = write!(out, "{} 0 R", r.get());
            }
        }
        Ok(())
    }

    /// A dictionary; a stream's with its `Length` set to `length`.
    fn write_dict(
        &mut self,
        dict: &Dictionary,
        out: &mut Vec<u8>,
        depth: usize,
        length: Option<usize>,
    ) -> Result<(), String> {
        out.extend_from_slice(b"<<");
        for (key, value) in dict.iter() {
            // A page's parent would drag the whole source page tree in.
            if key == b"Parent" || (length.is_some() && key == b"Length") {
                continue;
            }
            out.push(b'\n');
            write_name(out, key);
            out.push(b' ');
            self.write(value, out, depth + 1)?;
        }
        if let Some(length) = length {
            let _ = write!(out, "\n/Length {length}");
        }
        out.extend_from_slice(b"\n>>");
        Ok(())
    }
}

fn write_real(out: &mut Vec<u8>, v: f32) {
    // Rust prints floats without exponents, as PDF requires.
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = write!(out, "{v}");
}

fn write_name(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'/');
    for &b in name {
        let regular = b.is_ascii_graphic() && !b"()<>[]{}/%#".contains(&b);
        if regular {
            out.push(b);
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
}
