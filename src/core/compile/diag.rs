//! The compile context's diagnostics: file positions of YAML locations, the wording of
//! YAML and expression errors, and durations (the one scalar every verb shares).

use std::ops::Range;

use serde_saphyr::{Location, Spanned};

use super::Cx;
use super::names::did_you_mean;
use crate::core::diagnostic::{Code, Diagnostic, Severity};
use crate::core::expr::{self, ExprError, ExprErrorKind};
use crate::core::source::{S, Scalar};

impl Cx<'_> {
    fn bytes_of(&self, loc: &Location) -> Option<Range<usize>> {
        if loc.line() == 0 {
            return None;
        }
        let span = loc.span();
        match (span.byte_offset(), span.byte_len()) {
            (Some(start), Some(len)) if (start as usize) <= self.src.text.len() => {
                Some(start as usize..(start + len) as usize)
            }
            _ => {
                let start = self.src.offset_of(loc.line() as u32, loc.column() as u32);
                Some(start..start + 1)
            }
        }
    }

    /// The span of `inner`, or of `outer` when `inner` carries none (bare strings).
    pub(super) fn span2(&self, inner: &Location, outer: &Location) -> Range<usize> {
        self.bytes_of(inner)
            .or_else(|| self.bytes_of(outer))
            .unwrap_or(0..0)
    }

    pub(super) fn span(&self, loc: &Location) -> Range<usize> {
        self.bytes_of(loc).unwrap_or(0..0)
    }

    pub(super) fn push(
        &mut self,
        severity: Severity,
        code: Code,
        bytes: Range<usize>,
        message: String,
        help: Option<String>,
    ) {
        let position = self.src.position(bytes);
        self.diags.push(Diagnostic {
            severity,
            code,
            file: self.src.name.clone(),
            position,
            message,
            help,
        });
    }

    pub(super) fn error(&mut self, code: Code, bytes: Range<usize>, message: impl Into<String>) {
        self.push(Severity::Error, code, bytes, message.into(), None);
    }

    pub(super) fn error_help(
        &mut self,
        code: Code,
        bytes: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(
            Severity::Error,
            code,
            bytes,
            message.into(),
            Some(help.into()),
        );
    }

    pub(super) fn yaml_error(&mut self, err: &serde_saphyr::Error) {
        let (line, column) = err.location().map_or((1, 1), |l| {
            (l.line().max(1) as u32, l.column().max(1) as u32)
        });
        let mut start = self.src.offset_of(line, column);
        let mut len = err
            .location()
            .and_then(|l| l.span().byte_len())
            .filter(|&l| l > 0 && l < 10_000)
            .map_or(1, |l| l as usize);
        let raw = clean_yaml_message(&err.to_string());
        let code = if is_syntax_error(err) {
            Code::YamlSyntax
        } else {
            Code::YamlSchema
        };
        let message = if code == Code::YamlSchema {
            self.explain_schema_error(&raw, start)
        } else {
            raw
        };
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
            && ["name", "prompts", "nodes"].contains(&field)
        {
            // A missing top-level field belongs to the whole file, not to its last key.
            start = 0;
            len = 0;
        }
        let help = yaml_help(&message);
        self.push(Severity::Error, code, start..start + len, message, help);
    }

    /// Rewrites serde's type errors in the words of the scenario: names the field (the
    /// key on the error's line) and says "a whole number" rather than "u32".
    fn explain_schema_error(&self, raw: &str, at: usize) -> String {
        let at = at.min(self.src.text.len());
        let line_start = self.src.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = self.src.text[line_start..].lines().next().unwrap_or("");
        let key = line
            .trim_start()
            .trim_start_matches("- ")
            .split(':')
            .next()
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .filter(|_| line.contains(':'));
        let kind = if raw.starts_with("invalid u") || raw.starts_with("invalid i") {
            Some("a whole number")
        } else if raw.contains("sequence start") {
            Some("a list")
        } else if raw.contains("mapping start") {
            Some("a mapping")
        } else if raw.starts_with("invalid bool") || raw.contains("expected a boolean") {
            Some("true or false")
        } else {
            None
        };
        match (key, kind) {
            (Some(key), Some(kind)) => format!("`{key}` must be {kind}"),
            (None, Some(kind)) => format!("expected {kind}"),
            _ => raw.to_string(),
        }
    }

    /// Maps an error inside a YAML string scalar to file bytes: exact when the scalar's
    /// text appears verbatim at its location, otherwise the whole scalar.
    fn expr_span(
        &self,
        scalar: &Spanned<String>,
        outer: &Location,
        within: &Range<usize>,
    ) -> Range<usize> {
        let whole = self.span2(&scalar.referenced, outer);
        let text = &self.src.text;
        let value = scalar.value.as_str();
        for skip in [0usize, 1] {
            let start = whole.start + skip;
            if text.get(start..start + value.len()) == Some(value) {
                let s = (start + within.start).min(start + value.len());
                let e = (start + within.end.max(within.start + 1)).min(start + value.len().max(1));
                return s..e.max(s + 1).min(text.len().max(s));
            }
        }
        whole
    }

    pub(super) fn expr_errors(
        &mut self,
        scalar: &Spanned<String>,
        outer: &Location,
        errors: Vec<ExprError>,
    ) {
        for err in errors {
            let bytes = self.expr_span(scalar, outer, &err.span);
            let code = match err.kind {
                ExprErrorKind::Syntax => Code::ExprSyntax,
                ExprErrorKind::UnknownVariable => Code::UnknownVariable,
                ExprErrorKind::TypeMismatch => Code::TypeMismatch,
                ExprErrorKind::UnknownFunction => Code::UnknownFunction,
                ExprErrorKind::BadRegex => Code::BadRegex,
                ExprErrorKind::UnknownIntent => Code::UnknownIntent,
                ExprErrorKind::UnknownResult => Code::UnknownResult,
            };
            self.error(code, bytes, err.message);
        }
    }

    pub(super) fn duration(
        &mut self,
        field: &str,
        value: &Option<S<Scalar>>,
        default_ms: u64,
        min_ms: u64,
        max_ms: u64,
    ) -> u64 {
        let Some(v) = value else { return default_ms };
        let bytes = self.span(&v.referenced);
        let parsed = match &v.value {
            Scalar::Str(s) => expr::parse_duration_ms(s).map_err(|e| e.to_string()),
            Scalar::Num(n) => Err(format!(
                "`{field}: {n}` needs a unit: write `{n}s` or `{n}ms`"
            )),
            Scalar::Bool(_) => Err(format!("`{field}` must be a duration such as 2s or 500ms")),
        };
        match parsed {
            Ok(ms) if ms < min_ms || ms > max_ms => {
                self.error(
                    Code::BadDuration,
                    bytes,
                    format!(
                        "`{field}` must be between {} and {}, found {}",
                        expr::format_duration_ms(min_ms),
                        expr::format_duration_ms(max_ms),
                        expr::format_duration_ms(ms)
                    ),
                );
                default_ms
            }
            Ok(ms) => ms,
            Err(msg) => {
                self.error(Code::BadDuration, bytes, msg);
                default_ms
            }
        }
    }
}

pub(super) fn is_syntax_error(err: &serde_saphyr::Error) -> bool {
    matches!(err, serde_saphyr::Error::ExternalMessage { .. })
        || matches!(err, serde_saphyr::Error::Eof { .. })
        || {
            let s = err.to_string();
            s.contains("while scanning") || s.contains("while parsing") || s.contains("indicator")
        }
}

fn clean_yaml_message(raw: &str) -> String {
    let first = raw.lines().next().unwrap_or(raw).trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let trimmed = match first.rfind(" at line ") {
        Some(i) if first[i..].contains("column") => &first[..i],
        _ => first,
    };
    let trimmed = trimmed.trim_end_matches('.');
    // "line 3 column 5: msg" prefixes repeat the position we show anyway.
    match trimmed.find(": ") {
        Some(i) if trimmed.starts_with("line ") => trimmed[i + 2..].to_string(),
        _ => trimmed.to_string(),
    }
}

fn yaml_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let field = &rest[..rest.find('`')?];
    let list = message
        .split("expected one of ")
        .nth(1)
        .or_else(|| message.split("expected ").nth(1))?;
    let options: Vec<&str> = list
        .split(", ")
        .map(|s| s.trim_matches('`').trim())
        .collect();
    did_you_mean(field, options.iter().copied())
}
