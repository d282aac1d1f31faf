//! Writes sample pictures of the simulator's output to look at: every fill style at native
//! resolution, and whole pages under each capture profile and QR damage.
//!
//! `cargo run --release -p gabarito-tests --example samples -- OUTDIR`

use std::path::PathBuf;

use anyhow::Context;
use gabarito_tests::degrade::{Degradation, degrade, encode_jpeg, encode_png};
use gabarito_tests::fixture::{RenderedFixture, example_exam, roster};
use gabarito_tests::pen::{FillStyle, MarkSpec, Tool, draw_mark};
use gabarito_tests::rasterize::{px_per_pt, rasterize_pages};
use gabarito_tests::scenario::{Mix, Profile, simulate_sheet};
use image::GrayImage;
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).context("usage: samples OUTDIR")?);
    std::fs::create_dir_all(&out)?;
    let exam = example_exam()?;
    let fx = RenderedFixture::render(&exam, &roster(8), 1)?;
    // Keep the bundle beside the samples so `grader grade OUTDIR/*.jpg --bundle OUTDIR` works.
    std::fs::copy(fx.pdf_path(), out.join("bundle.pdf"))?;
    std::fs::copy(fx.dir.join("bundle.json"), out.join("bundle.json"))?;
    let dpi = 300;
    let pages = rasterize_pages(&fx.pdf_path(), dpi, 1, 8)?;
    let page = &fx.bundle.pages[0];
    let s = px_per_pt(dpi);

    // Every style, each in a row of its own (questions 1–7, choice by row), with JPEG 60.
    let mut img = pages[0].clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let styles = [
        (FillStyle::PenFull, Tool::Pen),
        (FillStyle::PencilFull, Tool::Pencil),
        (FillStyle::LightPencil, Tool::Pencil),
        (FillStyle::Partial, Tool::Pen),
        (FillStyle::Partial, Tool::Pencil),
        (FillStyle::Cross, Tool::Pen),
        (FillStyle::Check, Tool::Pen),
        (FillStyle::Erased, Tool::Pencil),
        (FillStyle::Residue, Tool::Pencil),
        (FillStyle::Residue, Tool::Pencil),
    ];
    let mut lines = Vec::new();
    for (i, &(style, tool)) in styles.iter().enumerate() {
        let q = i as u32 + 1;
        for b in page.layout.bubbles.iter().filter(|b| b.question == q) {
            if b.choice == "A" || b.choice == "C" || b.choice == "E" {
                let st = draw_mark(
                    &mut img,
                    b.x * s,
                    b.y * s,
                    b.r * s,
                    dpi as f32 / 25.4,
                    MarkSpec { style, tool },
                    &mut rng,
                );
                lines.push(format!(
                    "q{q} {}: {} {:?} added {:.2} dark {:.2}",
                    b.choice,
                    style.name(),
                    tool,
                    st.added_darkness,
                    st.dark_fraction
                ));
            }
        }
    }
    std::fs::write(out.join("styles.txt"), lines.join("\n"))?;
    let first = page.layout.bubbles.first().context("bubbles")?;
    let crop = |img: &GrayImage, name: &str| -> anyhow::Result<()> {
        let x = ((first.x - 30.0) * s) as u32;
        let y = ((first.y - 10.0) * s) as u32;
        let sub =
            image::imageops::crop_imm(img, x, y, (110.0 * s) as u32, (150.0 * s) as u32).to_image();
        std::fs::write(out.join(name), encode_png(&sub)?)?;
        Ok(())
    };
    crop(&img, "styles-clean.png")?;
    let jpeg = encode_jpeg(&img, 60)?;
    crop(
        &image::load_from_memory(&jpeg)?.to_luma8(),
        "styles-jpeg60.png",
    )?;
    let mut d = Degradation::none(60);
    d.blur_sigma = 1.0;
    d.noise_sigma = 5.0;
    d.contrast = Some((50, 215));
    let (deg, _) = degrade(&img, &d)?;
    crop(&deg, "styles-degraded.png")?;

    // Whole pages: search seeds until each profile and each QR damage is shown once.
    let mut wanted: Vec<String> = Profile::ALL.iter().map(|p| p.name().to_string()).collect();
    wanted.push("pen-stroke".into());
    wanted.push("stain".into());
    wanted.push("upside-down".into());
    wanted.push("scribbled".into());
    let mix = Mix {
        qr_stroke_rate: 0.2,
        qr_stain_rate: 0.2,
        qr_scribble_rate: 0.2,
        ..Mix::realistic()
    };
    for index in 0..200 {
        if wanted.is_empty() {
            break;
        }
        let p = index % 8;
        let (scan, degraded, hom) =
            simulate_sheet(&pages[p], dpi, &fx.bundle.pages[p], &exam, 42, index, &mix)?;
        let t = &scan.truth;
        let mut keys = vec![t.profile.name().to_string()];
        if let Some(dmg) = t.qr_damage {
            keys.push(
                match dmg {
                    gabarito_tests::scenario::QrDamage::PenStroke => "pen-stroke",
                    gabarito_tests::scenario::QrDamage::Stain => "stain",
                    gabarito_tests::scenario::QrDamage::Scribbled => "scribbled",
                }
                .into(),
            );
        }
        if t.degradation.geometry.upside_down {
            keys.push("upside-down".into());
        }
        let Some(key) = keys.iter().find(|k| wanted.contains(k)).cloned() else {
            continue;
        };
        wanted.retain(|k| *k != key);
        let small = image::imageops::resize(
            &degraded,
            degraded.width() / 3,
            degraded.height() / 3,
            image::imageops::FilterType::Triangle,
        );
        std::fs::write(out.join(format!("page-{key}.png")), encode_png(&small)?)?;
        std::fs::write(out.join(format!("page-{key}.jpg")), &scan.bytes)?;
        std::fs::write(
            out.join(format!("page-{key}.json")),
            serde_json::to_string_pretty(&scan.truth)?,
        )?;
        // The QR corner at full resolution.
        let qr = fx.bundle.pages[p].layout.qr;
        if key == "pen-stroke" || key == "stain" || key == "scribbled" {
            let (cx, cy) = hom.map(
                f64::from((qr.x + qr.size / 2.0) * s),
                f64::from((qr.y + qr.size / 2.0) * s),
            );
            let half = f64::from(60.0 * s);
            let sub = image::imageops::crop_imm(
                &degraded,
                (cx - half).max(0.0) as u32,
                (cy - half).max(0.0) as u32,
                (2.0 * half) as u32,
                (2.0 * half) as u32,
            )
            .to_image();
            std::fs::write(out.join(format!("qr-{key}.png")), encode_png(&sub)?)?;
        }
        println!("{key}: {} {:?}", t.file_name, t.degradation.tags());
    }
    // A sheet with ambiguous marks for the grader's `uncertain`: a pencil dot inside a bubble,
    // and an erasure gone over twice next to a real answer.
    let mut amb = pages[1].clone();
    let page1 = &fx.bundle.pages[1];
    let bubble = |q: u32, c: &str| {
        page1
            .layout
            .bubbles
            .iter()
            .find(|b| b.question == q && b.choice == c)
            .map(|b| (b.x * s, b.y * s, b.r * s))
    };
    let px_per_mm = dpi as f32 / 25.4;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for q in 1..=90u32 {
        let Some((x, y, r)) = bubble(q, ["A", "B", "C", "D", "E"][(q % 5) as usize]) else {
            continue;
        };
        let style = if q % 3 == 0 {
            FillStyle::PencilFull
        } else {
            FillStyle::PenFull
        };
        let tool = if q % 3 == 0 { Tool::Pencil } else { Tool::Pen };
        draw_mark(
            &mut amb,
            x,
            y,
            r,
            px_per_mm,
            MarkSpec { style, tool },
            &mut rng,
        );
    }
    if let Some((x, y, _)) = bubble(7, "A") {
        let dot = gabarito_tests::pen::stray_path(
            &mut rng,
            gabarito_tests::pen::StrayKind::Dot,
            x,
            y,
            px_per_mm,
        );
        gabarito_tests::pen::draw_stray(&mut amb, &dot[..1], Tool::Pencil, px_per_mm, &mut rng);
    }
    if let Some((x, y, r)) = bubble(12, "D") {
        let erased = MarkSpec {
            style: FillStyle::Erased,
            tool: Tool::Pencil,
        };
        for _ in 0..3 {
            draw_mark(&mut amb, x, y, r, px_per_mm, erased, &mut rng);
        }
    }
    let mut d = Degradation::none(70);
    d.geometry.rotation_deg = 2.5;
    d.geometry.margins = [20.0; 4];
    d.blur_sigma = 0.8;
    d.noise_sigma = 3.0;
    let (deg, _) = degrade(&amb, &d)?;
    std::fs::write(out.join("ambiguous.jpg"), encode_jpeg(&deg, 70)?)?;
    Ok(())
}
