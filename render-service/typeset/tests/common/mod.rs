//! The 30-question, 2-version sample exam shared by the tests and the benchmark example.

use std::collections::HashMap;

use base64::Engine;
use model::Exam;
use typeset::FigureSource;

/// Figure files by path, as the command line would read them.
pub struct Files(HashMap<String, Vec<u8>>);

impl FigureSource for Files {
    fn figure(&self, path: &str) -> Option<Vec<u8>> {
        self.0.get(path).cloned()
    }
}

pub fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(160, 90, |x, y| {
        image::Rgb([(x * 255 / 160) as u8, (y * 255 / 90) as u8, 128])
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("png");
    out
}

pub fn jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(240, 120, |x, y| {
        let on = (x / 20 + y / 20) % 2 == 0;
        if on {
            image::Rgb([30, 60, 160])
        } else {
            image::Rgb([240, 220, 120])
        }
    });
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        image::ImageFormat::Jpeg,
    )
    .expect("jpeg");
    out
}

pub const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100" viewBox="0 0 200 100"><rect x="5" y="5" width="190" height="90" fill="none" stroke="black" stroke-width="2"/><circle cx="60" cy="50" r="30" fill="#4a7"/><path d="M110 80 L150 20 L190 80 Z" fill="#c44"/></svg>"##;

/// A marker for question `i` (0-based, in the file): short words, so never hyphenated.
pub fn marker(i: usize) -> String {
    format!("qq{i:02}")
}

pub fn option_marker(i: usize, j: usize) -> String {
    format!("o{i:02}{}", char::from(b'a' + j as u8))
}

/// 30 questions × 2 versions, shuffled, with accents, bold/italic, a list, a PNG, a JPEG, an
/// SVG, LaTeX-style math and an open question.
pub fn exam() -> Exam {
    let png = base64::engine::general_purpose::STANDARD.encode(png());
    let questions: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            let mut statement = format!(
                "{} Questão sobre **ações** e *reflexões* da população: qual é a função \
                 de cada órgão, segundo o texto? Atenção à acentuação: pão, coração, lâmpada, \
                 exceção.",
                marker(i)
            );
            match i {
                1 => statement.push_str("\n\nConsidere:\n\n- a fotossíntese;\n- a respiração."),
                2 => statement.push_str(" Calcule $\\frac{a}{b}$ quando $x^2 = 4$ e $\\sqrt{2}$."),
                3 => statement.push_str(" A fórmula:\n\n$$\\frac{1}{2} + \\sqrt{x^2 + 1}$$"),
                _ => {}
            }
            let mut q = serde_json::json!({
                "key": (["A", "B", "C", "D", "E"][i % 5]),
                "statement": statement,
                "options": (0..5).map(|j| option_marker(i, j)).collect::<Vec<_>>(),
            });
            match i {
                4 => {
                    q["figures"] =
                        serde_json::json!([{"image": png, "caption": "Figura 1: um gradiente"}])
                }
                5 => q["figures"] = serde_json::json!([{"path": "foto.jpg", "width": 0.6}]),
                6 => q["figures"] = serde_json::json!([{"svg": SVG, "width": 0.5}]),
                _ => {}
            }
            q
        })
        .collect();
    Exam::from_json(
        &serde_json::json!({
            "title": "Simulado 1", "school": "Escola Estadual João Ninguém", "subject": "Ciências",
            "versions": ["A", "B"],
            "shuffle": {"seed": 42},
            "questions": questions,
            "open_questions": [{"statement": "qqab Explique, com suas palavras, o ciclo da água.", "lines": 12}],
        })
        .to_string(),
    )
    .expect("valid exam")
}

pub fn files() -> Files {
    Files(HashMap::from([("foto.jpg".to_string(), jpeg())]))
}
