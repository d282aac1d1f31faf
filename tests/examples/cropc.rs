//! Crops a region of a colour image file into a PNG: `cropc IN OUT X Y W H`.
fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let img = image::open(&a[1])?.to_rgb8();
    let n = |i: usize| a[i].parse::<u32>().unwrap_or(0);
    image::imageops::crop_imm(&img, n(3), n(4), n(5), n(6))
        .to_image()
        .save(&a[2])?;
    Ok(())
}
