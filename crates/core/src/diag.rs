//! Diagnostics: plain data produced by analysis, rendered by miette at the edge.
//!
//! Analysis results must be comparable across salsa revisions, so a `Diag`
//! holds a file path and byte span rather than a miette report; `render`
//! attaches the source text only when it is shown.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, MietteError, MietteSpanContents, NamedSource, SourceCode, SourceSpan, SpanContents};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start: start as u32, end: end as u32 }
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// One labelled place in a (possibly different) file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    pub file: String,
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diag {
    /// Workspace-relative path, or `@stdlib//x.dhi`, or empty for diagnostics
    /// about the command line rather than a file.
    pub file: String,
    pub span: Span,
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    /// Further places, each shown with its own source (e.g. each edge of a cycle).
    pub notes: Vec<Note>,
}

impl Diag {
    pub fn error(file: &str, span: Span, code: &'static str, message: impl Into<String>) -> Self {
        Diag { file: file.to_string(), span, code, message: message.into(), label: String::new(), help: None, notes: Vec::new() }
    }

    /// A diagnostic with no place in a file: a bad command-line argument.
    pub fn plain(code: &'static str, message: impl Into<String>) -> Self {
        Self::error("", Span::default(), code, message)
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, file: &str, span: Span, message: impl Into<String>) -> Self {
        self.notes.push(Note { file: file.to_string(), span, message: message.into() });
        self
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Looks up the text of a file named in a diagnostic.
pub trait SourceLookup {
    fn source_text(&self, file: &str) -> Option<Arc<str>>;
}

/// A diagnostic with its source attached, ready for miette to print.
#[derive(Debug)]
pub struct Rendered {
    diag: Diag,
    source: Option<Excerpted>,
    related: Vec<RenderedNote>,
}

#[derive(Debug)]
struct RenderedNote {
    note: Note,
    source: Option<Excerpted>,
}

impl Rendered {
    /// The diagnostic's code (`E0201`).
    pub fn code(&self) -> &'static str {
        self.diag.code
    }

    pub fn new(mut diag: Diag, lookup: &dyn SourceLookup) -> Self {
        let named = |file: &str| lookup.source_text(file).map(|text| Excerpted(NamedSource::new(file, text).with_language("dhi")));
        let source = if diag.file.is_empty() { None } else { named(&diag.file) };
        if let Some(s) = &source {
            diag.span = s.drawable(diag.span);
        }
        let related = diag
            .notes
            .iter()
            .map(|n| {
                let source = named(&n.file);
                let mut note = n.clone();
                if let Some(s) = &source {
                    note.span = s.drawable(note.span);
                }
                RenderedNote { source, note }
            })
            .collect();
        Rendered { diag, source, related }
    }
}

/// Longest line drawn whole; past it only a window around the span is.
const MAX_DRAWN_LINE: usize = 400;
/// Characters of context either side of a span on a long line.
const WINDOW: usize = 60;

/// A file's text for miette, which draws every line it shows in full (and
/// panics on columns past 65,535): spans on a line too long to draw are
/// shown in a window of that line, with their true line and column.
#[derive(Debug)]
struct Excerpted(NamedSource<Arc<str>>);

impl Excerpted {
    fn text(&self) -> &str {
        self.0.inner()
    }

    /// The bounds of the line(s) holding `span`.
    fn lines_of(&self, span: Span) -> (usize, usize, usize, usize) {
        let text = self.text();
        let start = (span.start as usize).min(text.len());
        let end = (span.end as usize).clamp(start, text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        (start, end, line_start, line_end)
    }

    /// `span` cut to what a window can show: on a long line, its first
    /// [`WINDOW`] bytes.
    fn drawable(&self, span: Span) -> Span {
        let (start, end, line_start, line_end) = self.lines_of(span);
        if line_end - line_start <= MAX_DRAWN_LINE || end - start <= WINDOW {
            return span;
        }
        Span::new(start, floor_char(self.text(), start + WINDOW))
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(text: &str, mut i: usize) -> usize {
    i = i.min(text.len());
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

impl SourceCode for Excerpted {
    fn read_span<'a>(&'a self, span: &SourceSpan, before: usize, after: usize) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let (start, end, line_start, line_end) = self.lines_of(Span::new(span.offset(), span.offset() + span.len()));
        let text = self.text();
        if line_end - line_start <= MAX_DRAWN_LINE {
            return self.0.read_span(span, before, after);
        }
        // Without context, miette asks where the span itself is (for the
        // `file:line:column` header): exactly the span.
        let context = if before == 0 && after == 0 { 0 } else { WINDOW };
        let from = ceil_char(text, start.saturating_sub(context).max(line_start));
        let to = floor_char(text, (end + context).min(line_end)).max(from);
        let line = text[..line_start].matches('\n').count();
        let column = text[line_start..from].chars().count();
        let contents =
            MietteSpanContents::new_named(self.0.name().to_string(), &text.as_bytes()[from..to], (from, to - from).into(), line, column, 1)
                .with_language("dhi");
        Ok(Box::new(contents))
    }
}

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl std::error::Error for Rendered {}

impl Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diag.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let label = (!self.diag.label.is_empty()).then(|| self.diag.label.clone());
        let span = self.diag.span;
        Some(Box::new(std::iter::once(LabeledSpan::new(label, span.start as usize, span.len()))))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn Diagnostic)))
    }
}

impl fmt::Display for RenderedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.note.message)
    }
}
impl std::error::Error for RenderedNote {}

impl Diagnostic for RenderedNote {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let span = self.note.span;
        Some(Box::new(std::iter::once(LabeledSpan::new(None, span.start as usize, span.len()))))
    }
}

/// Suggests the closest candidate, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}
