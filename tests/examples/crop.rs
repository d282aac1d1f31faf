//! Crops a region of an image file into a PNG: `crop IN OUT X Y W H [SCALE]`.
fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let img = image::open(&a[1])?.to_luma8();
    let n = |i: usize| a[i].parse::<u32>().unwrap_or(0);
    let sub = image::imageops::crop_imm(&img, n(3), n(4), n(5), n(6)).to_image();
    let scale: f32 = a.get(7).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let sub = image::imageops::resize(
        &sub,
        (sub.width() as f32 * scale) as u32,
        (sub.height() as f32 * scale) as u32,
        image::imageops::FilterType::Triangle,
    );
    sub.save(&a[2])?;
    Ok(())
}
