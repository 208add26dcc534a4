//! Shows compiler diagnostics to people (miette, with the source snippet) and to
//! tools (JSON).

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode};
use serde::Serialize;

use crate::core::diagnostic::{Diagnostic, Severity, SourceText};

/// A diagnostic paired with its source, in the shape miette renders.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let bytes = &self.diagnostic.position.bytes;
        let label = format!(
            "line {}, column {}",
            self.diagnostic.position.line, self.diagnostic.position.column
        );
        Some(Box::new(std::iter::once(LabeledSpan::at(
            bytes.start..bytes.end.max(bytes.start),
            label,
        ))))
    }
}

/// Renders diagnostics with source snippets. `color` is for terminals; tests and files
/// get plain text.
pub fn human(diagnostics: &[Diagnostic], sources: &[SourceText], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let text = sources
            .iter()
            .find(|s| s.name == diagnostic.file)
            .map(|s| s.text.clone())
            .unwrap_or_default();
        let report = Report {
            diagnostic,
            source: NamedSource::new(&diagnostic.file, text),
        };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&diagnostic.to_string());
            out.push('\n');
        }
    }
    out
}

/// One checked file, as `dialflow check --format json` prints it.
#[derive(Debug, Serialize)]
pub struct FileReport<'a> {
    pub file: &'a str,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scenario: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<&'a str>,
    pub diagnostics: &'a [Diagnostic],
}

/// A one-line summary such as `2 errors, 1 warning`.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}",
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}
