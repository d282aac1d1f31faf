//! Gabarito's renderer: an exam and a roster in, a printable PDF bundle and its `bundle.json`
//! manifest out.
//!
//! Every page is an answer sheet page: the artwork common to the exam (corner marks, bubbles,
//! letters, numbers, labels, instructions) is one Form XObject per sheet page layout, drawn with
//! one `Do`; each page adds its own QR code, printed sheet code and the student's details. The
//! geometry comes from [`model::layout`]; the manifest from [`model::bundle`].

mod content;
mod fonts;
mod labels;
mod output;
mod page;
mod qr;
mod subset;
mod template;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use model::exam::ExamError;
use model::layout::{LAYOUT_VERSION, PageLayout, SheetShape, layout_sheet};
use model::{Bundle, BundlePage, Exam, SheetCode, Student};
use printpdf::{
    DictItem, ExternalStream, ExternalXObject, ParsedFont, PdfDocument, PdfPage, PdfSaveOptions,
    Pt, XObjectId,
};
use rand::SeedableRng;

pub use fonts::FontError;
pub use output::{StagedBundle, WriteError};
pub use qr::QrError;

use crate::fonts::Fonts;
use crate::page::{FontIds, PageIdentity, page_ops};
use crate::template::{TemplateInput, template_stream};

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
    exam.validate()?;
    let sheets = plan_sheets(exam, roster, copies)?;
    let shape = SheetShape::of(exam, roster.is_none());
    let layouts = layout_sheet(&shape);
    let fonts = Fonts::load()?;

    let mut doc = PdfDocument::new(&exam.title);
    let info = &mut doc.metadata.info;
    info.creator = "Gabarito render-service".into();
    info.producer = "Gabarito render-service (printpdf)".into();
    info.subject = exam.subject.clone();
    let now = printpdf::OffsetDateTime::now();
    info.creation_date = now;
    info.modification_date = now;
    info.metadata_date = now;
    let [regular, bold, mono_bold] = bundle_fonts(&sheets)?;
    let ids = FontIds {
        regular: doc.add_font(&regular),
        bold: doc.add_font(&bold),
        mono_bold: doc.add_font(&mono_bold),
    };
    let forms: Vec<XObjectId> = layouts
        .iter()
        .enumerate()
        .map(|(i, layout)| {
            let stream = template_stream(
                &fonts,
                &TemplateInput {
                    exam,
                    layout,
                    sheet_page: i + 1,
                    sheet_pages: layouts.len(),
                },
            );
            doc.add_xobject(&form_xobject(layout, stream))
        })
        .collect();

    // Every page with the same geometry shares it in the manifest.
    let shared_layouts: Vec<Arc<PageLayout>> = layouts.iter().cloned().map(Arc::new).collect();
    let mut seen = HashSet::new();
    let mut pages = Vec::with_capacity(sheets.len() * layouts.len());
    let mut manifest_pages = Vec::with_capacity(pages.capacity());
    for sheet in &sheets {
        for (i, ((layout, shared_layout), form)) in
            layouts.iter().zip(&shared_layouts).zip(&forms).enumerate()
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
            let ops = page_ops(&fonts, &ids, form, layout, &who)?;
            pages.push(pdf_page(layout, ops));
            manifest_pages.push(BundlePage {
                pdf_page: u32::try_from(manifest_pages.len() + 1).unwrap_or(u32::MAX),
                sheet_code: code,
                student_id: sheet.student.map(|s| s.student_id.clone()),
                student_name: sheet.student.map(|s| s.name.clone()),
                class: sheet.student.map(|s| s.class.clone()),
                version: sheet.version.to_string(),
                sheet_page: u32::try_from(i + 1).unwrap_or(u32::MAX),
                sheet_pages: u32::try_from(layouts.len()).unwrap_or(u32::MAX),
                layout: Arc::clone(shared_layout),
            });
        }
    }
    doc.with_pages(pages);
    let pdf = doc.save(&PdfSaveOptions::default(), &mut Vec::new());
    Ok(RenderedBundle {
        pdf,
        manifest: Bundle {
            exam_id: None,
            layout_version: LAYOUT_VERSION,
            exam: exam.clone(),
            pages: manifest_pages,
        },
    })
}

/// One answer sheet to print: whose, and which version.
struct SheetPlan<'a> {
    student: Option<&'a Student>,
    version: &'a str,
}

fn plan_sheets<'a>(
    exam: &'a Exam,
    roster: Option<&'a [Student]>,
    copies: usize,
) -> Result<Vec<SheetPlan<'a>>, RenderError> {
    let version = |i: usize| exam.versions[i % exam.versions.len()].as_str();
    match roster {
        Some([]) => Err(RenderError::EmptyRoster),
        Some(_) if copies != 1 => Err(RenderError::CopiesWithRoster),
        Some(students) => {
            check_roster(students)?;
            Ok(students
                .iter()
                .enumerate()
                .map(|(i, s)| SheetPlan {
                    student: Some(s),
                    version: version(i),
                })
                .collect())
        }
        None if copies == 0 => Err(RenderError::NoCopies),
        None => Ok((0..copies)
            .map(|i| SheetPlan {
                student: None,
                version: version(i),
            })
            .collect()),
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

/// The embedded fonts as printpdf wants them: each subset to the characters this bundle's real
/// text uses (names, classes, ids, versions; sheet codes for the monospaced face).
fn bundle_fonts(sheets: &[SheetPlan<'_>]) -> Result<[ParsedFont; 3], FontError> {
    let mut text: BTreeSet<char> = "?…".chars().collect();
    for sheet in sheets {
        text.extend(sheet.version.chars());
        if let Some(s) = sheet.student {
            text.extend(s.name.chars());
            text.extend(s.class.chars());
            text.extend(s.student_id.chars());
        }
    }
    let mut code: BTreeSet<char> = model::sheet_code::ALPHABET
        .iter()
        .map(|&b| char::from(b))
        .collect();
    code.insert('-');
    let parse = |bytes: &[u8], chars: &BTreeSet<char>, name: &'static str| {
        let subset = subset::subset_font(bytes, chars, name)?;
        let mut font =
            ParsedFont::from_bytes(&subset, 0, &mut Vec::new()).ok_or(FontError(name))?;
        // The "six capitals +" prefix tells readers the embedded program is a subset.
        font.font_name = Some(format!("GBRTSB+{name}"));
        Ok::<_, FontError>(font)
    };
    Ok([
        parse(fonts::SANS, &text, "DejaVuSans")?,
        parse(fonts::SANS_BOLD, &text, "DejaVuSans-Bold")?,
        parse(fonts::MONO_BOLD, &code, "DejaVuSansMono-Bold")?,
    ])
}

/// A Form XObject holding `stream`, in page space (bounding box = the page).
fn form_xobject(layout: &PageLayout, stream: Vec<u8>) -> ExternalXObject {
    let name = |s: &str| DictItem::Name(s.as_bytes().to_vec());
    let dict = BTreeMap::from([
        ("Type".to_string(), name("XObject")),
        ("Subtype".to_string(), name("Form")),
        (
            "BBox".to_string(),
            DictItem::Array(vec![
                DictItem::Real(0.0),
                DictItem::Real(0.0),
                DictItem::Real(layout.paper.width),
                DictItem::Real(layout.paper.height),
            ]),
        ),
        (
            "Resources".to_string(),
            DictItem::Dict {
                map: BTreeMap::new(),
            },
        ),
    ]);
    ExternalXObject {
        stream: ExternalStream {
            dict,
            content: stream,
            compress: true,
        },
        width: None,
        height: None,
        dpi: None,
    }
}

fn pdf_page(layout: &PageLayout, ops: Vec<printpdf::Op>) -> PdfPage {
    let size = printpdf::Rect::from_wh(Pt(layout.paper.width), Pt(layout.paper.height));
    PdfPage {
        media_box: size.clone(),
        trim_box: size.clone(),
        crop_box: size,
        ops,
    }
}
