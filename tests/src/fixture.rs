//! Bundles to test against: the example exam, synthetic rosters of any size, and a rendered
//! `bundle.pdf` + `bundle.json` in a folder.

use std::path::{Path, PathBuf};

use model::{Bundle, Exam, Student};

use crate::SimError;

/// The 90-question example exam shipped in `examples/simulado-1.json`.
pub fn example_exam() -> Result<Exam, SimError> {
    Exam::from_json(include_str!("../../examples/simulado-1.json"))
        .map_err(|e| SimError::Format(format!("example exam: {e}")))
}

const FIRST: [&str; 16] = [
    "Ana", "João", "Maria", "José", "Luíza", "Pedro", "Beatriz", "Lucas", "Júlia", "Gabriel",
    "Letícia", "Rafael", "Camila", "Thiago", "Fernanda", "Mateus",
];
const LAST: [&str; 12] = [
    "da Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Pereira",
    "Gonçalves",
    "Araújo",
    "Conceição",
    "Rodrigues",
    "Almeida",
    "Brandão",
    "Nascimento",
];

/// A roster of `n` students with distinct ids and plausible pt-BR names.
pub fn roster(n: usize) -> Vec<Student> {
    (0..n)
        .map(|i| Student {
            student_id: format!("2026{:05}", i + 1),
            name: format!(
                "{} {} {}",
                FIRST[i % FIRST.len()],
                LAST[(i / FIRST.len()) % LAST.len()],
                LAST[(i * 7 + 3) % LAST.len()]
            ),
            class: format!("3º{}", ["A", "B", "C", "D"][i % 4]),
        })
        .collect()
}

/// A rendered bundle on disk.
pub struct RenderedFixture {
    /// Keeps the folder alive when it is temporary.
    _dir: Option<tempfile::TempDir>,
    /// The folder holding `bundle.pdf` and `bundle.json`.
    pub dir: PathBuf,
    /// The manifest.
    pub bundle: Bundle,
}

impl RenderedFixture {
    /// Reads a folder written by `render-service render`.
    pub fn load(dir: &Path) -> Result<Self, SimError> {
        let json = std::fs::read_to_string(dir.join("bundle.json"))
            .map_err(|e| SimError::Io(format!("{}/bundle.json: {e}", dir.display())))?;
        let bundle: Bundle = serde_json::from_str(&json)
            .map_err(|e| SimError::Format(format!("bundle.json: {e}")))?;
        Ok(Self {
            _dir: None,
            dir: dir.to_path_buf(),
            bundle,
        })
    }

    /// Renders `exam` for `students` with the render service into a temporary folder.
    pub fn render(exam: &Exam, students: &[Student], seed: u64) -> Result<Self, SimError> {
        Self::render_with(exam, Some(students), 1, seed)
    }

    /// Renders `copies` anonymous sheets of `exam` (no roster: each carries a student-number
    /// grid) into a temporary folder.
    pub fn render_anonymous(exam: &Exam, copies: usize, seed: u64) -> Result<Self, SimError> {
        Self::render_with(exam, None, copies, seed)
    }

    fn render_with(
        exam: &Exam,
        students: Option<&[Student]>,
        copies: usize,
        seed: u64,
    ) -> Result<Self, SimError> {
        let dir = tempfile::tempdir().map_err(|e| SimError::Io(format!("temp dir: {e}")))?;
        let rendered = render::render_bundle_seeded(exam, students, copies, seed)
            .map_err(|e| SimError::Tool(format!("render_bundle: {e}")))?;
        std::fs::write(dir.path().join("bundle.pdf"), &rendered.pdf)
            .map_err(|e| SimError::Io(format!("bundle.pdf: {e}")))?;
        let json = serde_json::to_string_pretty(&rendered.manifest)
            .map_err(|e| SimError::Format(format!("bundle.json: {e}")))?;
        std::fs::write(dir.path().join("bundle.json"), json)
            .map_err(|e| SimError::Io(format!("bundle.json: {e}")))?;
        Ok(Self {
            dir: dir.path().to_path_buf(),
            _dir: Some(dir),
            bundle: rendered.manifest,
        })
    }

    /// The PDF.
    pub fn pdf_path(&self) -> PathBuf {
        self.dir.join("bundle.pdf")
    }

    /// Indices (into `bundle.pages`) of the answer-sheet pages: those with bubbles.
    pub fn sheet_pages(&self) -> Vec<usize> {
        self.bundle
            .pages
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.layout.bubbles.is_empty())
            .map(|(i, _)| i)
            .collect()
    }
}
