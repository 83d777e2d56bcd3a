//! Diagnostics: plain data produced by analysis, rendered by miette at the edge.
//!
//! Analysis results must be comparable across salsa revisions, so a `Diag`
//! holds a file path and byte span rather than a miette report; `render`
//! attaches the source text only when it is shown.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

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
    source: Option<NamedSource<Arc<str>>>,
    related: Vec<RenderedNote>,
}

#[derive(Debug)]
struct RenderedNote {
    note: Note,
    source: Option<NamedSource<Arc<str>>>,
}

impl Rendered {
    pub fn new(diag: Diag, lookup: &dyn SourceLookup) -> Self {
        let named = |file: &str| lookup.source_text(file).map(|text| NamedSource::new(file, text).with_language("dhi"));
        let source = if diag.file.is_empty() { None } else { named(&diag.file) };
        let related = diag.notes.iter().map(|n| RenderedNote { source: named(&n.file), note: n.clone() }).collect();
        Rendered { diag, source, related }
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
