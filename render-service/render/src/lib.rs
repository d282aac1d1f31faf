//! Gabarito's renderer: an exam and a roster in, a printable PDF bundle and its `bundle.json`
//! manifest out.
//!
//! The answer sheet's artwork common to the exam (corner marks, bubbles, letters, numbers,
//! labels, instructions) is one Form XObject per sheet page layout, drawn with one `Do`; each
//! page adds its own QR code, printed sheet code and the student's details. When the exam has a
//! booklet, each student's booklet pages come first: every typeset page ([`TypesetBooklets`],
//! the typesetter's PDF) is imported once per file as a Form XObject, and each student's copy
//! of it is a `Do` plus the overlay (corner marks, its own QR code and text id, the student's
//! name, class and id). The geometry comes from [`model::layout`]; the manifest from
//! [`model::bundle`].
//!
//! [`render_bundle_to`] writes the PDF as a stream, page after page, so that memory does not
//! grow with the roster (beyond the manifest); the other entry points render into memory.

mod codes;
mod content;
mod embed;
mod fonts;
mod import;
mod labels;
mod output;
mod page;
mod pdf;
mod qr;
mod subset;
mod template;

use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::sync::Arc;

use model::exam::ExamError;
use model::layout::{
    BookletFrame, LAYOUT_VERSION, PageLayout, SheetShape, booklet_frame, booklet_page_layout,
    layout_sheet,
};
use model::{AnswerBox, Bundle, BundlePage, Exam, PageKind, Student};
use pdf_writer::writers::{Catalog, DocumentInfo, Resources};
use pdf_writer::{Chunk, Filter, Finish, Name, Rect, Ref, TextStr};
use rand::SeedableRng;

pub use fonts::FontError;
pub use import::{ImportError, TypesetAnswerBox, TypesetBooklets, TypesetVersion};
pub use output::{RenderedFiles, StagedBundle, WriteError};
pub use qr::QrError;

use crate::embed::{EmbeddedFont, FontRefs};
use crate::fonts::Fonts;
use crate::labels::Labels;
use crate::page::{BookletPage, PageFonts, PageIdentity, booklet_content, page_content};
use crate::pdf::{PdfStream, deflate};
use crate::template::{TemplateInput, template_stream};

/// Most pages a bundle may have: far beyond any class or school (a PDF object number is a
/// 32-bit integer, and each page takes two).
pub const MAX_PAGES: u32 = 10_000_000;

/// A rendered bundle, held in memory: the PDF and its manifest.
#[derive(Debug, Clone)]
pub struct RenderedBundle {
    /// The bytes of `bundle.pdf`.
    pub pdf: Vec<u8>,
    /// The content of `bundle.json`: every page's code, student, version and geometry.
    pub manifest: Bundle,
}

/// Why a bundle could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The exam does not validate (the field and the problem are the error's `source()`).
    #[error("exam file")]
    Exam(#[from] ExamError),
    /// A roster was given, but it lists nobody.
    #[error("the roster lists no student")]
    EmptyRoster,
    /// A roster entry cannot be printed or told apart (`index` from 0, in roster order).
    #[error("roster entry {index}: {message}")]
    Roster {
        /// Position in the roster, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Anonymous bundles need at least one copy.
    #[error("copies must be at least 1 when there is no roster")]
    NoCopies,
    /// With a roster there is one sheet per student; copies do not apply.
    #[error("copies cannot be combined with a roster (one sheet per student)")]
    CopiesWithRoster,
    /// A vendored font does not parse (a broken build).
    #[error(transparent)]
    Font(#[from] FontError),
    /// A sheet code does not fit its QR code (a codec bug).
    #[error(transparent)]
    Qr(#[from] QrError),
    /// The bundle would have more than [`MAX_PAGES`] pages.
    #[error("the bundle would have {pages} pages, more than {MAX_PAGES}")]
    TooManyPages {
        /// Pages the bundle would have.
        pages: u128,
    },
    /// The typeset booklets cannot be used (malformed PDF, a version missing…).
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The PDF could not be written to its destination (the error's `source()`).
    #[error("writing the PDF")]
    Io(#[from] std::io::Error),
}

/// Renders the exam's answer sheets: one sheet per roster student (versions in turn: student
/// *i* gets `versions[i % n]`), or `copies` anonymous sheets with a student-number grid when
/// `roster` is `None` (versions in turn likewise). Every PDF page gets a fresh random
/// [`model::SheetCode`]. With a roster, `copies` must be 1.
pub fn render_bundle(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
) -> Result<RenderedBundle, RenderError> {
    render_bundle_with_rng(exam, roster, copies, &mut rand::rng())
}

/// [`render_bundle`] with reproducible sheet codes: the same seed gives the same codes, hence the
/// same manifest and the same pages (only the PDF's creation date differs).
pub fn render_bundle_seeded(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    seed: u64,
) -> Result<RenderedBundle, RenderError> {
    render_bundle_with_rng(
        exam,
        roster,
        copies,
        &mut rand::rngs::StdRng::seed_from_u64(seed),
    )
}

/// [`render_bundle`] drawing the sheet codes from `rng`.
pub fn render_bundle_with_rng<R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    rng: &mut R,
) -> Result<RenderedBundle, RenderError> {
    let mut pdf = Vec::new();
    let manifest = render_bundle_to(exam, roster, copies, rng, &mut pdf, &mut |_, _| {})?;
    Ok(RenderedBundle { pdf, manifest })
}

/// [`render_bundle_with`] into memory: every file's bytes and the manifest.
pub fn render_bundle_files<R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    options: &BundleOptions<'_>,
    rng: &mut R,
) -> Result<RenderedFiles, RenderError> {
    let files: MemoryFiles = Default::default();
    let manifest = render_bundle_with(
        exam,
        roster,
        copies,
        options,
        rng,
        &mut |name| {
            files.borrow_mut().push((name.to_string(), Vec::new()));
            Ok(MemoryFile(std::rc::Rc::clone(&files)))
        },
        &mut |_, _| {},
    )?;
    let files = std::mem::take(&mut *files.borrow_mut());
    Ok(RenderedFiles { files, manifest })
}

/// Files written in memory: each one's name and bytes.
type MemoryFiles = std::rc::Rc<std::cell::RefCell<Vec<(String, Vec<u8>)>>>;

/// The last of [`MemoryFiles`], being written.
struct MemoryFile(MemoryFiles);

impl Write for MemoryFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.borrow_mut().last_mut() {
            Some((_, bytes)) => bytes.write(buf),
            None => Err(std::io::Error::other("no file open")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Pages the bundle of [`render_bundle_to`] will have (for progress before rendering),
/// validating the exam and the roster exactly as rendering would.
pub fn bundle_page_count(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
) -> Result<u32, RenderError> {
    bundle_page_count_with(exam, roster, copies, &BundleOptions::default())
}

/// Pages (in all files, duplex padding included) the bundle of [`render_bundle_with`] will
/// have with `options`.
pub fn bundle_page_count_with(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    options: &BundleOptions<'_>,
) -> Result<u32, RenderError> {
    exam.validate()?;
    let sheets = SheetPlan::new(exam, roster, copies)?;
    let layouts = layout_sheet(&SheetShape::of(exam, roster.is_none()));
    let printed = options.printed_booklets(exam);
    // Every student gets at least the answer sheet: refuse an absurd count before the loop
    // below walks (and the ordering allocates for) every sheet.
    checked_pages(sheets.len() as u128 * layouts.len() as u128)?;
    let mut pages: u128 = 0;
    for entry in sheets.ordered(options.order_for(printed.is_some())) {
        let booklet = match printed {
            Some(b) => b
                .versions
                .iter()
                .find(|v| v.label == entry.version)
                .map_or(0, |v| v.pages.end.saturating_sub(v.pages.start)),
            None => 0,
        };
        pages += student_pages(booklet as usize, layouts.len(), printed.is_some()) as u128;
    }
    checked_pages(pages)
}

/// Pages one student's part of the bundle takes: booklet, answer sheet, and with booklets a
/// blank page when needed so that the next student starts on an odd page (duplex printing).
fn student_pages(booklet: usize, sheet: usize, duplex: bool) -> usize {
    let pages = booklet + sheet;
    pages + usize::from(duplex && pages % 2 == 1)
}

fn checked_pages(pages: u128) -> Result<u32, RenderError> {
    u32::try_from(pages)
        .ok()
        .filter(|&p| p <= MAX_PAGES)
        .ok_or(RenderError::TooManyPages { pages })
}

/// The order students are printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StudentOrder {
    /// By class, then by name within a class (accents and case folded), as a school hands the
    /// bundle out.
    #[default]
    ClassThenName,
    /// As the roster lists them.
    Roster,
}

/// How a bundle is cut into PDF files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// One PDF, `bundle.pdf`.
    #[default]
    Bundle,
    /// One PDF per class (`bundle-<class>.pdf`), classes in print order; without a roster,
    /// one `bundle.pdf`.
    Class,
}

/// How [`render_bundle_with`] prints a bundle.
#[derive(Debug, Clone, Copy, Default)]
pub struct BundleOptions<'a> {
    /// The typeset booklets; printed before each student's answer sheet when the exam has
    /// booklet content ([`Exam::has_booklet`]), ignored otherwise.
    pub booklets: Option<&'a TypesetBooklets>,
    /// The order of the students; `None`: class then name when booklets are printed, roster
    /// order otherwise (the answer-sheet-only bundles of before).
    pub order: Option<StudentOrder>,
    /// One PDF or one per class.
    pub split: Split,
}

impl<'a> BundleOptions<'a> {
    fn printed_booklets(&self, exam: &Exam) -> Option<&'a TypesetBooklets> {
        self.booklets.filter(|_| exam.has_booklet())
    }

    fn order_for(&self, booklets: bool) -> StudentOrder {
        self.order.unwrap_or(if booklets {
            StudentOrder::ClassThenName
        } else {
            StudentOrder::Roster
        })
    }
}

/// The name of the one PDF of an unsplit bundle.
pub const PDF_FILE: &str = "bundle.pdf";

/// Renders the bundle of [`render_bundle_with_rng`] to `out` as a stream, page after page,
/// calling `progress(pages_done, pages_total)` now and then (first with 0 done, last with all
/// done); returns the manifest.
///
/// Memory does not grow with the roster beyond the manifest: the fonts and the shared artwork
/// are written first, then each page's content and page object as soon as they are made, and
/// the page tree and cross-reference table last. `out` is written through a buffer; give a
/// `File` or a socket as it is. An error of `out` is [`RenderError::Io`], and leaves a
/// partial PDF there.
pub fn render_bundle_to<W: Write, R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    rng: &mut R,
    out: W,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Bundle, RenderError> {
    let mut out = Some(out);
    render_bundle_with(
        exam,
        roster,
        copies,
        &BundleOptions::default(),
        rng,
        &mut |_| {
            out.take()
                .ok_or_else(|| std::io::Error::other("one output for one file"))
        },
        progress,
    )
}

/// Renders a bundle with `options` (booklets, order, split): each PDF file of it is streamed
/// to `open(file_name)` in turn (`bundle.pdf`, or `bundle-<class>.pdf` per class), as
/// [`render_bundle_to`] streams its one file. Per student: the booklet's pages (each its
/// version's typeset page, written once per file as a Form XObject, plus the student's
/// overlay and its own [`model::SheetCode`]), the answer sheet, and a blank page when the next
/// student would otherwise start on an even page.
pub fn render_bundle_with<W: Write, R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    options: &BundleOptions<'_>,
    rng: &mut R,
    open: &mut dyn FnMut(&str) -> std::io::Result<W>,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Bundle, RenderError> {
    // Sized once: a doubling Vec would briefly hold twice the manifest.
    let expected = bundle_page_count_with(exam, roster, copies, options).unwrap_or(0);
    let mut pages = Vec::with_capacity(expected as usize);
    render_bundle_pages(
        exam,
        roster,
        copies,
        options,
        rng,
        open,
        progress,
        &mut |page| pages.push(page),
    )?;
    Ok(Bundle {
        exam_id: None,
        layout_version: LAYOUT_VERSION,
        exam: exam.clone(),
        pages,
    })
}

/// [`render_bundle_with`] handing each manifest page to `page` as soon as it is printed,
/// instead of collecting them: with a `page` that writes them out, memory no longer grows
/// with the roster (beyond 8 bytes per PDF object and the set of codes drawn).
#[allow(clippy::too_many_arguments)]
pub fn render_bundle_pages<W: Write, R: rand::Rng + ?Sized>(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
    options: &BundleOptions<'_>,
    rng: &mut R,
    open: &mut dyn FnMut(&str) -> std::io::Result<W>,
    progress: &mut dyn FnMut(u32, u32),
    page: &mut dyn FnMut(BundlePage),
) -> Result<(), RenderError> {
    exam.validate()?;
    let sheets = SheetPlan::new(exam, roster, copies)?;
    let printed = options.printed_booklets(exam);
    let booklets = printed
        .map(|t| import::Booklets::new(t, &exam.versions, exam.paper.size_pt()))
        .transpose()?;
    let total = bundle_page_count_with(exam, roster, copies, options)?;
    let shape = SheetShape::of(exam, roster.is_none());
    let layouts = layout_sheet(&shape);
    let fonts = Fonts::load()?;
    let labels = Labels::of(exam.language);
    let embedded = bundle_fonts(&sheets, booklets.is_some().then_some(labels))?;
    let entries: Vec<Sheet<'_>> = sheets
        .ordered(options.order_for(booklets.is_some()))
        .collect();
    let files = split_files(&entries, options.split, roster.is_some());

    let ctx = FileContext {
        exam,
        fonts: &fonts,
        embedded: &embedded,
        labels,
        layouts: &layouts,
        shared_layouts: layouts.iter().cloned().map(Arc::new).collect(),
        booklets: booklets.as_ref(),
        booklet_frame: booklet_frame(exam.paper),
        booklet_layout: Arc::new(booklet_page_layout(exam.paper)),
        total,
    };
    let mut state = RenderState {
        codes: codes::CodeSequence::new(rng),
        page,
        done: 0,
    };
    progress(0, total);
    let named = files.len() > 1 || options.split == Split::Class && roster.is_some();
    for (name, range) in &files {
        let out = open(name)?;
        ctx.write_file(
            &entries[range.clone()],
            named.then_some(name.as_str()),
            out,
            &mut state,
            progress,
        )?;
    }
    progress(total, total);
    Ok(())
}

/// The files of a bundle: each one's name and its students (a range of the print order).
fn split_files(
    entries: &[Sheet<'_>],
    split: Split,
    roster: bool,
) -> Vec<(String, std::ops::Range<usize>)> {
    if split == Split::Bundle || !roster {
        return vec![(PDF_FILE.to_string(), 0..entries.len())];
    }
    let mut files: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut names = HashSet::new();
    let mut start = 0;
    while start < entries.len() {
        let class = entries[start].student.map_or("", |s| s.class.as_str());
        let end = entries[start..]
            .iter()
            .position(|e| e.student.map_or("", |s| s.class.as_str()) != class)
            .map_or(entries.len(), |n| start + n);
        let base = format!("bundle-{}", file_slug(class));
        let mut name = format!("{base}.pdf");
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base}-{n}.pdf");
            n += 1;
        }
        files.push((name, start..end));
        start = end;
    }
    files
}

/// A class name as part of a file name: letters and digits kept (accents folded), anything
/// else a `-`; `sem-turma` when nothing is left.
fn file_slug(class: &str) -> String {
    let mut slug = String::with_capacity(class.len());
    for c in class.chars().flat_map(fold_char) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "sem-turma".into()
    } else {
        slug
    }
}

/// `c` without its accent (the Latin letters of Portuguese and its neighbours); others as
/// they are. `º`/`ª` read as `o`/`a`, as in "3º ano".
fn fold_char(c: char) -> impl Iterator<Item = char> {
    let folded = match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'ª' => 'a',
        'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'A',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'É' | 'È' | 'Ê' | 'Ë' => 'E',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'Í' | 'Ì' | 'Î' | 'Ï' => 'I',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'º' => 'o',
        'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'O',
        'ú' | 'ù' | 'û' | 'ü' => 'u',
        'Ú' | 'Ù' | 'Û' | 'Ü' => 'U',
        'ç' => 'c',
        'Ç' => 'C',
        'ñ' => 'n',
        'Ñ' => 'N',
        c => c,
    };
    std::iter::once(folded)
}

/// The key students are sorted by: accents and case folded, so that "Álvaro" comes before
/// "Bruno" and "ana" beside "Ana".
fn sort_key(text: &str) -> String {
    text.chars()
        .flat_map(fold_char)
        .flat_map(char::to_lowercase)
        .collect()
}

/// What every file of one bundle shares.
struct FileContext<'a> {
    exam: &'a Exam,
    fonts: &'a Fonts,
    embedded: &'a PageFonts,
    labels: &'static Labels,
    layouts: &'a [PageLayout],
    shared_layouts: Vec<Arc<PageLayout>>,
    booklets: Option<&'a import::Booklets>,
    booklet_frame: BookletFrame,
    booklet_layout: Arc<PageLayout>,
    total: u32,
}

/// What grows as a bundle's files are written.
struct RenderState<'p> {
    /// The bundle's codes: each page's is never given to another page of the bundle.
    codes: codes::CodeSequence,
    /// Where each manifest page goes.
    page: &'p mut dyn FnMut(BundlePage),
    done: u32,
}

impl FileContext<'_> {
    /// Writes one PDF file holding `entries`' pages to `out`.
    fn write_file<W: Write>(
        &self,
        entries: &[Sheet<'_>],
        file_name: Option<&str>,
        out: W,
        state: &mut RenderState<'_>,
        progress: &mut dyn FnMut(u32, u32),
    ) -> Result<(), RenderError> {
        let (fonts, embedded, layouts) = (self.fonts, self.embedded, self.layouts);
        // The fixed objects are numbered first; the imported booklet pages next, as they are
        // met; then two a page (its page object, then its content stream).
        let mut next = 0;
        let mut reserve = || {
            next += 1;
            Ref::new(next)
        };
        let (catalog, page_tree, info, resources) = (reserve(), reserve(), reserve(), reserve());
        let font_refs: Vec<FontRefs> = (0..3)
            .map(|_| FontRefs {
                type0: reserve(),
                cid_font: reserve(),
                descriptor: reserve(),
                program: reserve(),
                to_unicode: reserve(),
            })
            .collect();
        let form_refs: Vec<Ref> = layouts.iter().map(|_| reserve()).collect();
        let file_pages: usize = entries
            .iter()
            .map(|e| {
                let booklet = self
                    .booklets
                    .and_then(|b| b.version(e.version))
                    .map_or(0, |v| (v.pages.end - v.pages.start) as usize);
                student_pages(booklet, layouts.len(), self.booklets.is_some())
            })
            .sum();
        let objects = usize::try_from(next).unwrap_or(0) + 2 * file_pages;

        let mut pdf = PdfStream::new(out, objects)?;
        let styles = [
            fonts::Style::Regular,
            fonts::Style::Bold,
            fonts::Style::MonoBold,
        ];
        for (&style, &refs) in styles.iter().zip(&font_refs) {
            embedded.get(style).0.write(refs, &mut pdf)?;
        }
        let imported = match self.booklets {
            Some(b) => import::write_pages(b, &mut pdf, &mut next)?,
            None => Vec::new(),
        };
        let form_names: Vec<String> = (0..layouts.len()).map(|i| format!("X{i}")).collect();
        let mut c = Chunk::new();
        let mut r = c.indirect(resources).start::<Resources>();
        let mut font_dict = r.fonts();
        for (&style, refs) in styles.iter().zip(&font_refs) {
            font_dict.pair(Name(embedded.get(style).1.as_bytes()), refs.type0);
        }
        font_dict.finish();
        let mut forms = r.x_objects();
        for (name, &form) in form_names.iter().zip(&form_refs) {
            forms.pair(Name(name.as_bytes()), form);
        }
        for page in imported.iter().flatten() {
            forms.pair(Name(page.name.as_bytes()), page.form);
        }
        forms.finish();
        r.finish();
        pdf.object(&c)?;
        for (i, (layout, &form)) in layouts.iter().zip(&form_refs).enumerate() {
            let stream = deflate(&template_stream(
                fonts,
                &TemplateInput {
                    exam: self.exam,
                    layout,
                    sheet_page: i + 1,
                    sheet_pages: layouts.len(),
                },
            ));
            let mut c = Chunk::new();
            let mut xobject = c.form_xobject(form, &stream);
            xobject.bbox(paper(layout));
            xobject.filter(Filter::FlateDecode);
            // The artwork is outlines only: it needs no resources.
            xobject.resources().finish();
            xobject.finish();
            pdf.object(&c)?;
        }

        let first_page = next + 1;
        // Fewer than MAX_PAGES pages: the numbers fit.
        let page_ref = |i: u32| Ref::new(first_page + 2 * i as i32);
        let mut in_file: u32 = 0;
        let mut page_out = |pdf: &mut PdfStream<W>,
                            content: &[u8],
                            size: Rect,
                            state: &mut RenderState<'_>,
                            progress: &mut dyn FnMut(u32, u32)|
         -> Result<u32, RenderError> {
            let (page, contents) = (page_ref(in_file), Ref::new(page_ref(in_file).get() + 1));
            let mut c = Chunk::new();
            c.page(page)
                .parent(page_tree)
                .media_box(size)
                .crop_box(size)
                .trim_box(size)
                .contents(contents)
                .pair(Name(b"Resources"), resources);
            pdf.object(&c)?;
            let mut c = Chunk::new();
            c.stream(contents, content).filter(Filter::FlateDecode);
            pdf.object(&c)?;
            in_file += 1;
            state.done += 1;
            if state.done.is_multiple_of(PROGRESS_EVERY) && state.done < self.total {
                progress(state.done, self.total);
            }
            Ok(in_file)
        };
        let blank = deflate(b"");
        let booklet_size = paper(&self.booklet_layout);
        for sheet in entries {
            let mut printed = 0;
            if let Some(version) = self.booklets.and_then(|b| b.version(sheet.version)) {
                let pages = version.pages.end - version.pages.start;
                for (k, src) in version.pages.clone().enumerate() {
                    let Some(Some(typeset)) = imported.get(src as usize) else {
                        continue;
                    };
                    let code = state.codes.next_code();
                    let who = PageIdentity {
                        code: &code,
                        student: sheet.student,
                        version: sheet.version,
                    };
                    let booklet_page = u32::try_from(k + 1).unwrap_or(u32::MAX);
                    let content = deflate(&booklet_content(
                        fonts,
                        embedded,
                        &BookletPage {
                            form: &typeset.name,
                            origin: typeset.origin,
                            frame: &self.booklet_frame,
                            layout: &self.booklet_layout,
                            labels: self.labels,
                            page: booklet_page,
                            pages,
                        },
                        &who,
                    )?);
                    let pdf_page = page_out(&mut pdf, &content, booklet_size, state, progress)?;
                    printed += 1;
                    (state.page)(BundlePage {
                        pdf_page,
                        sheet_code: code,
                        student_id: sheet.student.map(|s| s.student_id.clone()),
                        student_name: sheet.student.map(|s| s.name.clone()),
                        class: sheet.student.map(|s| s.class.clone()),
                        version: sheet.version.to_string(),
                        sheet_page: 1,
                        sheet_pages: 1,
                        layout: Arc::clone(&self.booklet_layout),
                        kind: PageKind::Booklet,
                        booklet_page: Some(booklet_page),
                        answer_boxes: version
                            .answer_boxes
                            .iter()
                            .filter(|b| b.page == src)
                            .map(|b| AnswerBox {
                                open_question: b.open_question,
                                rect: b.rect,
                            })
                            .collect(),
                        pdf_file: file_name.map(str::to_string),
                    });
                }
            }
            for (i, ((layout, shared_layout), form)) in layouts
                .iter()
                .zip(&self.shared_layouts)
                .zip(&form_names)
                .enumerate()
            {
                let code = state.codes.next_code();
                let who = PageIdentity {
                    code: &code,
                    student: sheet.student,
                    version: sheet.version,
                };
                let content = deflate(&page_content(fonts, embedded, form, layout, &who)?);
                let pdf_page = page_out(&mut pdf, &content, paper(layout), state, progress)?;
                printed += 1;
                (state.page)(BundlePage {
                    pdf_page,
                    sheet_code: code,
                    student_id: sheet.student.map(|s| s.student_id.clone()),
                    student_name: sheet.student.map(|s| s.name.clone()),
                    class: sheet.student.map(|s| s.class.clone()),
                    version: sheet.version.to_string(),
                    sheet_page: u32::try_from(i + 1).unwrap_or(u32::MAX),
                    sheet_pages: u32::try_from(layouts.len()).unwrap_or(u32::MAX),
                    layout: Arc::clone(shared_layout),
                    kind: PageKind::Sheet,
                    booklet_page: None,
                    answer_boxes: Vec::new(),
                    pdf_file: file_name.map(str::to_string),
                });
            }
            if self.booklets.is_some() && printed % 2 == 1 {
                // Duplex: the next student's booklet starts on the front of a sheet of paper.
                page_out(&mut pdf, &blank, booklet_size, state, progress)?;
            }
        }
        let pages = in_file;

        let mut c = Chunk::new();
        c.pages(page_tree)
            .count(i32::try_from(pages).unwrap_or(i32::MAX))
            .kids((0..pages).map(page_ref));
        pdf.object(&c)?;
        let mut c = Chunk::new();
        c.indirect(catalog).start::<Catalog>().pages(page_tree);
        pdf.object(&c)?;
        let mut c = Chunk::new();
        let now = now_utc();
        let mut doc_info = c.indirect(info).start::<DocumentInfo>();
        doc_info
            .title(TextStr(&self.exam.title))
            .creator(TextStr("Gabarito render-service"))
            .producer(TextStr("Gabarito render-service (pdf-writer)"))
            .creation_date(now)
            .modified_date(now);
        if !self.exam.subject.is_empty() {
            doc_info.subject(TextStr(&self.exam.subject));
        }
        doc_info.finish();
        pdf.object(&c)?;
        pdf.finish(catalog, info)?.flush()?;
        Ok(())
    }
}

/// How often [`render_bundle_to`] reports progress, in pages.
const PROGRESS_EVERY: u32 = 100;

/// The page box of `layout`.
fn paper(layout: &PageLayout) -> Rect {
    Rect::new(0.0, 0.0, layout.paper.width, layout.paper.height)
}

/// The current time as a PDF date, in UTC.
fn now_utc() -> pdf_writer::Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    pdf_writer::Date::new(u16::try_from(year).unwrap_or(1970))
        .month(month as u8)
        .day(day as u8)
        .hour((rest / 3600) as u8)
        .minute((rest / 60 % 60) as u8)
        .second((rest % 60) as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// The answer sheets to print, one after another, without a list of them: with a roster, one
/// per student; otherwise `copies` anonymous ones.
enum SheetPlan<'a> {
    Roster(&'a Exam, &'a [Student]),
    Copies(&'a Exam, usize),
}

/// One answer sheet to print: whose, and which version.
struct Sheet<'a> {
    student: Option<&'a Student>,
    version: &'a str,
}

impl<'a> SheetPlan<'a> {
    fn new(
        exam: &'a Exam,
        roster: Option<&'a [Student]>,
        copies: usize,
    ) -> Result<Self, RenderError> {
        match roster {
            Some([]) => Err(RenderError::EmptyRoster),
            Some(_) if copies != 1 => Err(RenderError::CopiesWithRoster),
            Some(students) => {
                check_roster(students)?;
                Ok(Self::Roster(exam, students))
            }
            None if copies == 0 => Err(RenderError::NoCopies),
            None => Ok(Self::Copies(exam, copies)),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Roster(_, students) => students.len(),
            Self::Copies(_, n) => *n,
        }
    }

    /// The sheets in print order: versions in turn along that order (the *i*-th printed gets
    /// `versions[i % n]`, so that neighbours in a class get different versions).
    fn ordered(&self, order: StudentOrder) -> impl Iterator<Item = Sheet<'a>> + '_ {
        let (exam, students) = match *self {
            Self::Roster(exam, students) => (exam, Some(students)),
            Self::Copies(exam, _) => (exam, None),
        };
        let mut indices: Vec<usize> = (0..self.len()).collect();
        if let (StudentOrder::ClassThenName, Some(students)) = (order, students) {
            let keys: Vec<(String, String)> = students
                .iter()
                .map(|s| (sort_key(&s.class), sort_key(&s.name)))
                .collect();
            // Stable: equal names keep their roster order.
            indices.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
        }
        indices
            .into_iter()
            .enumerate()
            .map(move |(i, index)| Sheet {
                student: students.and_then(|s| s.get(index)),
                version: exam.versions[i % exam.versions.len()].as_str(),
            })
    }

    /// The versions printed (all of them once there are as many sheets as versions).
    fn versions(&self) -> impl Iterator<Item = &'a str> + '_ {
        let exam = match *self {
            Self::Roster(exam, _) | Self::Copies(exam, _) => exam,
        };
        exam.versions.iter().take(self.len()).map(String::as_str)
    }

    fn students(&self) -> &'a [Student] {
        match *self {
            Self::Roster(_, students) => students,
            Self::Copies(..) => &[],
        }
    }
}

/// What [`model::read_roster`] guarantees, checked again for rosters built in code: every
/// student has an id and a name, no field is longer than its limit, and no id appears twice
/// (the manifest maps codes to ids).
fn check_roster(students: &[Student]) -> Result<(), RenderError> {
    let mut ids = HashSet::new();
    for (index, s) in students.iter().enumerate() {
        let problem = if s.student_id.trim().is_empty() {
            Some("student_id is empty".to_string())
        } else if s.name.trim().is_empty() {
            Some("name is empty".to_string())
        } else if let Err(message) = s.check_lengths() {
            Some(message)
        } else if !ids.insert(s.student_id.as_str()) {
            Some(format!("student_id {:?} appears twice", s.student_id))
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(RenderError::Roster { index, message });
        }
    }
    Ok(())
}

/// The embedded fonts of the per-page text: each face subset to the characters this bundle's
/// real text uses (names, classes, ids, versions; sheet codes for the monospaced face).
fn bundle_fonts(
    sheets: &SheetPlan<'_>,
    booklet_labels: Option<&Labels>,
) -> Result<PageFonts, FontError> {
    let mut text: BTreeSet<char> = "?…".chars().collect();
    if let Some(l) = booklet_labels {
        // The personal band of booklet pages: "NOME: …", "TURMA: …", "Caderno — página 2/4".
        for label in [l.name, l.class, l.student_id, l.version, l.booklet_page] {
            text.extend(label.chars());
        }
        text.extend(": /0123456789".chars());
    }
    for version in sheets.versions() {
        text.extend(version.chars());
    }
    for s in sheets.students() {
        text.extend(s.name.chars());
        text.extend(s.class.chars());
        text.extend(s.student_id.chars());
    }
    let mut code: BTreeSet<char> = model::sheet_code::ALPHABET
        .iter()
        .map(|&b| char::from(b))
        .collect();
    code.insert('-');
    Ok(PageFonts {
        regular: EmbeddedFont::new(fonts::SANS, &text, "DejaVuSans")?,
        bold: EmbeddedFont::new(fonts::SANS_BOLD, &text, "DejaVuSans-Bold")?,
        mono_bold: EmbeddedFont::new(fonts::MONO_BOLD, &code, "DejaVuSansMono-Bold")?,
    })
}
