//! A synthetic stand-in for the typesetter's output (until typst's is merged): one PDF with
//! every version's booklet pages, text in an embedded TrueType font shared by every page, and
//! one image per version shared by its pages, as typst-pdf shares fonts and images.

// Shared by the tests and the benchmark, which use different parts.
#![allow(dead_code)]

use model::Exam;
use model::layout::{Rect as LayoutRect, booklet_frame};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str};
use render::{TypesetAnswerBox, TypesetBooklets, TypesetVersion};

/// The vendored face embedded in the synthetic PDF.
const FONT: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// `pages` booklet pages per version of `exam` (on its paper), in one PDF: version *v*'s
/// pages are `v*pages..(v+1)*pages`. The last page of each version holds the answer box of
/// open question 0 when `answer_box` is set.
pub fn synthetic_typeset(exam: &Exam, pages: u32, answer_box: bool) -> TypesetBooklets {
    let (width, height) = exam.paper.size_pt();
    let body = booklet_frame(exam.paper).body;
    let mut pdf = Pdf::new();
    let mut next = 0;
    let mut alloc = || {
        next += 1;
        Ref::new(next)
    };
    let (catalog, tree, font, descriptor, program) = (alloc(), alloc(), alloc(), alloc(), alloc());
    let versions = exam.versions.len() as u32;
    let images: Vec<Ref> = (0..versions).map(|_| alloc()).collect();
    let page_ids: Vec<(Ref, Ref)> = (0..versions * pages).map(|_| (alloc(), alloc())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);

    // A simple TrueType font (WinAnsi, fixed widths: the test reads text, not kerning).
    let mut f = pdf.indirect(font).dict();
    f.pair(Name(b"Type"), Name(b"Font"));
    f.pair(Name(b"Subtype"), Name(b"TrueType"));
    f.pair(Name(b"BaseFont"), Name(b"DejaVuSans"));
    f.pair(Name(b"FirstChar"), 32);
    f.pair(Name(b"LastChar"), 126);
    f.insert(Name(b"Widths"))
        .array()
        .items((32..=126).map(|_| 600));
    f.pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"));
    f.pair(Name(b"FontDescriptor"), descriptor);
    f.finish();
    pdf.font_descriptor(descriptor)
        .name(Name(b"DejaVuSans"))
        .flags(pdf_writer::types::FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(-1021.0, -463.0, 1793.0, 1232.0))
        .italic_angle(0.0)
        .ascent(928.0)
        .descent(-236.0)
        .cap_height(729.0)
        .stem_v(80.0)
        .font_file2(program);
    let compressed = deflate(FONT);
    pdf.stream(program, &compressed)
        .filter(Filter::FlateDecode)
        .pair(Name(b"Length1"), FONT.len() as i32);

    // One grey gradient picture per version, 64×32.
    for (v, &image) in images.iter().enumerate() {
        let pixels: Vec<u8> = (0..32u32)
            .flat_map(|y| (0..64u32).map(move |x| ((x * 4 + y * 2 + v as u32 * 60) % 256) as u8))
            .collect();
        let data = deflate(&pixels);
        let mut i = pdf.image_xobject(image, &data);
        i.filter(Filter::FlateDecode);
        i.width(64).height(32).bits_per_component(8);
        i.color_space().device_gray();
        i.finish();
    }

    let mut typeset = Vec::new();
    for (v, label) in exam.versions.iter().enumerate() {
        let v = v as u32;
        for k in 0..pages {
            let index = v * pages + k;
            let (page, contents) = page_ids[index as usize];
            let mut c = Content::new();
            c.begin_text();
            c.set_font(Name(b"F1"), 11.0);
            let top = height - body.y - 20.0;
            c.next_line(body.x, top);
            c.show(Str(format!(
                "Prova versao {label} - pagina {} de {pages}",
                k + 1
            )
            .as_bytes()));
            for q in 0..8 {
                c.next_line(0.0, -18.0);
                c.show(Str(format!(
                    "Questao {}: texto da questao {} da versao {label}.",
                    q + 1,
                    k * 8 + q + 1
                )
                .as_bytes()));
            }
            c.end_text();
            c.save_state();
            c.transform([128.0, 0.0, 0.0, 64.0, body.x, top - 260.0]);
            c.x_object(Name(b"Im1"));
            c.restore_state();
            let data = deflate(&c.finish().into_vec());
            pdf.stream(contents, &data).filter(Filter::FlateDecode);
            let mut p = pdf.page(page);
            p.parent(tree)
                .media_box(Rect::new(0.0, 0.0, width, height))
                .contents(contents);
            let mut resources = p.resources();
            resources.fonts().pair(Name(b"F1"), font);
            resources.x_objects().pair(Name(b"Im1"), images[v as usize]);
            resources.finish();
            p.finish();
        }
        typeset.push(TypesetVersion {
            label: label.clone(),
            pages: v * pages..(v + 1) * pages,
            answer_boxes: if answer_box {
                vec![TypesetAnswerBox {
                    page: (v + 1) * pages - 1,
                    open_question: 0,
                    rect: LayoutRect {
                        x: body.x,
                        y: body.y + body.height / 2.0,
                        width: body.width,
                        height: body.height / 3.0,
                    },
                }]
            } else {
                Vec::new()
            },
        });
    }
    TypesetBooklets {
        pdf: pdf.finish(),
        versions: typeset,
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).expect("in memory");
    z.finish().expect("in memory")
}

/// `pdf` rewritten by qpdf with object streams (and a cross-reference stream), as typst-pdf
/// may write; `None` when qpdf is not installed.
pub fn with_object_streams(pdf: &[u8]) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let (src, dst) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&src, pdf).ok()?;
    let status = std::process::Command::new("qpdf")
        .arg("--object-streams=generate")
        .arg(&src)
        .arg(&dst)
        .status()
        .ok()?;
    status.success().then(|| std::fs::read(&dst).ok()).flatten()
}
