//! Gabarito's renderer: an exam and a roster in, a printable PDF bundle and its `bundle.json`
//! manifest out.
//!
//! Every page is an answer sheet page: the artwork common to the exam (corner marks, bubbles,
//! letters, numbers, labels, instructions) is one Form XObject per sheet page layout, drawn with
//! one `Do`; each page adds its own QR code, printed sheet code and the student's details. The
//! geometry comes from [`model::layout`]; the manifest from [`model::bundle`].
//!
//! [`render_bundle_to`] writes the PDF as a stream, page after page, so that memory does not
//! grow with the roster (beyond the manifest); the other entry points render into memory.

mod content;
mod embed;
mod fonts;
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
use model::layout::{LAYOUT_VERSION, PageLayout, SheetShape, layout_sheet};
use model::{Bundle, BundlePage, Exam, SheetCode, Student};
use pdf_writer::writers::{Catalog, DocumentInfo, Resources};
use pdf_writer::{Chunk, Filter, Finish, Name, Rect, Ref, TextStr};
use rand::SeedableRng;

pub use fonts::FontError;
pub use output::{StagedBundle, WriteError};
pub use qr::QrError;

use crate::embed::{EmbeddedFont, FontRefs};
use crate::fonts::Fonts;
use crate::page::{PageFonts, PageIdentity, page_content};
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
    /// The PDF could not be written to its destination (the error's `source()`).
    #[error("writing the PDF")]
    Io(#[from] std::io::Error),
}

/// Renders the exam's answer sheets: one sheet per roster student (versions in turn: student
/// *i* gets `versions[i % n]`), or `copies` anonymous sheets with a student-number grid when
/// `roster` is `None` (versions in turn likewise). Every PDF page gets a fresh random
/// [`SheetCode`]. With a roster, `copies` must be 1.
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

/// Pages the bundle of [`render_bundle_to`] will have (for progress before rendering),
/// validating the exam and the roster exactly as rendering would.
pub fn bundle_page_count(
    exam: &Exam,
    roster: Option<&[Student]>,
    copies: usize,
) -> Result<u32, RenderError> {
    exam.validate()?;
    let sheets = SheetPlan::new(exam, roster, copies)?;
    let layouts = layout_sheet(&SheetShape::of(exam, roster.is_none()));
    page_count(sheets.len(), layouts.len())
}

fn page_count(sheets: usize, sheet_pages: usize) -> Result<u32, RenderError> {
    let pages = sheets as u128 * sheet_pages as u128;
    u32::try_from(pages)
        .ok()
        .filter(|&p| p <= MAX_PAGES)
        .ok_or(RenderError::TooManyPages { pages })
}

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
    exam.validate()?;
    let sheets = SheetPlan::new(exam, roster, copies)?;
    let shape = SheetShape::of(exam, roster.is_none());
    let layouts = layout_sheet(&shape);
    let total = page_count(sheets.len(), layouts.len())?;
    let fonts = Fonts::load()?;
    let embedded = bundle_fonts(&sheets)?;

    // Every object number is known before anything is written: the fixed objects, then two a
    // page (its page object, then its content stream).
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
    let first_page = next + 1;
    // `total` ≤ MAX_PAGES: the numbers fit.
    let page_ref = |i: u32| Ref::new(first_page + 2 * i as i32);
    let objects = usize::try_from(first_page).unwrap_or(0) - 1 + 2 * total as usize;

    let mut pdf = PdfStream::new(out, objects)?;
    let styles = [
        fonts::Style::Regular,
        fonts::Style::Bold,
        fonts::Style::MonoBold,
    ];
    for (&style, &refs) in styles.iter().zip(&font_refs) {
        embedded.get(style).0.write(refs, &mut pdf)?;
    }
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
    forms.finish();
    r.finish();
    pdf.object(&c)?;
    for (i, (layout, &form)) in layouts.iter().zip(&form_refs).enumerate() {
        let stream = deflate(&template_stream(
            &fonts,
            &TemplateInput {
                exam,
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

    progress(0, total);
    // Every page with the same geometry shares it in the manifest.
    let shared_layouts: Vec<Arc<PageLayout>> = layouts.iter().cloned().map(Arc::new).collect();
    let mut seen = HashSet::new();
    let mut manifest_pages = Vec::with_capacity(total as usize);
    let mut done: u32 = 0;
    for sheet in sheets.iter() {
        for (i, ((layout, shared_layout), form)) in layouts
            .iter()
            .zip(&shared_layouts)
            .zip(&form_names)
            .enumerate()
        {
            let code = loop {
                // 69 random bits: a repeat is practically impossible, but must never happen.
                let code = SheetCode::random_with(rng);
                if seen.insert(code) {
                    break code;
                }
            };
            let who = PageIdentity {
                code: &code,
                student: sheet.student,
                version: sheet.version,
            };
            let content = deflate(&page_content(&fonts, &embedded, form, layout, &who)?);
            let (page, contents) = (page_ref(done), Ref::new(page_ref(done).get() + 1));
            let mut c = Chunk::new();
            let size = paper(layout);
            c.page(page)
                .parent(page_tree)
                .media_box(size)
                .crop_box(size)
                .trim_box(size)
                .contents(contents)
                .pair(Name(b"Resources"), resources);
            pdf.object(&c)?;
            let mut c = Chunk::new();
            c.stream(contents, &content).filter(Filter::FlateDecode);
            pdf.object(&c)?;

            done += 1;
            manifest_pages.push(BundlePage {
                pdf_page: done,
                sheet_code: code,
                student_id: sheet.student.map(|s| s.student_id.clone()),
                student_name: sheet.student.map(|s| s.name.clone()),
                class: sheet.student.map(|s| s.class.clone()),
                version: sheet.version.to_string(),
                sheet_page: u32::try_from(i + 1).unwrap_or(u32::MAX),
                sheet_pages: u32::try_from(layouts.len()).unwrap_or(u32::MAX),
                layout: Arc::clone(shared_layout),
            });
            if done.is_multiple_of(PROGRESS_EVERY) && done < total {
                progress(done, total);
            }
        }
    }

    let mut c = Chunk::new();
    c.pages(page_tree)
        .count(i32::try_from(total).unwrap_or(i32::MAX))
        .kids((0..total).map(page_ref));
    pdf.object(&c)?;
    let mut c = Chunk::new();
    c.indirect(catalog).start::<Catalog>().pages(page_tree);
    pdf.object(&c)?;
    let mut c = Chunk::new();
    let now = now_utc();
    let mut doc_info = c.indirect(info).start::<DocumentInfo>();
    doc_info
        .title(TextStr(&exam.title))
        .creator(TextStr("Gabarito render-service"))
        .producer(TextStr("Gabarito render-service (pdf-writer)"))
        .creation_date(now)
        .modified_date(now);
    if !exam.subject.is_empty() {
        doc_info.subject(TextStr(&exam.subject));
    }
    doc_info.finish();
    pdf.object(&c)?;
    pdf.finish(catalog, info)?.flush()?;
    progress(total, total);

    Ok(Bundle {
        exam_id: None,
        layout_version: LAYOUT_VERSION,
        exam: exam.clone(),
        pages: manifest_pages,
    })
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

    /// The sheets in order; versions in turn (sheet *i* gets `versions[i % n]`).
    fn iter(&self) -> impl Iterator<Item = Sheet<'a>> + '_ {
        let (exam, students) = match *self {
            Self::Roster(exam, students) => (exam, Some(students)),
            Self::Copies(exam, _) => (exam, None),
        };
        (0..self.len()).map(move |i| Sheet {
            student: students.and_then(|s| s.get(i)),
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
fn bundle_fonts(sheets: &SheetPlan<'_>) -> Result<PageFonts, FontError> {
    let mut text: BTreeSet<char> = "?…".chars().collect();
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
