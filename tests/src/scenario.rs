//! Who answers what, with which pen, scanned how: draws a sheet's whole story from a seed, in
//! proportions a school would see, then renders it over the clean page and keeps the truth.

use image::GrayImage;
use model::BundlePage;
use model::scoring::AnswerState;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde::Serialize;

use crate::SimError;
use crate::degrade::{
    Background, Degradation, Geometry, Homography, Lighting, Shadow, degrade, encode_jpeg,
    page_transform,
};
use crate::noise::{hash3, normal, uniform};
use crate::pen::{
    FillStyle, MarkSpec, MarkStats, RESIDUE_DARKNESS, StrayKind, Tool, draw_mark,
    draw_mark_erased_from, draw_pen_stroke, draw_scribble, draw_stain, draw_stray, stray_path,
};
use crate::rasterize::px_per_pt;

/// How the page was captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// A flatbed scanner: nearly straight, sharp, clean.
    Flatbed,
    /// A sheet-fed scanner or copier feeder: skew, some pages upside down, some at 200 dpi.
    Feeder,
    /// A phone photo: perspective, uneven light, shadows, a table around the page.
    Phone,
    /// A worn copier or fax-like scan: low contrast, noise, heavy JPEG.
    Photocopy,
}

impl Profile {
    /// Every profile, for reports.
    pub const ALL: [Profile; 4] = [
        Profile::Flatbed,
        Profile::Feeder,
        Profile::Phone,
        Profile::Photocopy,
    ];

    /// Short name, as in file names and reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Flatbed => "flatbed",
            Profile::Feeder => "feeder",
            Profile::Phone => "phone",
            Profile::Photocopy => "photocopy",
        }
    }
}

/// Damage done to the QR code on paper, before scanning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QrDamage {
    /// A pen stroke across the code.
    PenStroke,
    /// A stain over part of the code.
    Stain,
    /// The whole code scribbled out in pen; the printed id under it left intact.
    Scribbled,
}

/// Which table of captures the degradations are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Captures {
    /// What a school's scanners and phones usually do (`Mix::realistic`).
    Realistic,
    /// The worst that scanning stations and copiers really produce: skew up to ±6°, copies at
    /// 95–105%, pages fed up to 5 mm off-centre into a paper-sized scan area (corner marks cut
    /// off), keystone up to 6%, 200 dpi, JPEG 45–90 (`Mix::harsh`).
    Harsh,
}

/// Erasures in the harsh mix: who erases, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Erasures {
    /// Chance that a student erases at all (pencil users, and pen users who drafted in pencil).
    pub students: f64,
    /// Per answered question of an erasing student: range of the chance of residue beside the
    /// answer (the student's first choice, rubbed out).
    pub beside: (f32, f32),
    /// Per blank question of an erasing student: range of the chance that it holds residue.
    pub alone_in_blank: (f32, f32),
    /// Per answered question of an erasing student: chance the answer was rubbed out and the
    /// question left blank (residue alone, where the answer was).
    pub changed_to_blank: f64,
    /// Share of erasures that leave the smooth residue (8–20% dark); the rest leave the light,
    /// patchy kind of the realistic mix.
    pub residue_share: f64,
}

/// The proportions a set of sheets is drawn with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mix {
    /// Relative weights of flatbed, feeder, phone and photocopy captures.
    pub profiles: [f32; 4],
    /// Whether students mark with every style (false: pen and pencil fills only).
    pub all_styles: bool,
    /// Chance that a sheet carries stray marks.
    pub stray_rate: f64,
    /// Chance of a pen stroke across the QR code.
    pub qr_stroke_rate: f64,
    /// Chance of a stain over part of the QR code.
    pub qr_stain_rate: f64,
    /// Output JPEG quality range override (inclusive), e.g. 75–85 for the throughput benchmark.
    pub jpeg_quality: Option<(u8, u8)>,
    /// Whether some feeder scans are made at two thirds of the resolution (200 dpi from 300).
    pub low_dpi: bool,
    /// Chance that the QR code is scribbled out entirely (the printed id under it intact).
    pub qr_scribble_rate: f64,
    /// Which capture table the degradations are drawn from.
    pub captures: Captures,
    /// Erasure residue beyond the realistic mix's (which erases only for pencil users, lightly).
    pub erasures: Option<Erasures>,
    /// Stray dots and ticks also between bubbles, more strays per sheet.
    pub dense_strays: bool,
}

impl Mix {
    /// What a school's batch looks like: mostly scanners, a fifth phone photos, every marking
    /// style and damage present.
    pub fn realistic() -> Self {
        Self {
            profiles: [0.4, 0.3, 0.2, 0.1],
            all_styles: true,
            stray_rate: 0.25,
            qr_stroke_rate: 0.03,
            qr_stain_rate: 0.03,
            jpeg_quality: None,
            low_dpi: true,
            qr_scribble_rate: 0.0,
            captures: Captures::Realistic,
            erasures: None,
            dense_strays: false,
        }
    }

    /// The harshest scans a new school's batch holds (issue 10): every capture skewed up to
    /// ±6°, copies at 95–105%, feeders and copiers cutting corner marks off, phones at up to 6%
    /// keystone, uneven light, low contrast, blur, noise, 200 dpi, JPEG 45–90; erasure residue
    /// 8–20% darker than the paper alone and beside answers; stray dots between bubbles; pen
    /// strokes and stains over the QR code, and codes scribbled out entirely.
    pub fn harsh() -> Self {
        Self {
            profiles: [0.2, 0.35, 0.2, 0.25],
            all_styles: true,
            stray_rate: 0.5,
            qr_stroke_rate: 0.08,
            qr_stain_rate: 0.08,
            jpeg_quality: None,
            low_dpi: true,
            qr_scribble_rate: 0.06,
            captures: Captures::Harsh,
            erasures: Some(Erasures {
                students: 0.5,
                beside: (0.01, 0.04),
                alone_in_blank: (0.3, 0.8),
                changed_to_blank: 0.01,
                residue_share: 0.8,
            }),
            dense_strays: true,
        }
    }

    /// A named mix: `realistic` or `harsh`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "realistic" => Some(Self::realistic()),
            "harsh" => Some(Self::harsh()),
            _ => None,
        }
    }

    /// Flatbed and feeder scans at full resolution, every marking style, no QR damage, at a
    /// given JPEG quality range: the throughput benchmark's and the batch test's input.
    pub fn scanner(jpeg_quality: (u8, u8)) -> Self {
        Self {
            profiles: [0.5, 0.5, 0.0, 0.0],
            all_styles: true,
            stray_rate: 0.25,
            qr_stroke_rate: 0.0,
            qr_stain_rate: 0.0,
            jpeg_quality: Some(jpeg_quality),
            low_dpi: false,
            qr_scribble_rate: 0.0,
            captures: Captures::Realistic,
            erasures: None,
            dense_strays: false,
        }
    }
}

/// One drawn bubble and what it added, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BubbleMark {
    /// The bubble's printed label.
    pub choice: String,
    /// How it was marked.
    pub spec: MarkSpec,
    /// What the mark added, measured on the clean page.
    pub stats: MarkStats,
}

/// What a question holds in truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuestionTruth {
    /// Question number, from 1.
    pub question: u32,
    /// The state a careful person would record.
    pub state: AnswerState,
    /// Labels of the marked bubbles, in printed order.
    pub marked: Vec<String>,
    /// Every bubble that received ink (erasure residue included).
    pub marks: Vec<BubbleMark>,
}

/// Everything true about a simulated sheet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SheetTruth {
    /// Index of the sheet in its set.
    pub index: usize,
    /// The seed that reproduces it.
    pub seed: u64,
    /// File name it is saved or posted under.
    pub file_name: String,
    /// The page's sheet code.
    pub sheet_code: model::SheetCode,
    /// The page's student.
    pub student_id: Option<String>,
    /// The number the student filled into the grid of an anonymous sheet.
    pub student_number: Option<String>,
    /// The page's exam version.
    pub version: String,
    /// How it was captured.
    pub profile: Profile,
    /// The dominant marking style of its student.
    pub student_style: FillStyle,
    /// What was done to the QR code on paper.
    pub qr_damage: Option<QrDamage>,
    /// Stray marks drawn.
    pub strays: Vec<StrayKind>,
    /// Corner marks cut by the image's edge, partly or wholly.
    pub corner_marks_cut: u8,
    /// Corner marks at least half gone past the image's edge (their centre outside).
    pub corner_marks_lost: u8,
    /// The QR code or the printed id is cut by the image's edge: no step can name the sheet.
    pub id_cut: bool,
    /// Every degradation, exactly.
    pub degradation: Degradation,
    /// Per question, in order.
    pub questions: Vec<QuestionTruth>,
}

/// A simulated scan: the file and its truth.
#[derive(Debug, Clone)]
pub struct SimulatedScan {
    /// The JPEG file.
    pub bytes: Vec<u8>,
    /// What is true about it.
    pub truth: SheetTruth,
}

/// The seed of sheet `index` of a set drawn from `master`.
pub fn sheet_seed(master: u64, index: usize) -> u64 {
    hash3(master, index as u64, 0x5EE7)
}

/// Draws a student's dominant style: realistic shares, pen and pencil first.
fn draw_student_style<R: Rng + ?Sized>(rng: &mut R, all_styles: bool) -> (FillStyle, Tool) {
    let r: f32 = rng.random_range(0.0..1.0);
    if !all_styles {
        return if r < 0.6 {
            (FillStyle::PenFull, Tool::Pen)
        } else {
            (FillStyle::PencilFull, Tool::Pencil)
        };
    }
    match r {
        r if r < 0.45 => (FillStyle::PenFull, Tool::Pen),
        r if r < 0.73 => (FillStyle::PencilFull, Tool::Pencil),
        r if r < 0.79 => (FillStyle::LightPencil, Tool::Pencil),
        r if r < 0.89 => (
            FillStyle::Partial,
            if rng.random_bool(0.5) {
                Tool::Pen
            } else {
                Tool::Pencil
            },
        ),
        r if r < 0.95 => (FillStyle::Cross, Tool::Pen),
        _ => (FillStyle::Check, Tool::Pen),
    }
}

/// The style of one mark: mostly the student's own, sometimes another.
fn draw_mark_style<R: Rng + ?Sized>(
    rng: &mut R,
    own: FillStyle,
    tool: Tool,
    all_styles: bool,
) -> MarkSpec {
    if !all_styles || rng.random_bool(0.94) {
        return MarkSpec { style: own, tool };
    }
    let options: &[FillStyle] = match tool {
        Tool::Pen => &[
            FillStyle::PenFull,
            FillStyle::Partial,
            FillStyle::Cross,
            FillStyle::Check,
        ],
        Tool::Pencil => &[
            FillStyle::PencilFull,
            FillStyle::LightPencil,
            FillStyle::Partial,
            FillStyle::Cross,
        ],
    };
    MarkSpec {
        style: options[rng.random_range(0..options.len())],
        tool,
    }
}

fn draw_degradation<R: Rng + ?Sized>(rng: &mut R, profile: Profile, mix: &Mix) -> Degradation {
    let seed: u64 = rng.random();
    let side = |rng: &mut R| rng.random_range(0..4u8);
    let mut d = match profile {
        Profile::Flatbed => Degradation {
            geometry: Geometry {
                rotation_deg: normal(rng, 0.0, 0.7).clamp(-2.0, 2.0),
                upside_down: rng.random_bool(0.02),
                keystone: 0.0,
                keystone_side: 0,
                scale: uniform(rng, 0.99, 1.01),
                margins: [0; 4].map(|_| uniform(rng, 0.0, 40.0)),
            },
            background: Background::Lid {
                level: rng.random_range(240..=255),
            },
            blur_sigma: uniform(rng, 0.3, 0.8),
            lighting: rng.random_bool(0.1).then(|| Lighting {
                gradient: uniform(rng, 0.02, 0.08),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: 0.0,
            }),
            shadow: None,
            contrast: rng
                .random_bool(0.1)
                .then(|| (rng.random_range(10..30), rng.random_range(225..245))),
            noise_sigma: uniform(rng, 1.0, 3.0),
            jpeg_quality: rng.random_range(70..=90),
            seed,
        },
        Profile::Feeder => {
            let low_dpi = rng.random_bool(0.15) && mix.low_dpi;
            Degradation {
                geometry: Geometry {
                    rotation_deg: uniform(rng, -4.0, 4.0),
                    upside_down: rng.random_bool(0.08),
                    keystone: 0.0,
                    keystone_side: 0,
                    scale: uniform(rng, 0.98, 1.02) * if low_dpi { 2.0 / 3.0 } else { 1.0 },
                    margins: [0; 4].map(|_| uniform(rng, 0.0, 30.0)),
                },
                background: Background::Lid {
                    level: rng.random_range(200..=255),
                },
                blur_sigma: uniform(rng, 0.4, 1.1),
                lighting: None,
                shadow: None,
                contrast: rng
                    .random_bool(0.15)
                    .then(|| (rng.random_range(20..50), rng.random_range(215..240))),
                noise_sigma: uniform(rng, 2.0, 5.0),
                jpeg_quality: rng.random_range(55..=85),
                seed,
            }
        }
        Profile::Phone => Degradation {
            geometry: Geometry {
                rotation_deg: uniform(rng, -7.0, 7.0),
                upside_down: rng.random_bool(0.05),
                keystone: uniform(rng, 0.01, 0.08),
                keystone_side: side(rng),
                scale: uniform(rng, 0.95, 1.05),
                margins: [0; 4].map(|_| uniform(rng, 30.0, 250.0)),
            },
            background: Background::Table {
                level: rng.random_range(40..=150),
                texture: rng.random_range(15..=40),
            },
            blur_sigma: uniform(rng, 0.6, 1.6),
            lighting: Some(Lighting {
                gradient: uniform(rng, 0.1, 0.35),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: uniform(rng, 0.0, 0.2),
            }),
            shadow: rng.random_bool(0.5).then(|| Shadow {
                side: side(rng),
                reach: uniform(rng, 0.1, 0.35),
                strength: uniform(rng, 0.2, 0.45),
                softness: uniform(rng, 0.03, 0.12),
            }),
            contrast: rng
                .random_bool(0.3)
                .then(|| (rng.random_range(30..70), rng.random_range(200..235))),
            noise_sigma: uniform(rng, 3.0, 8.0),
            jpeg_quality: rng.random_range(40..=80),
            seed,
        },
        Profile::Photocopy => Degradation {
            geometry: Geometry {
                rotation_deg: uniform(rng, -3.0, 3.0),
                upside_down: rng.random_bool(0.03),
                keystone: 0.0,
                keystone_side: 0,
                scale: uniform(rng, 0.98, 1.02),
                margins: [0; 4].map(|_| uniform(rng, 0.0, 30.0)),
            },
            background: Background::Lid {
                level: rng.random_range(200..=240),
            },
            blur_sigma: uniform(rng, 0.5, 1.2),
            lighting: rng.random_bool(0.3).then(|| Lighting {
                gradient: uniform(rng, 0.05, 0.15),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: 0.0,
            }),
            shadow: None,
            contrast: Some((rng.random_range(40..=90), rng.random_range(190..=225))),
            noise_sigma: uniform(rng, 3.0, 7.0),
            jpeg_quality: rng.random_range(40..=70),
            seed,
        },
    };
    if let Some((lo, hi)) = mix.jpeg_quality {
        d.jpeg_quality = rng.random_range(lo..=hi.max(lo));
    }
    d
}

/// The harsh table: every capture may be skewed up to ±6° and be a 95–105% copy; feeders and
/// copiers scan into a paper-sized area with the page up to 5 mm off-centre, so corner marks are
/// cut off; `page` is the clean page's size in pixels, `px_per_mm` its resolution.
fn draw_harsh_degradation<R: Rng + ?Sized>(
    rng: &mut R,
    profile: Profile,
    mix: &Mix,
    page: (u32, u32),
    layout: &model::layout::PageLayout,
    px_per_mm: f32,
) -> Degradation {
    let s = px_per_mm * 25.4 / 72.0;
    let seed: u64 = rng.random();
    let side = |rng: &mut R| rng.random_range(0..4u8);
    let low_dpi_rate = match profile {
        Profile::Feeder => 0.3,
        Profile::Flatbed => 0.15,
        _ => 0.0,
    };
    let resolution = if mix.low_dpi && rng.random_bool(low_dpi_rate) {
        2.0 / 3.0
    } else {
        1.0
    };
    let framed = match profile {
        Profile::Flatbed => 0.5,
        Profile::Feeder => 0.8,
        Profile::Phone => 0.0,
        Profile::Photocopy => 1.0,
    };
    let framed = rng.random_bool(framed);
    let upside_down = rng.random_bool(match profile {
        Profile::Feeder => 0.15,
        _ => 0.05,
    });
    let keystone_side = side(rng);
    let shift_px = 5.0 * px_per_mm * resolution;
    // The QR code and the printed id sit as close to the right edge as the corner marks: a
    // page whose identity is cut off cannot be named by anything but a person. Such pages are
    // redrawn (a few times), so that the set measures what can be read; `id_cut` in the truth
    // counts those left.
    let mut geometry = None;
    for _ in 0..12 {
        let mut g = Geometry {
            rotation_deg: uniform(rng, -6.0, 6.0),
            upside_down,
            keystone: if profile == Profile::Phone {
                uniform(rng, 0.0, 0.06)
            } else {
                0.0
            },
            keystone_side,
            scale: uniform(rng, 0.95, 1.05) * resolution,
            margins: match profile {
                // A phone frames the page by hand: sometimes a side is cut.
                Profile::Phone => [0; 4].map(|_| uniform(rng, -4.0, 20.0) * px_per_mm),
                _ => [0; 4].map(|_| uniform(rng, 0.0, 40.0)),
            },
        };
        if framed {
            let shift = (
                uniform(rng, -shift_px, shift_px),
                uniform(rng, -shift_px, shift_px),
            );
            let frame = (page.0 as f32 * resolution, page.1 as f32 * resolution);
            g.frame(page, frame, shift);
        }
        let keeps_id = page_transform(page.0, page.1, &g)
            .is_some_and(|(hom, w, h)| identity_inside(layout, s, &hom, w, h));
        geometry = Some(g);
        if keeps_id {
            break;
        }
    }
    let geometry = geometry.unwrap_or_else(|| Degradation::none(90).geometry);
    let mut d = match profile {
        Profile::Flatbed => Degradation {
            geometry,
            background: Background::Lid {
                level: rng.random_range(230..=255),
            },
            blur_sigma: uniform(rng, 0.4, 1.2),
            lighting: rng.random_bool(0.25).then(|| Lighting {
                gradient: uniform(rng, 0.05, 0.2),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: 0.0,
            }),
            shadow: None,
            contrast: rng
                .random_bool(0.2)
                .then(|| (rng.random_range(20..50), rng.random_range(210..240))),
            noise_sigma: uniform(rng, 1.0, 4.0),
            jpeg_quality: rng.random_range(45..=90),
            seed,
        },
        Profile::Feeder => Degradation {
            geometry,
            background: Background::Lid {
                level: rng.random_range(180..=255),
            },
            blur_sigma: uniform(rng, 0.5, 1.4),
            lighting: rng.random_bool(0.15).then(|| Lighting {
                gradient: uniform(rng, 0.05, 0.15),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: 0.0,
            }),
            shadow: None,
            contrast: rng
                .random_bool(0.3)
                .then(|| (rng.random_range(20..60), rng.random_range(200..240))),
            noise_sigma: uniform(rng, 2.0, 6.0),
            jpeg_quality: rng.random_range(45..=85),
            seed,
        },
        Profile::Phone => Degradation {
            geometry,
            background: Background::Table {
                level: rng.random_range(40..=150),
                texture: rng.random_range(15..=40),
            },
            blur_sigma: uniform(rng, 0.6, 1.8),
            lighting: Some(Lighting {
                gradient: uniform(rng, 0.1, 0.4),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: uniform(rng, 0.0, 0.25),
            }),
            shadow: rng.random_bool(0.5).then(|| Shadow {
                side: side(rng),
                reach: uniform(rng, 0.1, 0.35),
                strength: uniform(rng, 0.2, 0.45),
                softness: uniform(rng, 0.03, 0.12),
            }),
            contrast: rng
                .random_bool(0.3)
                .then(|| (rng.random_range(30..70), rng.random_range(200..235))),
            noise_sigma: uniform(rng, 3.0, 9.0),
            jpeg_quality: rng.random_range(45..=80),
            seed,
        },
        Profile::Photocopy => Degradation {
            geometry,
            // Around the copied page: the copy paper, not a lid.
            background: Background::Lid {
                level: rng.random_range(215..=245),
            },
            blur_sigma: uniform(rng, 0.6, 1.4),
            lighting: rng.random_bool(0.4).then(|| Lighting {
                gradient: uniform(rng, 0.05, 0.2),
                angle: uniform(rng, 0.0, std::f32::consts::TAU),
                vignette: 0.0,
            }),
            shadow: None,
            contrast: Some((rng.random_range(50..=100), rng.random_range(180..=225))),
            noise_sigma: uniform(rng, 3.0, 8.0),
            jpeg_quality: rng.random_range(45..=70),
            seed,
        },
    };
    if let Some((lo, hi)) = mix.jpeg_quality {
        d.jpeg_quality = rng.random_range(lo..=hi.max(lo));
    }
    d
}

fn draw_profile<R: Rng + ?Sized>(rng: &mut R, weights: &[f32; 4]) -> Profile {
    let total: f32 = weights.iter().sum();
    let mut r = rng.random_range(0.0..total.max(f32::EPSILON));
    for (p, &w) in Profile::ALL.iter().zip(weights.iter()) {
        if r < w {
            return *p;
        }
        r -= w;
    }
    Profile::Flatbed
}

/// Areas of the page (pixels) a stray mark must keep clear of, so that it changes no answer
/// and does not cover a registration mark.
struct Keepout {
    circles: Vec<(f32, f32, f32)>,
    rects: Vec<(f32, f32, f32, f32)>,
    width: f32,
    height: f32,
    inset: f32,
}

impl Keepout {
    /// `bubble_clear`: points of paper kept clear around each bubble's outline.
    fn new(page: &BundlePage, s: f32, bubble_clear: f32) -> Self {
        let l = &page.layout;
        let clear = bubble_clear * s;
        let mut circles: Vec<(f32, f32, f32)> = l
            .bubbles
            .iter()
            .map(|b| (b.x * s, b.y * s, (b.r * s) + clear))
            .collect();
        circles.extend(
            l.student_number_bubbles
                .iter()
                .map(|b| (b.x * s, b.y * s, b.r * s + clear)),
        );
        let grow = |x: f32, y: f32, w: f32, h: f32, m: f32| {
            ((x - m) * s, (y - m) * s, (x + w + m) * s, (y + h + m) * s)
        };
        let mut rects: Vec<_> = l
            .corner_marks
            .iter()
            .map(|m| grow(m.x, m.y, m.size, m.size, 12.0))
            .collect();
        let quiet = model::layout::QR_QUIET_MODULES as f32 * model::layout::QR_MODULE;
        rects.push(grow(l.qr.x, l.qr.y, l.qr.size, l.qr.size, quiet + 2.0));
        let t = l.text_id;
        rects.push(grow(t.x, t.y, t.width, t.height, 3.0));
        Self {
            circles,
            rects,
            width: l.paper.width * s,
            height: l.paper.height * s,
            inset: 15.0 * s,
        }
    }

    fn allows(&self, path: &[(f32, f32)]) -> bool {
        densify(path, 2.0).iter().all(|&(x, y)| {
            x > self.inset
                && y > self.inset
                && x < self.width - self.inset
                && y < self.height - self.inset
                && self
                    .circles
                    .iter()
                    .all(|&(cx, cy, r)| (x - cx).powi(2) + (y - cy).powi(2) > r * r)
                && self
                    .rects
                    .iter()
                    .all(|&(x0, y0, x1, y1)| x < x0 || x > x1 || y < y0 || y > y1)
        })
    }
}

/// Whether the QR code (with a module of its quiet zone) and the printed id lie inside the
/// output image of `width` × `height` pixels.
fn identity_inside(
    layout: &model::layout::PageLayout,
    s: f32,
    hom: &Homography,
    width: u32,
    height: u32,
) -> bool {
    let m = model::layout::QR_MODULE;
    let q = layout.qr;
    let t = layout.text_id;
    let rects = [
        (q.x - m, q.y - m, q.x + q.size + m, q.y + q.size + m),
        (t.x, t.y, t.x + t.width, t.y + t.height),
    ];
    let (w, h) = (f64::from(width), f64::from(height));
    rects.iter().all(|&(x0, y0, x1, y1)| {
        [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
            .iter()
            .all(|&(x, y)| {
                let (u, v) = hom.map(f64::from(x * s), f64::from(y * s));
                u >= 0.0 && v >= 0.0 && u < w && v < h
            })
    })
}

/// How many corner marks the image's edge cuts (any part outside), and how many it takes at
/// least half of (the mark's centre outside).
fn corners_cut(page: &BundlePage, s: f32, hom: &Homography, out: &GrayImage) -> (u8, u8) {
    let (w, h) = (f64::from(out.width()), f64::from(out.height()));
    let inside = |x: f32, y: f32| {
        let (u, v) = hom.map(f64::from(x * s), f64::from(y * s));
        u >= 0.0 && v >= 0.0 && u < w && v < h
    };
    let mut cut = 0;
    let mut lost = 0;
    for m in &page.layout.corner_marks {
        let corners = [
            (m.x, m.y),
            (m.x + m.size, m.y),
            (m.x, m.y + m.size),
            (m.x + m.size, m.y + m.size),
        ];
        if !corners.iter().all(|&(x, y)| inside(x, y)) {
            cut += 1;
        }
        let (cx, cy) = m.center();
        if !inside(cx, cy) {
            lost += 1;
        }
    }
    (cut, lost)
}

/// Inserts points so that neighbours are at most `step` apart.
fn densify(path: &[(f32, f32)], step: f32) -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(path.len());
    for w in path.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let n = (len / step).ceil().max(1.0) as usize;
        for i in 0..n {
            let t = i as f32 / n as f32;
            out.push((a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t));
        }
    }
    if let Some(&last) = path.last() {
        out.push(last);
    }
    out
}

/// Simulates sheet `index` of a set with master seed `master`: marks the clean `page` image
/// (rasterised at `dpi`) as its student would, degrades it as `mix` says, and encodes JPEG.
pub fn simulate_sheet(
    clean: &GrayImage,
    dpi: u32,
    page: &BundlePage,
    exam: &model::Exam,
    master: u64,
    index: usize,
    mix: &Mix,
) -> Result<(SimulatedScan, GrayImage, Homography), SimError> {
    let seed = sheet_seed(master, index);
    let mut rng = StdRng::seed_from_u64(seed);
    let s = px_per_pt(dpi);
    let px_per_mm = dpi as f32 / 25.4;
    let mut img = clean.clone();

    let (own, tool) = draw_student_style(&mut rng, mix.all_styles);
    let ability = uniform(&mut rng, 0.3, 0.95);
    let blank_rate = if rng.random_bool(0.1) {
        uniform(&mut rng, 0.1, 0.3)
    } else {
        0.02
    };
    let erases = tool == Tool::Pencil;
    // Residue follows the hand that made the erased mark: a light-pencil student's is about
    // half as dark as an ordinary pencil fill's.
    let residue = if own == FillStyle::LightPencil {
        (RESIDUE_DARKNESS.0 / 2.0, RESIDUE_DARKNESS.1 / 2.0)
    } else {
        RESIDUE_DARKNESS
    };
    // The harsh mix: half the students erase (pencil users, and pen users over a pencil draft),
    // each at their own rate.
    let harsh_erasing = mix
        .erasures
        .filter(|e| rng.random_bool(e.students))
        .map(|e| {
            let beside = uniform(&mut rng, e.beside.0, e.beside.1);
            let alone = uniform(&mut rng, e.alone_in_blank.0, e.alone_in_blank.1);
            (e, f64::from(beside), f64::from(alone))
        });

    let mut questions = Vec::new();
    let mut q_numbers: Vec<u32> = page.layout.bubbles.iter().map(|b| b.question).collect();
    q_numbers.dedup();
    for q in q_numbers {
        let bubbles: Vec<_> = page
            .layout
            .bubbles
            .iter()
            .filter(|b| b.question == q)
            .collect();
        let n = bubbles.len();
        let index0 = q as usize - 1;
        let key = exam.key_for(&page.version, index0).unwrap_or_default();
        let mut chosen: Vec<usize> = Vec::new();
        let r: f64 = rng.random_range(0.0..1.0);
        if r >= f64::from(blank_rate) {
            let first = if rng.random_bool(f64::from(ability)) && !key.is_empty() {
                usize::from(key[0]).min(n - 1)
            } else {
                rng.random_range(0..n)
            };
            chosen.push(first);
            if rng.random_bool(0.01) && n > 1 {
                let mut second = rng.random_range(0..n - 1);
                if second >= first {
                    second += 1;
                }
                chosen.push(second);
            }
        }
        let mut marks: Vec<(usize, MarkSpec)> = chosen
            .iter()
            .map(|&c| (c, draw_mark_style(&mut rng, own, tool, mix.all_styles)))
            .collect();
        // Pencil users change their minds: the old answer is erased, sometimes leaving the
        // question blank.
        let erase_rate = if chosen.is_empty() { 0.1 } else { 0.04 };
        if mix.erasures.is_some() {
            if let Some((e, beside, alone)) = harsh_erasing {
                let erased = |rng: &mut StdRng| MarkSpec {
                    style: if rng.random_bool(e.residue_share) {
                        FillStyle::Residue
                    } else {
                        FillStyle::Erased
                    },
                    tool: Tool::Pencil,
                };
                if !marks.is_empty() && rng.random_bool(e.changed_to_blank) {
                    // The answer itself rubbed out, nothing put in its place.
                    marks[0].1 = erased(&mut rng);
                } else {
                    let rate = if chosen.is_empty() { alone } else { beside };
                    if rng.random_bool(rate) && n > chosen.len() {
                        let free: Vec<usize> = (0..n).filter(|i| !chosen.contains(i)).collect();
                        let e = free[rng.random_range(0..free.len())];
                        marks.push((e, erased(&mut rng)));
                    }
                }
            }
        } else if mix.all_styles && erases && rng.random_bool(erase_rate) && n > chosen.len() {
            let free: Vec<usize> = (0..n).filter(|i| !chosen.contains(i)).collect();
            let e = free[rng.random_range(0..free.len())];
            marks.push((
                e,
                MarkSpec {
                    style: FillStyle::Erased,
                    tool: Tool::Pencil,
                },
            ));
        }
        marks.sort_by_key(|m| m.0);
        let mut drawn = Vec::new();
        for (c, spec) in marks {
            let b = bubbles[c];
            let stats = draw_mark_erased_from(
                &mut img,
                b.x * s,
                b.y * s,
                b.r * s,
                px_per_mm,
                spec,
                residue,
                &mut rng,
            );
            drawn.push(BubbleMark {
                choice: b.choice.clone(),
                spec,
                stats,
            });
        }
        let marked: Vec<String> = drawn
            .iter()
            .filter(|m| m.spec.style.is_mark())
            .map(|m| m.choice.clone())
            .collect();
        let state = match marked.len() {
            0 => AnswerState::Blank,
            1 => AnswerState::Answered,
            _ => AnswerState::Multiple,
        };
        questions.push(QuestionTruth {
            question: q,
            state,
            marked,
            marks: drawn,
        });
    }

    // An anonymous sheet: the student fills in a number, one bubble per digit, in their style.
    let mut student_number = None;
    let grid = &page.layout.student_number_bubbles;
    if !grid.is_empty() {
        let columns = grid.iter().map(|b| b.digit).max().unwrap_or(0);
        let mut number = String::new();
        for digit in 1..=columns {
            let value = rng.random_range(0..10u32);
            number.push(char::from_digit(value, 10).unwrap_or('0'));
            if let Some(b) = grid.iter().find(|b| b.digit == digit && b.value == value) {
                let spec = MarkSpec { style: own, tool };
                draw_mark(
                    &mut img,
                    b.x * s,
                    b.y * s,
                    b.r * s,
                    px_per_mm,
                    spec,
                    &mut rng,
                );
            }
        }
        student_number = Some(number);
    }

    let keepout = Keepout::new(page, s, 3.0);
    // A dot between bubbles: clear of the outlines by its own size, no more.
    let tight = Keepout::new(page, s, 2.2);
    let mut strays = Vec::new();
    if mix.all_styles && rng.random_bool(mix.stray_rate) {
        let count = if mix.dense_strays {
            rng.random_range(1..=5)
        } else {
            rng.random_range(1..=3)
        };
        for _ in 0..count {
            let kind = match rng.random_range(0..if mix.dense_strays { 4 } else { 3 }) {
                0 => StrayKind::Scribble,
                1 => StrayKind::Line,
                _ => StrayKind::Dot,
            };
            let between = mix.dense_strays && kind == StrayKind::Dot && rng.random_bool(0.6);
            for _attempt in 0..40 {
                let (x, y) = match kind {
                    StrayKind::Dot if between => {
                        let bubbles = &page.layout.bubbles;
                        if bubbles.is_empty() {
                            break;
                        }
                        let b = &bubbles[rng.random_range(0..bubbles.len())];
                        let angle = uniform(&mut rng, 0.0, std::f32::consts::TAU);
                        let dist = b.r + uniform(&mut rng, 2.2, 5.0);
                        (
                            (b.x + dist * angle.cos()) * s,
                            (b.y + dist * angle.sin()) * s,
                        )
                    }
                    StrayKind::Scribble => {
                        let h = page.layout.header;
                        (
                            uniform(&mut rng, h.x, h.x + h.width * 0.6) * s,
                            uniform(&mut rng, h.y + h.height * 0.4, h.y + h.height) * s,
                        )
                    }
                    StrayKind::Line => (
                        uniform(&mut rng, 0.0, page.layout.paper.width) * s,
                        uniform(&mut rng, 0.0, page.layout.paper.height) * s,
                    ),
                    StrayKind::Dot => {
                        let labels = &page.layout.question_labels;
                        if labels.is_empty() {
                            break;
                        }
                        let l = labels[rng.random_range(0..labels.len())];
                        ((l.x - uniform(&mut rng, 13.0, 17.0)) * s, l.y * s)
                    }
                };
                let path = stray_path(&mut rng, kind, x, y, px_per_mm);
                let allowed = if between {
                    tight.allows(&path)
                } else {
                    keepout.allows(&path)
                };
                if allowed {
                    let stray_tool = if rng.random_bool(0.7) {
                        tool
                    } else {
                        Tool::Pen
                    };
                    draw_stray(&mut img, &path, stray_tool, px_per_mm, &mut rng);
                    strays.push(kind);
                    break;
                }
            }
        }
    }

    let qr = page.layout.qr;
    let r: f64 = rng.random_range(0.0..1.0);
    let qr_damage = if r < mix.qr_stroke_rate {
        Some(QrDamage::PenStroke)
    } else if r < mix.qr_stroke_rate + mix.qr_stain_rate {
        Some(QrDamage::Stain)
    } else if r < mix.qr_stroke_rate + mix.qr_stain_rate + mix.qr_scribble_rate {
        Some(QrDamage::Scribbled)
    } else {
        None
    };
    match qr_damage {
        Some(QrDamage::PenStroke) => {
            // A stroke from outside the code to outside the code, through it.
            let (cx, cy) = ((qr.x + qr.size / 2.0) * s, (qr.y + qr.size / 2.0) * s);
            let angle = uniform(&mut rng, -0.9, 0.9);
            let half = qr.size * 0.75 * s;
            let off = normal(&mut rng, 0.0, qr.size * 0.15) * s;
            let (sn, cs) = angle.sin_cos();
            let a = (cx - half * cs - off * sn, cy - half * sn + off * cs);
            let b = (cx + half * cs - off * sn, cy + half * sn + off * cs);
            let width = uniform(&mut rng, 0.5, 1.0);
            draw_pen_stroke(&mut img, a, b, width, px_per_mm, &mut rng);
        }
        Some(QrDamage::Stain) => {
            let cx = uniform(&mut rng, qr.x, qr.x + qr.size) * s;
            let cy = uniform(&mut rng, qr.y, qr.y + qr.size) * s;
            let radius = uniform(&mut rng, 0.2, 0.4) * qr.size * s;
            draw_stain(&mut img, cx, cy, radius, &mut rng);
        }
        Some(QrDamage::Scribbled) => {
            // Over the code and a little of its quiet zone, never down to the printed id.
            let margin = model::layout::QR_MODULE;
            let bottom = (qr.y + qr.size + margin).min(page.layout.text_id.y - 1.0);
            let rect = (
                (qr.x - margin) * s,
                (qr.y - margin) * s,
                (qr.x + qr.size + margin) * s,
                bottom * s,
            );
            draw_scribble(&mut img, rect, px_per_mm, &mut rng);
        }
        None => {}
    }

    let profile = draw_profile(&mut rng, &mix.profiles);
    let degradation = match mix.captures {
        Captures::Realistic => draw_degradation(&mut rng, profile, mix),
        Captures::Harsh => draw_harsh_degradation(
            &mut rng,
            profile,
            mix,
            (img.width(), img.height()),
            &page.layout,
            px_per_mm,
        ),
    };
    let (out, hom) = degrade(&img, &degradation)?;
    let (corner_marks_cut, corner_marks_lost) = corners_cut(page, s, &hom, &out);
    let id_cut = !identity_inside(&page.layout, s, &hom, out.width(), out.height());
    let bytes = encode_jpeg(&out, degradation.jpeg_quality)?;
    let truth = SheetTruth {
        index,
        seed,
        file_name: format!("{index:04}-{}.jpg", profile.name()),
        sheet_code: page.sheet_code,
        student_id: page.student_id.clone(),
        student_number,
        version: page.version.clone(),
        profile,
        student_style: own,
        qr_damage,
        strays,
        corner_marks_cut,
        corner_marks_lost,
        id_cut,
        degradation,
        questions,
    };
    Ok((SimulatedScan { bytes, truth }, out, hom))
}
