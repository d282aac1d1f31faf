//! Grading one file: decode its pages, then align, identify, read and score each page.
//! Every failure ends up in the page's report; nothing here panics on bad input.

use std::path::Path;
use std::sync::Arc;

use image::GrayImage;
use model::Bundle;
use model::layout::PageLayout;
use model::scoring::{AnswerState, score_sheet};

use crate::align::{self, Alignment};
use crate::decode::{self, Limits};
use crate::directory::{BundleDirectory, PageFrame, SheetDirectory, SheetInfo};
use crate::geometry::Homography;
use crate::guard::guarded;
use crate::identify::{self, TextIdReader};
use crate::marks::MarkReading;
use crate::report::{AnswerReport, BookletReport, PageReport, ReviewReason};

/// Grades scans against a directory of printed sheets.
pub struct Grader {
    directory: Box<dyn SheetDirectory>,
    frames: Vec<PageFrame>,
    ocr: Option<Box<dyn TextIdReader>>,
    local_ocr: bool,
    deferred_ocr: bool,
    limits: Limits,
}

/// A page no local step could identify, left for an OCR that runs elsewhere (Cloud Vision):
/// the crop of its printed id to send, and what [`Grader::finish_with_text`] needs to grade the
/// page once the text is back.
#[derive(Debug, Clone)]
pub struct PendingId {
    /// The printed id, upright, with margins ([`crate::ocr::text_id_crop`] of the aligned page):
    /// never the whole page.
    pub crop: GrayImage,
    alignment: Alignment,
}

/// What was seen on one page, kept for drawing the annotated image.
#[derive(Debug, Clone)]
pub struct PageScan {
    /// The page at working resolution.
    pub image: GrayImage,
    /// Layout points → pixels of `image`, when the page could be aligned.
    pub homography: Option<Homography>,
    /// The identified sheet, if any.
    pub sheet: Option<SheetInfo>,
    /// Marks as read: on an identified sheet, or on one whose layout is known without its
    /// identity (see [`SheetDirectory::shared_layout`]).
    pub reading: Option<MarkReading>,
    /// The layout the marks were read with.
    pub layout: Option<Arc<PageLayout>>,
}

/// One graded page: its report, and what is needed to annotate it.
#[derive(Debug, Clone)]
pub struct GradedPage {
    /// The `--json` outcome.
    pub report: PageReport,
    /// The page as seen; `None` when it could not be decoded.
    pub scan: Option<PageScan>,
    /// Set when the page aligned but no local step read its code and the grader defers to an
    /// external OCR ([`Grader::with_deferred_ocr`]): until [`Grader::finish_with_text`], the
    /// report says the page is unidentified.
    pub pending: Option<PendingId>,
}

impl Grader {
    /// A grader for the sheets of one rendered bundle (`bundle.json`).
    pub fn new(bundle: Bundle) -> Self {
        Self::with_directory(Box::new(BundleDirectory::new(bundle)))
    }

    /// A grader that looks sheets up in `directory` (a database, or several bundles).
    pub fn with_directory(directory: Box<dyn SheetDirectory>) -> Self {
        let mut frames = directory.frames();
        if frames.is_empty() {
            frames = crate::directory::standard_frames();
        }
        Self {
            directory,
            frames,
            ocr: None,
            local_ocr: true,
            deferred_ocr: false,
            limits: Limits::default(),
        }
    }

    /// Adds an OCR reader of the printed text id (the cloud's), the last resort when neither a
    /// QR decoder nor the local OCR reads the code.
    pub fn with_ocr(mut self, ocr: Box<dyn TextIdReader>) -> Self {
        self.ocr = Some(ocr);
        self
    }

    /// Turns the local OCR of the printed text id on (the default) or off.
    pub fn with_local_ocr(mut self, on: bool) -> Self {
        self.local_ocr = on;
        self
    }

    /// Leaves pages whose code no local step reads to an OCR the caller runs later, batched
    /// across pages (see [`GradedPage::pending`] and [`Grader::finish_with_text`]): the pipeline
    /// stays synchronous and the caller decides how to reach the cloud. Off by default.
    pub fn with_deferred_ocr(mut self, on: bool) -> Self {
        self.deferred_ocr = on;
        self
    }

    /// Finishes a page left pending ([`GradedPage::pending`]) with the text an external OCR
    /// read in its crop (`None`: it read nothing, or failed). The text must hold a code that
    /// passes its check symbol and names a printed sheet, else the page stays unidentified (for
    /// review). A page that is not pending is returned as it is.
    pub fn finish_with_text(&self, mut page: GradedPage, text: Option<&str>) -> GradedPage {
        let (Some(pending), Some(scan)) = (page.pending.take(), page.scan.as_ref()) else {
            return page;
        };
        let Some(text) = text else {
            return page;
        };
        let sheet = match identify::ocr_text_candidates(text, self.directory.as_ref()) {
            Ok(sheet) => sheet,
            Err(why) => {
                for r in &mut page.report.review {
                    if let ReviewReason::Unidentified(u) = r {
                        *u = why.clone();
                    }
                }
                return page;
            }
        };
        let image = scan.image.clone();
        let alignment = pending.alignment;
        let finished = guarded(|| {
            let mut report = empty_report(&page.report.file, page.report.page);
            report.review.extend(alignment.doubts.iter().cloned());
            let scan = PageScan {
                image: image.clone(),
                homography: Some(alignment.homography),
                sheet: None,
                reading: None,
                layout: None,
            };
            let identity = identify::Identity {
                sheet: sheet.clone(),
                by: crate::report::IdentifiedBy::OcrVision,
                marks: alignment.marks,
            };
            self.grade_identified(report, scan, &image, &alignment, identity)
        });
        finished.unwrap_or(page)
    }

    /// Replaces the input limits (file size, image dimensions, pages).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Grades every page of an image or PDF held in memory. One report per page; a file that
    /// cannot be decoded at all yields one report with `error` set.
    pub fn grade_bytes(&self, file_name: &str, bytes: &[u8]) -> Vec<PageReport> {
        self.grade_bytes_scanned(file_name, bytes)
            .into_iter()
            .map(|p| p.report)
            .collect()
    }

    /// Grades a file on disk (see [`Grader::grade_bytes`]).
    pub fn grade_file(&self, path: &Path) -> Vec<PageReport> {
        self.grade_file_scanned(path)
            .into_iter()
            .map(|p| p.report)
            .collect()
    }

    /// Like [`Grader::grade_file`], keeping each page's scan for annotation.
    pub fn grade_file_scanned(&self, path: &Path) -> Vec<GradedPage> {
        let name = path.display().to_string();
        match decode::read_file_limited(path, &self.limits) {
            Ok(bytes) => self.grade_bytes_scanned(&name, &bytes),
            Err(e) => vec![failed(&name, 1, e.to_string())],
        }
    }

    /// Like [`Grader::grade_bytes`], keeping each page's scan for annotation. Every page is held
    /// at once: a multi-page PDF is better graded with [`Grader::grade_each_page`].
    pub fn grade_bytes_scanned(&self, file_name: &str, bytes: &[u8]) -> Vec<GradedPage> {
        let mut pages = Vec::new();
        self.grade_each_page(file_name, bytes, |page| pages.push(page));
        pages
    }

    /// Grades the pages of a file one at a time: each page is decoded, graded and handed to
    /// `sink` before the next one is decoded, so memory does not grow with the page count.
    /// A file that cannot be decoded at all yields one failed page 1.
    pub fn grade_each_page(&self, file_name: &str, bytes: &[u8], mut sink: impl FnMut(GradedPage)) {
        let mut pages = match guarded(|| decode::pages(bytes, &self.limits)) {
            Ok(Ok(pages)) => pages,
            Ok(Err(e)) => return sink(failed(file_name, 1, e.to_string())),
            Err(()) => return sink(failed(file_name, 1, "decoder crashed".into())),
        };
        let mut next_page = 1;
        loop {
            // Each page's decoding is guarded within; this catches what is left (the page tree).
            let page = match guarded(|| pages.next()) {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(()) => {
                    sink(failed(file_name, next_page, "decoder crashed".into()));
                    break;
                }
            };
            next_page = page.page.saturating_add(1);
            sink(match page.image {
                Ok(image) => self.grade_image(file_name, page.page, image),
                Err(e) => failed(file_name, page.page, e.to_string()),
            });
        }
    }

    /// Grades one decoded page (grayscale, any resolution from ~100 dpi up).
    pub fn grade_image(&self, file_name: &str, page: u32, image: GrayImage) -> GradedPage {
        match guarded(|| self.grade_page(file_name, page, &image)) {
            Ok(graded) => graded,
            Err(()) => {
                let mut g = failed(file_name, page, "internal error while grading".into());
                g.scan = Some(PageScan {
                    image,
                    homography: None,
                    sheet: None,
                    reading: None,
                    layout: None,
                });
                g
            }
        }
    }

    fn grade_page(&self, file_name: &str, page: u32, image: &GrayImage) -> GradedPage {
        let mut report = empty_report(file_name, page);
        let mut scan = PageScan {
            image: image.clone(),
            homography: None,
            sheet: None,
            reading: None,
            layout: None,
        };
        let alignment: Alignment = match align::align(image, &self.frames) {
            Ok(a) => a,
            Err(e) => {
                report.error = Some(e.to_string());
                return GradedPage {
                    report,
                    scan: Some(scan),
                    pending: None,
                };
            }
        };
        report.review.extend(alignment.doubts.iter().cloned());
        scan.homography = Some(alignment.homography);
        let identity = identify::identify(
            image,
            &alignment,
            &self.frames,
            self.directory.as_ref(),
            self.local_ocr,
            self.ocr.as_deref(),
        );
        let identity = match identity {
            Ok(id) => id,
            Err(why) => {
                let pending = (self.deferred_ocr
                    && why == crate::report::Unidentified::QrUnreadable)
                    .then(|| {
                        self.frames.get(alignment.frame).map(|f| PendingId {
                            crop: crate::ocr::text_id_crop(
                                image,
                                &alignment.homography,
                                &f.text_id,
                            ),
                            alignment: alignment.clone(),
                        })
                    })
                    .flatten();
                report.review.push(ReviewReason::Unidentified(why));
                // Capture the marks all the same when every page of this frame has the same
                // bubbles: resolving the identity then needs no second scan. Never scored.
                let layout = self
                    .frames
                    .get(alignment.frame)
                    .and_then(|f| self.directory.shared_layout(f));
                if let Some(layout) = layout {
                    let (h, reading) =
                        align::read_verified(image, &alignment, &alignment.homography, &layout);
                    scan.homography = Some(h);
                    note_reading(&mut report, &reading);
                    scan.reading = Some(reading);
                    scan.layout = Some(layout);
                }
                return GradedPage {
                    report,
                    scan: Some(scan),
                    pending,
                };
            }
        };
        self.grade_identified(report, scan, image, &alignment, identity)
    }

    /// The rest of a page once its sheet is known: read the marks with its layout, score them.
    fn grade_identified(
        &self,
        mut report: PageReport,
        mut scan: PageScan,
        image: &GrayImage,
        alignment: &Alignment,
        identity: identify::Identity,
    ) -> GradedPage {
        let sheet = identity.sheet.clone();
        report.sheet_code = Some(sheet.code.printed());
        report.student_id = sheet.student_id.clone();
        report.version = Some(sheet.version.clone());
        report.identified_by = Some(identity.by);
        if let Some(booklet) = &sheet.booklet {
            // A booklet page: no bubbles to read and nothing to score. A written answer on it
            // goes to a person, under its student.
            let mut open_questions: Vec<u32> = booklet
                .answer_boxes
                .iter()
                .map(|b| b.open_question + 1)
                .collect();
            open_questions.sort_unstable();
            open_questions.dedup();
            if !open_questions.is_empty() {
                report
                    .review
                    .push(ReviewReason::WrittenAnswer(open_questions.clone()));
            }
            report.booklet = Some(BookletReport {
                booklet_page: booklet.page,
                open_questions,
            });
            scan.layout = Some(Arc::clone(&sheet.layout));
            scan.sheet = Some(sheet);
            return GradedPage {
                report,
                scan: Some(scan),
                pending: None,
            };
        }
        let Some(h) = align::homography_for(&identity.marks, &sheet.layout.corner_marks) else {
            report.error = Some("cannot align: corner marks are degenerate".into());
            return GradedPage {
                report,
                scan: Some(scan),
                pending: None,
            };
        };
        let (h, reading) = align::read_verified(image, alignment, &h, &sheet.layout);
        scan.homography = Some(h);
        note_reading(&mut report, &reading);
        let read = reading.answers();
        match score_sheet(&sheet.exam, &sheet.version, &read) {
            Ok(score) => {
                report.score = Some(score.score);
                report.max_score = Some(score.max_score);
            }
            Err(e) => report.review.push(ReviewReason::CannotScore(e.to_string())),
        }
        scan.layout = Some(Arc::clone(&sheet.layout));
        scan.sheet = Some(sheet);
        scan.reading = Some(reading);
        GradedPage {
            report,
            scan: Some(scan),
            pending: None,
        }
    }
}

/// Puts the marks read into the report, every uncertain one among the review reasons, and the
/// student number of an anonymous sheet.
fn note_reading(report: &mut PageReport, reading: &MarkReading) {
    report.answers = reading
        .questions
        .iter()
        .map(|q| AnswerReport {
            question: q.question,
            marked: q.marked_labels.clone(),
            state: q.state,
        })
        .collect();
    let uncertain: Vec<u32> = reading
        .questions
        .iter()
        .filter(|q| q.state == AnswerState::Uncertain)
        .map(|q| q.question)
        .collect();
    if !uncertain.is_empty() {
        report.review.push(ReviewReason::UncertainMarks(uncertain));
    }
    report.review.extend(reading.doubts.iter().cloned());
    // An anonymous sheet names its student only through the grid.
    if let Some(number) = &reading.student_number {
        match &number.value {
            Some(n) => {
                if report.student_id.is_none() {
                    report.student_id = Some(n.clone());
                }
            }
            None if number.digits.iter().all(|d| d.state == AnswerState::Blank) => {
                report.review.push(ReviewReason::StudentNumberBlank);
            }
            None => {
                report
                    .review
                    .push(ReviewReason::StudentNumberUnclear(number.unclear_digits()));
            }
        }
    }
}

fn empty_report(file: &str, page: u32) -> PageReport {
    PageReport {
        file: file.to_string(),
        page,
        sheet_code: None,
        student_id: None,
        version: None,
        identified_by: None,
        answers: Vec::new(),
        score: None,
        max_score: None,
        review: Vec::new(),
        error: None,
        booklet: None,
    }
}

/// The report of a page that could not be graded at all.
pub fn failed_report(file: &str, page: u32, error: String) -> PageReport {
    let mut report = empty_report(file, page);
    report.error = Some(error);
    report
}

fn failed(file: &str, page: u32, error: String) -> GradedPage {
    let mut report = empty_report(file, page);
    report.error = Some(error);
    GradedPage {
        report,
        scan: None,
        pending: None,
    }
}
