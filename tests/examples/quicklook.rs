//! Throwaway: rings on white, every style, to look at before the renderer lands.
use gabarito_tests::degrade::encode_png;
use gabarito_tests::pen::{FillStyle, MarkSpec, Tool, draw_mark};
use image::{GrayImage, Luma};
use rand::SeedableRng;

fn main() {
    let s = 300.0 / 72.0;
    let r = 4.6 * s;
    let pitch = 13.5 * s;
    let styles = [
        (FillStyle::PenFull, Tool::Pen),
        (FillStyle::PencilFull, Tool::Pencil),
        (FillStyle::LightPencil, Tool::Pencil),
        (FillStyle::Partial, Tool::Pen),
        (FillStyle::Partial, Tool::Pencil),
        (FillStyle::Cross, Tool::Pen),
        (FillStyle::Check, Tool::Pen),
        (FillStyle::Erased, Tool::Pencil),
    ];
    let w = (pitch * 6.0) as u32;
    let h = (12.5 * s * styles.len() as f32 + 20.0) as u32;
    let mut img = GrayImage::from_pixel(w, h, Luma([250]));
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for (row, &(style, tool)) in styles.iter().enumerate() {
        let cy = 12.5 * s * (row as f32 + 0.5) + 10.0;
        for k in 0..5 {
            let cx = pitch * (k as f32 + 0.5) + 10.0;
            for y in 0..h {
                for x in 0..w {
                    let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
                    if (d - r).abs() < 1.2 {
                        img.put_pixel(x, y, Luma([90]));
                    }
                }
            }
            if k % 2 == 0 {
                let st = draw_mark(
                    &mut img,
                    cx,
                    cy,
                    r,
                    300.0 / 25.4,
                    MarkSpec { style, tool },
                    &mut rng,
                );
                println!(
                    "{} {:?}: added {:.2} dark {:.2}",
                    style.name(),
                    tool,
                    st.added_darkness,
                    st.dark_fraction
                );
            }
        }
    }
    std::fs::write("/tmp/simlook/quick.png", encode_png(&img).unwrap()).unwrap();
}
