//! The Markdown subset of statements and options (documented in `model::booklet`), parsed into
//! data. Nothing here produces typesetter markup: the caller turns these nodes into string
//! literals, so every character the teacher typed is printed as typed unless the subset gives it
//! a meaning.
//!
//! pulldown-cmark was not used: CommonMark's headings, links, code spans, HTML and block quotes
//! cannot be switched off there, and the subset prints them as typed.

/// A block of a text: a paragraph or a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A paragraph.
    Paragraph(Vec<Inline>),
    /// A list: `-` items, or numbered items starting at `start`.
    List {
        /// The number of the first item of a numbered list; `None` for a bulleted list.
        start: Option<u32>,
        /// The items.
        items: Vec<Vec<Inline>>,
    },
}

/// A piece of a paragraph.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    /// Characters printed as they are.
    Text(String),
    /// `**bold**`.
    Bold(Vec<Inline>),
    /// `*italic*`.
    Italic(Vec<Inline>),
    /// `~sub~`.
    Sub(Vec<Inline>),
    /// `^super^`.
    Super(Vec<Inline>),
    /// `$…$`: LaTeX-style math, inline.
    Math(String),
    /// `$$…$$`: LaTeX-style math, displayed on its own line.
    DisplayMath(String),
}

/// Parses a text of the subset.
pub fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<(Option<u32>, Vec<Vec<&str>>)> = None;
    let flush_paragraph = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !paragraph.is_empty() {
            blocks.push(Block::Paragraph(inlines(&paragraph.join("\n"))));
            paragraph.clear();
        }
    };
    let flush_list = |list: &mut Option<(Option<u32>, Vec<Vec<&str>>)>, blocks: &mut Vec<Block>| {
        if let Some((start, items)) = list.take() {
            blocks.push(Block::List {
                start,
                items: items
                    .iter()
                    .map(|lines| inlines(&lines.join("\n")))
                    .collect(),
            });
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush_paragraph(&mut paragraph, &mut blocks);
            flush_list(&mut list, &mut blocks);
            continue;
        }
        if let Some((number, rest)) = list_item(line) {
            flush_paragraph(&mut paragraph, &mut blocks);
            // A bullet after numbers (or the reverse) starts another list.
            if list
                .as_ref()
                .is_some_and(|(start, _)| start.is_some() != number.is_some())
            {
                flush_list(&mut list, &mut blocks);
            }
            list.get_or_insert_with(|| (number, Vec::new()))
                .1
                .push(vec![rest]);
            continue;
        }
        match list.as_mut().and_then(|(_, items)| items.last_mut()) {
            // A line under an item continues it.
            Some(item) => item.push(line.trim()),
            None => paragraph.push(line),
        }
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    flush_list(&mut list, &mut blocks);
    blocks
}

/// `- text` or `12. text` (up to three spaces before): the item's number and its text.
fn list_item(line: &str) -> Option<(Option<u32>, &str)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    if let Some(text) = rest.strip_prefix("- ") {
        return Some((None, text.trim()));
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if (1..=9).contains(&digits) {
        let text = rest[digits..].strip_prefix(". ")?;
        let number = rest[..digits].parse().ok()?;
        return Some((Some(number), text.trim()));
    }
    None
}

/// The emphasis delimiters of the subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delim {
    Bold,
    Italic,
    Sub,
    Super,
}

impl Delim {
    fn text(self) -> &'static str {
        match self {
            Delim::Bold => "**",
            Delim::Italic => "*",
            Delim::Sub => "~",
            Delim::Super => "^",
        }
    }

    fn wrap(self, children: Vec<Inline>) -> Inline {
        match self {
            Delim::Bold => Inline::Bold(children),
            Delim::Italic => Inline::Italic(children),
            Delim::Sub => Inline::Sub(children),
            Delim::Super => Inline::Super(children),
        }
    }
}

fn push_text(out: &mut Vec<Inline>, text: &str) {
    if let Some(Inline::Text(last)) = out.last_mut() {
        last.push_str(text);
    } else if !text.is_empty() {
        out.push(Inline::Text(text.to_string()));
    }
}

fn push_all(out: &mut Vec<Inline>, children: Vec<Inline>) {
    for child in children {
        match child {
            Inline::Text(t) => push_text(out, &t),
            other => out.push(other),
        }
    }
}

/// The inline content of a paragraph or list item. Line breaks inside are spaces.
pub fn inlines(text: &str) -> Vec<Inline> {
    let chars: Vec<char> = text.chars().collect();
    // The open delimiters, innermost last, each with what it holds so far; frame 0 is the root.
    let mut stack: Vec<(Option<Delim>, Vec<Inline>)> = vec![(None, Vec::new())];
    let top = |stack: &mut Vec<(Option<Delim>, Vec<Inline>)>| -> usize { stack.len() - 1 };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        match c {
            '\\' if next.is_some_and(|n| n.is_ascii_punctuation()) => {
                let t = top(&mut stack);
                push_text(&mut stack[t].1, &next.map(String::from).unwrap_or_default());
                i += 2;
            }
            '$' => {
                let t = top(&mut stack);
                match math_span(&chars, i) {
                    Some((inline, end)) => {
                        stack[t].1.push(inline);
                        i = end;
                    }
                    None => {
                        push_text(&mut stack[t].1, "$");
                        i += 1;
                    }
                }
            }
            '*' | '~' | '^' => {
                let delim = match (c, next) {
                    ('*', Some('*')) => Delim::Bold,
                    ('*', _) => Delim::Italic,
                    ('~', _) => Delim::Sub,
                    _ => Delim::Super,
                };
                let len = delim.text().len();
                let after = chars.get(i + len).copied();
                let can_close = prev.is_some_and(|p| !p.is_whitespace());
                let can_open = after.is_some_and(|a| !a.is_whitespace());
                let open_at = stack.iter().rposition(|(d, _)| *d == Some(delim));
                match open_at {
                    Some(at) if can_close => {
                        // Delimiters opened inside this one and never closed are text.
                        while stack.len() > at + 1 {
                            unwind_one(&mut stack);
                        }
                        if let Some((_, children)) = stack.pop() {
                            let t = top(&mut stack);
                            stack[t].1.push(delim.wrap(children));
                        }
                    }
                    _ if can_open => stack.push((Some(delim), Vec::new())),
                    _ => {
                        let t = top(&mut stack);
                        push_text(&mut stack[t].1, delim.text());
                    }
                }
                i += len;
            }
            '\n' | '\r' => {
                let t = top(&mut stack);
                push_text(&mut stack[t].1, " ");
                i += 1;
            }
            _ => {
                let t = top(&mut stack);
                push_text(&mut stack[t].1, c.encode_utf8(&mut [0; 4]));
                i += 1;
            }
        }
    }
    while stack.len() > 1 {
        unwind_one(&mut stack);
    }
    stack
        .pop()
        .map(|(_, children)| children)
        .unwrap_or_default()
}

/// Turns the innermost open delimiter into text: its delimiter, then what it holds.
fn unwind_one(stack: &mut Vec<(Option<Delim>, Vec<Inline>)>) {
    if let Some((delim, children)) = stack.pop()
        && let Some((_, parent)) = stack.last_mut()
    {
        push_text(parent, delim.map_or("", Delim::text));
        push_all(parent, children);
    }
}

/// The math starting at the `$` at `start`, and the index after it, if it is math.
///
/// Pandoc's rule: `$` opens only with a non-space after it and closes only with a non-space
/// before it and no digit after it, so "R$ 5,00 e R$ 6,00" stays money. `$$…$$` is displayed.
fn math_span(chars: &[char], start: usize) -> Option<(Inline, usize)> {
    if chars.get(start + 1) == Some(&'$') {
        let from = start + 2;
        let close = (from..chars.len().saturating_sub(1))
            .find(|&j| chars[j] == '$' && chars[j + 1] == '$' && chars[j - 1] != '\\')?;
        let body: String = chars[from..close].iter().collect();
        if body.trim().is_empty() {
            return None;
        }
        return Some((Inline::DisplayMath(body.trim().to_string()), close + 2));
    }
    let from = start + 1;
    if chars.get(from).is_none_or(|c| c.is_whitespace()) {
        return None;
    }
    let close = (from..chars.len()).find(|&j| {
        chars[j] == '$'
            && !chars[j - 1].is_whitespace()
            && chars[j - 1] != '\\'
            && !chars.get(j + 1).is_some_and(|c| c.is_ascii_digit())
    })?;
    if close == from {
        return None;
    }
    Some((Inline::Math(chars[from..close].iter().collect()), close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    #[test]
    fn emphasis_scripts_and_escapes() {
        assert_eq!(
            inlines("a **b** *c* H~2~O x^2^ \\*d\\*"),
            vec![
                text("a "),
                Inline::Bold(vec![text("b")]),
                text(" "),
                Inline::Italic(vec![text("c")]),
                text(" H"),
                Inline::Sub(vec![text("2")]),
                text("O x"),
                Inline::Super(vec![text("2")]),
                text(" *d*"),
            ]
        );
        assert_eq!(inlines("2 * 3 * 4"), vec![text("2 * 3 * 4")]);
        assert_eq!(inlines("**a *b**"), vec![Inline::Bold(vec![text("a *b")])]);
        assert_eq!(inlines("*unclosed"), vec![text("*unclosed")]);
    }

    #[test]
    fn money_is_not_math() {
        assert_eq!(
            inlines("R$ 5,00 e R$ 6,00"),
            vec![text("R$ 5,00 e R$ 6,00")]
        );
        assert_eq!(inlines("custa $5 e $6"), vec![text("custa $5 e $6")]);
        assert_eq!(
            inlines("seja $x^2$ e $$\\frac{a}{b}$$"),
            vec![
                text("seja "),
                Inline::Math("x^2".into()),
                text(" e "),
                Inline::DisplayMath("\\frac{a}{b}".into())
            ]
        );
        assert_eq!(inlines("um $ solto"), vec![text("um $ solto")]);
    }

    #[test]
    fn paragraphs_and_lists() {
        let blocks =
            parse("Leia:\ncontinua.\n\n- um\n- dois\n  mais\n\n3. três\n4. quatro\n# não é título");
        assert_eq!(
            blocks,
            vec![
                Block::Paragraph(vec![text("Leia: continua.")]),
                Block::List {
                    start: None,
                    items: vec![vec![text("um")], vec![text("dois mais")]]
                },
                Block::List {
                    start: Some(3),
                    items: vec![vec![text("três")], vec![text("quatro # não é título")]]
                },
            ]
        );
    }
}
