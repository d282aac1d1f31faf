//! The typst source of an exam's booklets. The exam's text appears in it only as string
//! literals (`#"…";`, with `\` and `"` escaped) and its formulas only as mitex's conversion,
//! checked before use; the markup around them is this module's own.

use std::collections::{HashMap, HashSet};
use std::fmt::Write;
use std::ops::Range;

use model::Exam;
use model::booklet::{Figure, ImageKind};
use model::exam::Language;
use model::exam::OpenQuestion;
use model::layout::booklet_frame;
use typst::syntax::FileId;

use crate::markdown::{self, Block, Inline};
use crate::{FigureSource, TypesetError};

/// The label of the metadata that starts each version.
pub const VERSION_LABEL: &str = "gabarito-version";
/// The label of the metadata at the top-left of each open question's answer box.
pub const OPEN_BOX_LABEL: &str = "gabarito-open-box";

/// Height of the running header inside the body (school, exam, version).
const HEADER_PT: f32 = 34.0;
/// Height of the page footer inside the body ("página x de y").
const FOOTER_PT: f32 = 16.0;
/// Room kept above an answer box for its statement when it is sized to fit a page.
const OPEN_STATEMENT_PT: f32 = 110.0;
/// The answer box's line spacing when it fits (about 8 mm: handwriting size).
const LINE_PT: f32 = 22.0;

/// A part of the generated source that comes from the exam file, for pinning errors on it.
#[derive(Debug, Clone)]
pub enum Part {
    /// The formula with this index (in generation order).
    Formula(usize),
    /// A figure, by its place in the exam file.
    Figure(String),
}

/// A booklet's source and the files it reads.
pub struct Generated {
    /// The main typst source.
    pub source: String,
    /// The figures, as virtual files.
    pub files: Vec<(FileId, Vec<u8>)>,
    /// Byte ranges of `source` that come from formulas and figures.
    pub parts: Vec<(Range<usize>, Part)>,
}

/// A string literal of typst's code, holding `text` exactly.
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The typst functions mitex's output may call with `#` (for `\text{…}`, `\textbf{…}`…).
const MITEX_CODE_CALLS: &[&str] = &[
    "textmath",
    "textbf",
    "textit",
    "textrm",
    "textsf",
    "texttt",
    "textup",
    "textmd",
    "textnormal",
    "strong",
    "emph",
];

/// Whether mitex's output can stand between `$…$` as typst math: it parses as math without
/// errors, has no unescaped `$` that would end the equation early, and embeds no code but
/// the text calls above (mitex copies `\iftypst` blocks through as typst code).
fn safe_math(converted: &str) -> bool {
    let mut prev = ' ';
    for (i, c) in converted.char_indices() {
        if prev != '\\' {
            if c == '$' {
                return false;
            }
            if c == '#' {
                let rest = &converted[i + 1..];
                let name_end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(rest.len());
                if !MITEX_CODE_CALLS.contains(&&rest[..name_end]) {
                    return false;
                }
            }
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    typst::syntax::parse_math(converted)
        .errors_and_warnings()
        .0
        .is_empty()
}

/// mitex's conversion of `latex`, if it converts: mitex panics on some malformed input
/// (`\includegraphics` without an argument), which must not take the exam down.
fn convert_math(latex: &str) -> Option<String> {
    std::panic::catch_unwind(|| mitex::convert_math(latex, None))
        .ok()?
        .ok()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty() && safe_math(c))
}

struct Gen<'a> {
    out: String,
    parts: Vec<(Range<usize>, Part)>,
    files: Vec<(FileId, Vec<u8>)>,
    /// Formulas printed as their LaTeX source.
    literal: &'a HashSet<usize>,
    formulas: usize,
    /// mitex's conversion of each formula text, `None` when it does not convert safely.
    converted: HashMap<String, Option<String>>,
    /// Figure files already made, by their place in the exam file (versions share them).
    figure_files: HashMap<String, String>,
    figures: &'a dyn FigureSource,
}

impl Gen<'_> {
    fn convert(&mut self, latex: &str) -> Option<String> {
        self.converted
            .entry(latex.to_string())
            .or_insert_with(|| convert_math(latex))
            .clone()
    }

    fn math(&mut self, latex: &str, display: bool) {
        let index = self.formulas;
        self.formulas += 1;
        let converted = if self.literal.contains(&index) {
            None
        } else {
            self.convert(latex)
        };
        match converted {
            Some(math) => {
                let start = self.out.len();
                if display {
                    let _ = write!(self.out, "$ {math} $");
                } else {
                    let _ = write!(self.out, "${math}$");
                }
                self.parts
                    .push((start..self.out.len(), Part::Formula(index)));
            }
            None => {
                let _ = write!(
                    self.out,
                    "#raw(block: {display}, {});",
                    literal(latex.trim())
                );
            }
        }
    }

    fn inlines(&mut self, inlines: &[Inline]) {
        for inline in inlines {
            match inline {
                Inline::Text(t) => {
                    let _ = write!(self.out, "#{};", literal(t));
                }
                Inline::Bold(c) => self.wrapped("strong", c),
                Inline::Italic(c) => self.wrapped("emph", c),
                Inline::Sub(c) => self.wrapped("sub", c),
                Inline::Super(c) => self.wrapped("super", c),
                Inline::Math(m) => self.math(m, false),
                Inline::DisplayMath(m) => self.math(m, true),
            }
        }
    }

    fn wrapped(&mut self, function: &str, children: &[Inline]) {
        let _ = write!(self.out, "#{function}[");
        self.inlines(children);
        self.out.push_str("];");
    }

    /// A text of the Markdown subset, as content (`[…]`), where code is expected.
    fn text(&mut self, text: &str) {
        self.out.push('[');
        self.markup(text);
        self.out.push(']');
    }

    /// A text of the Markdown subset, where markup is expected.
    fn markup(&mut self, text: &str) {
        for (i, block) in markdown::parse(text).iter().enumerate() {
            if i > 0 {
                self.out.push_str("\n\n");
            }
            match block {
                Block::Paragraph(inlines) => self.inlines(inlines),
                Block::List { start, items } => {
                    match start {
                        Some(n) => {
                            let _ = write!(self.out, "#enum(start: {n}");
                        }
                        None => self.out.push_str("#list("),
                    }
                    for (j, item) in items.iter().enumerate() {
                        if start.is_some() || j > 0 {
                            self.out.push_str(", ");
                        }
                        self.out.push('[');
                        self.inlines(item);
                        self.out.push(']');
                    }
                    self.out.push_str(");");
                }
            }
        }
    }

    /// A figure, as the `fig(…)` call of the prelude.
    fn figure(&mut self, figure: &Figure, at: &str) -> Result<(), TypesetError> {
        let path = match self.figure_files.get(at) {
            Some(path) => path.clone(),
            None => {
                let (bytes, extension) = if let Some(svg) = &figure.svg {
                    (svg.clone().into_bytes(), "svg")
                } else {
                    let bytes = match (&figure.image, &figure.path) {
                        (Some(_), _) => figure
                            .image_bytes()
                            .unwrap_or_else(|| Err("no image".into()))
                            .map_err(|message| TypesetError::BadFigure {
                                at: at.to_string(),
                                message,
                            })?,
                        (None, Some(path)) => self.figures.figure(path).ok_or_else(|| {
                            TypesetError::MissingFigure {
                                at: at.to_string(),
                                path: path.clone(),
                            }
                        })?,
                        (None, None) => {
                            return Err(TypesetError::BadFigure {
                                at: at.to_string(),
                                message: "has no image, path or svg".into(),
                            });
                        }
                    };
                    let extension = match ImageKind::sniff(&bytes) {
                        Some(ImageKind::Png) => "png",
                        Some(ImageKind::Jpeg) => "jpg",
                        None => {
                            return Err(TypesetError::BadFigure {
                                at: at.to_string(),
                                message: "is neither a PNG nor a JPEG file".into(),
                            });
                        }
                    };
                    (bytes, extension)
                };
                // Named by count, not by content: typst interns every path for the life of
                // the process, and counts repeat from one exam to the next.
                let path = format!("/figures/{}.{extension}", self.files.len());
                let id = crate::world::file_id(&path)
                    .ok_or_else(|| TypesetError::Typst(format!("bad virtual path {path}")))?;
                self.files.push((id, bytes));
                self.figure_files.insert(at.to_string(), path.clone());
                path
            }
        };
        let start = self.out.len();
        let width = figure
            .width
            .map_or("none".to_string(), |w| format!("{}%", w * 100.0));
        let _ = write!(self.out, "#fig({}, {width}, ", literal(&path));
        match &figure.caption {
            Some(c) => {
                let _ = write!(self.out, "[#{};]", literal(c));
            }
            None => self.out.push_str("none"),
        }
        self.out.push_str(");");
        self.parts
            .push((start..self.out.len(), Part::Figure(at.to_string())));
        Ok(())
    }

    /// Statement then figures, as content.
    fn body(
        &mut self,
        statement: Option<&str>,
        figures: &[Figure],
        at: &str,
    ) -> Result<(), TypesetError> {
        self.out.push('[');
        if let Some(s) = statement {
            self.markup(s);
        }
        for (j, f) in figures.iter().enumerate() {
            self.figure(f, &format!("{at}.figures[{j}]"))?;
        }
        self.out.push(']');
        Ok(())
    }
}

/// The prelude: page geometry, fonts, and the functions the booklet calls. `chrome` draws the
/// running header and the footer inside the body rectangle; the page margins keep the
/// questions between them.
fn prelude(exam: &Exam) -> String {
    let frame = booklet_frame(exam.paper);
    let (width, height) = exam.paper.size_pt();
    let body = frame.body;
    let (lang, region, version_word, page_word, of_word) = match exam.language {
        Language::PtBr => ("pt", "BR", "Versão", "página", "de"),
        Language::En => ("en", "US", "Version", "page", "of"),
    };
    let size = if exam.booklet.columns == 2 {
        "10pt"
    } else {
        "11pt"
    };
    let title = if exam.subject.trim().is_empty() {
        exam.title.clone()
    } else {
        format!("{} — {}", exam.title, exam.subject)
    };
    let school = if exam.school.trim().is_empty() {
        "none".to_string()
    } else {
        literal(&exam.school)
    };
    format!(
        r#"#set document(title: {title_lit})
#set page(width: {width}pt, height: {height}pt,
  margin: (left: {left}pt, right: {right}pt, top: {top}pt, bottom: {bottom}pt),
  header: none, footer: none)
#set columns(gutter: 16pt)
#set text(font: "Libertinus Serif", size: {size}, lang: "{lang}", region: "{region}", hyphenate: true)
#set par(justify: true, spacing: 0.75em)
#show math.equation: set text(font: "New Computer Modern Math")
#show raw: set text(font: "DejaVu Sans Mono", size: 0.85em)
#set list(indent: 0.6em)
#set enum(indent: 0.6em)

#let chrome(version, end) = place(top + left, dx: {bx}pt, dy: {by}pt, block(width: {bw}pt, height: {bh}pt, {{
  place(top + left, block(width: 100%, height: {header}pt, {{
    set text(size: 9pt, hyphenate: false)
    set par(justify: false)
    grid(columns: (1fr, auto), column-gutter: 8pt, align: (left + horizon, right + horizon),
      {{ if {school} != none {{ text(weight: "bold", {school}); linebreak() }}; {title_lit} }},
      box(stroke: 0.8pt, inset: (x: 6pt, y: 4pt), text(weight: "bold", size: 10pt, {version_lit} + " " + version)))
    place(bottom + left, line(length: 100%, stroke: 0.5pt))
  }}))
  place(bottom + center, context text(size: 9pt, {page_lit} + " " + counter(page).display() + " " + {of_lit} + " " + str(counter(page).at(label(end)).first())))
}}))

#let fig(path, width, caption) = block(width: 100%, above: 0.7em, below: 0.7em, breakable: false, align(center, {{
  if width != none {{ image(path, width: width) }} else {{
    layout(size => {{
      let natural = image(path)
      if measure(natural).width > size.width {{ image(path, width: 100%) }} else {{ natural }}
    }})
  }}
  if caption != none {{ v(0.3em, weak: true); text(size: 0.85em, caption) }}
}}))

#let question(number, body, options) = block(breakable: false, width: 100%, above: 1.2em, below: 1.2em,
  grid(columns: (auto, 1fr), column-gutter: 0.45em,
    text(weight: "bold", number + "."),
    {{
      body
      if options.len() > 0 {{
        v(0.5em, weak: true)
        grid(columns: (auto, 1fr), column-gutter: 0.4em, row-gutter: 0.6em,
          ..options.map(o => (text(weight: "bold", "(" + o.at(0) + ")"), o.at(1))).flatten())
      }}
    }}))

#let open-question(number, index, body, lines, spacing) = block(breakable: false, width: 100%, above: 1.4em, below: 1.4em, {{
  grid(columns: (auto, 1fr), column-gutter: 0.45em, text(weight: "bold", number + "."), body)
  v(0.6em, weak: true)
  block(width: 100%, height: lines * spacing, stroke: 0.7pt + luma(35%), {{
    layout(size => [#metadata((open: index, width: size.width.pt(), height: size.height.pt()))<{open_label}>])
    for i in range(1, lines) {{
      place(top + left, dy: i * spacing, line(length: 100%, stroke: 0.3pt + luma(60%)))
    }}
  }})
}})

// mitex writes some LaTeX as calls on its own typst package; these are those calls, in plain
// typst (the package is not fetched: no network).
#let mitexsqrt(..args) = {{
  let a = args.pos()
  if a.len() == 1 {{ math.sqrt(a.at(0)) }} else {{ math.root(a.at(0), a.at(1)) }}
}}
#let mitexdisplay(it) = math.display(it)
#let mitexinline(it) = math.inline(it)
#let mitexmathbf(it) = math.bold(math.upright(it))
#let mitexbold(it) = math.bold(math.upright(it))
#let mitexupright(it) = math.upright(it)
#let mitexitalic(it) = math.italic(it)
#let mitexsans(it) = math.sans(it)
#let mitexmono(it) = math.mono(it)
#let mitexfrak(it) = math.frak(it)
#let mitexcal(it) = math.cal(it)
#let mitexoverbrace(it) = math.overbrace(it)
#let mitexunderbrace(it) = math.underbrace(it)
#let mitexoverbracket(it) = math.overbracket(it)
#let mitexunderbracket(it) = math.underbracket(it)
#let mitexcolor(color, it) = it
#let colortext(color, it) = it
#let textmath(it) = it
#let textbf(it) = text(weight: "bold", it)
#let textit(it) = text(style: "italic", it)
#let textrm(it) = it
#let textsf(it) = it
#let texttt(it) = it
#let textup(it) = it
#let textmd(it) = it
#let textnormal(it) = it
#let emph(it) = text(style: "italic", it)
#let operatorname(..args) = math.op(args.pos().join())
#let pmatrix(..args) = math.mat(delim: "(", ..args)
#let bmatrix(..args) = math.mat(delim: "[", ..args)
#let vmatrix(..args) = math.mat(delim: "|", ..args)
#let matrix(..args) = math.mat(delim: none, ..args)
#let aligned(..args) = args.pos().join()
#let zws = sym.zws

"#,
        title_lit = literal(&title),
        left = body.x,
        right = width - body.x - body.width,
        top = body.y + HEADER_PT + 8.0,
        bottom = height - body.y - body.height + FOOTER_PT + 8.0,
        bx = body.x,
        by = body.y,
        bw = body.width,
        bh = body.height,
        header = HEADER_PT,
        version_lit = literal(version_word),
        page_lit = literal(page_word),
        of_lit = literal(of_word),
        open_label = OPEN_BOX_LABEL,
    )
}

/// The line spacing of an answer box of `lines` lines: handwriting size when it fits on a
/// page with its statement, tighter when that many lines would not fit.
fn line_spacing(exam: &Exam, lines: u8) -> f32 {
    let body = booklet_frame(exam.paper).body;
    let room = body.height - HEADER_PT - FOOTER_PT - 16.0 - OPEN_STATEMENT_PT;
    LINE_PT.min(room / f32::from(lines.max(1)))
}

/// The source of every version's booklet.
pub fn generate(
    exam: &Exam,
    figures: &dyn FigureSource,
    literal_formulas: &HashSet<usize>,
) -> Result<Generated, TypesetError> {
    let mut g = Gen {
        out: prelude(exam),
        parts: Vec::new(),
        files: Vec::new(),
        literal: literal_formulas,
        formulas: 0,
        converted: HashMap::new(),
        figure_files: HashMap::new(),
        figures,
    };
    let any_content = exam
        .questions
        .iter()
        .any(|q| q.statement.is_some() || !q.options.is_empty() || !q.figures.is_empty());
    let columns = exam.booklet.columns.clamp(1, 2);
    for (k, version) in exam.versions.iter().enumerate() {
        let end = format!("gabarito-end-{k}");
        let chrome = format!("chrome({}, {})", literal(version), literal(&end));
        let start = format!("#counter(page).update(1)\n#metadata({k})<{VERSION_LABEL}>\n");
        let mut started = false;
        if any_content {
            let _ = writeln!(g.out, "#page(columns: {columns}, foreground: {chrome})[");
            g.out.push_str(&start);
            started = true;
            let plan = exam.version_plan(version);
            for (n, printed) in plan.questions.iter().enumerate() {
                let Some(q) = exam.questions.get(printed.source) else {
                    continue;
                };
                let at = format!("questions[{}]", printed.source);
                let _ = write!(g.out, "#question({}, ", literal(&(n + 1).to_string()));
                g.body(q.statement.as_deref(), &q.figures, &at)?;
                g.out.push_str(", (");
                if !q.options.is_empty() {
                    let labels = q.choices.labels(exam.language);
                    for (letter, &choice) in labels.iter().zip(&printed.choices) {
                        let Some(text) = q.options.get(usize::from(choice)) else {
                            continue;
                        };
                        let _ = write!(g.out, "({}, ", literal(letter));
                        g.text(text);
                        g.out.push_str("), ");
                    }
                }
                g.out.push_str("));\n");
            }
            if exam.open_questions.is_empty() {
                let _ = writeln!(g.out, "#metadata(none)<{end}>");
            }
            g.out.push_str("]\n");
        }
        if !exam.open_questions.is_empty() {
            // Written answers need the page's width: the open questions start a one-column page.
            let _ = writeln!(g.out, "#page(columns: 1, foreground: {chrome})[");
            if !started {
                g.out.push_str(&start);
            }
            for (i, oq) in exam.open_questions.iter().enumerate() {
                open_question(&mut g, exam, i, oq)?;
            }
            let _ = writeln!(g.out, "#metadata(none)<{end}>");
            g.out.push_str("]\n");
        }
    }
    Ok(Generated {
        source: g.out,
        files: g.files,
        parts: g.parts,
    })
}

fn open_question(
    g: &mut Gen<'_>,
    exam: &Exam,
    index: usize,
    question: &OpenQuestion,
) -> Result<(), TypesetError> {
    let number = exam.questions.len() + index + 1;
    let _ = write!(
        g.out,
        "#open-question({}, {index}, ",
        literal(&number.to_string())
    );
    g.body(
        Some(&question.statement),
        &question.figures,
        &format!("open_questions[{index}]"),
    )?;
    let _ = writeln!(
        g.out,
        ", {}, {}pt);",
        question.lines.max(1),
        line_spacing(exam, question.lines)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_only_what_strings_need() {
        assert_eq!(literal(r#"a\b"c#[$]"#), r#""a\\b\"c#[$]""#);
        assert_eq!(literal("x\ny"), r#""x\ny""#);
    }

    #[test]
    fn unsafe_conversions_are_refused() {
        assert!(safe_math("frac(a, b)"));
        assert!(!safe_math("a $ b"));
        assert!(safe_math("a \\$ b"));
        assert!(safe_math("#textmath[km]"));
        assert!(!safe_math("#read(\"x\")"));
        assert_eq!(convert_math(r"\includegraphics"), None);
    }
}
