//! Compiler diagnostics: a stable code, a message and a position in the scenario file.
//!
//! Diagnostics are plain data so the compiler stays pure; rendering them with source
//! snippets (miette) or as JSON happens at the edge, in `crate::render`.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// How bad a diagnostic is. Errors stop a scenario from being used; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

macro_rules! codes {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        /// Stable diagnostic codes. The strings are part of dialflow's interface:
        /// editors and CI match on them, so they never change meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $(#[doc = $doc] $variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn describe(self) -> &'static str {
                match self { $(Code::$variant => $doc,)* }
            }
        }
    };
}

codes! {
    FileUnreadable = "file-unreadable": "the scenario file (or a file it names) cannot be read",
    YamlSyntax = "yaml-syntax": "the file is not valid YAML",
    YamlSchema = "yaml-schema": "a field is unknown, missing or of the wrong type",
    ExprSyntax = "expr-syntax": "a guard or template does not parse",
    UnknownVariable = "unknown-variable": "an expression names a variable that does not exist",
    TypeMismatch = "type-mismatch": "an expression mixes types, or a guard is not a boolean",
    UnknownFunction = "unknown-function": "an expression calls a function that does not exist",
    BadRegex = "bad-regex": "a `matches` pattern is not a valid regular expression",
    NoVerb = "no-verb": "a node has no verb (play, record, classify, …)",
    SeveralVerbs = "several-verbs": "a node has more than one verb",
    DuplicateName = "duplicate-name": "a node, intent or result is declared twice",
    BadName = "bad-name": "a name is not a valid identifier or is reserved",
    UnknownTarget = "unknown-target": "a route names a node that does not exist",
    UnknownOutcome = "unknown-outcome": "a route is given for an outcome the verb does not have",
    UnroutedOutcome = "unrouted-outcome": "an outcome of a node has no route and no default",
    RouteNotAllowed = "route-not-allowed": "`next`, `else` or `on` is used where the verb has no such outcome",
    UnknownIntent = "unknown-intent": "an intent is used that the scenario does not declare",
    UnknownResult = "unknown-result": "a result is not in the scenario's result vocabulary",
    UnknownStatus = "unknown-status": "a result maps to a panel status that does not exist",
    BadDuration = "bad-duration": "a duration or timeout is malformed or out of range",
    BadValue = "bad-value": "a number or setting is out of its allowed range",
    UnknownRecording = "unknown-recording": "`classify` names a recording that no `record` node makes",
    UnreachableNode = "unreachable-node": "no path from the start reaches this node",
    NeverEnds = "never-ends": "from this node, no path ends the call",
    UnboundedCycle = "unbounded-cycle": "a loop has no node with `max_visits` to bound it",
    UnknownQueue = "unknown-queue": "`connect_agent` names a queue dialflow's configuration does not define",
    UnknownPrompt = "unknown-prompt": "a prompt has no audio file in the scenario's prompt set",
    MissingPromptSet = "missing-prompt-set": "the scenario's prompt set folder does not exist",
    BadPromptAudio = "bad-prompt-audio": "a prompt file is not an 8 kHz mono 16-bit WAV",
    HookSyntax = "hook-syntax": "a Rhai hook does not compile",
    HookMissingFunction = "hook-missing-function": "a hook names a function its script does not define",
    BadTest = "bad-test": "a test case of the scenario is malformed or names something that does not exist",
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A byte range in one source file, with its 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: u32,
    pub column: u32,
    #[serde(skip)]
    pub bytes: Range<usize>,
}

/// One problem found by the compiler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// The file the position refers to (the scenario, or a hook script it names).
    pub file: String,
    #[serde(flatten)]
    pub position: Position,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}[{}]: {}",
            self.file, self.position.line, self.position.column, self.code, self.message
        )
    }
}

/// Line-start index of a source text, to turn (line, column) into byte offsets and back.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub name: String,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// Byte offset of a 1-based line and character column, clamped to the text.
    pub fn offset_of(&self, line: u32, column: u32) -> usize {
        let Some(&start) = self.line_starts.get((line.max(1) - 1) as usize) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        let line_text = rest.split('\n').next().unwrap_or("");
        let skip = column.max(1) as usize - 1;
        let within = line_text
            .char_indices()
            .nth(skip)
            .map_or(line_text.len(), |(i, _)| i);
        start + within
    }

    /// 1-based line and character column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line_idx = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line_idx];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        (line_idx as u32 + 1, column as u32)
    }

    pub fn position(&self, bytes: Range<usize>) -> Position {
        let start = bytes.start.min(self.text.len());
        let end = bytes.end.clamp(start, self.text.len());
        let (line, column) = self.line_col(start);
        Position {
            line,
            column,
            bytes: start..end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_offsets_and_lines() {
        let src = SourceText::new("x.yaml", "ab\nçd\n\nz");
        assert_eq!(src.offset_of(1, 1), 0);
        assert_eq!(src.offset_of(2, 2), 5);
        assert_eq!(src.line_col(5), (2, 2));
        assert_eq!(src.offset_of(4, 1), 8);
        assert_eq!(src.offset_of(9, 1), 9);
        assert_eq!(src.line_col(9), (4, 2));
    }

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
