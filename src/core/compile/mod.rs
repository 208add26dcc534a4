//! The scenario compiler: YAML text (plus what the environment says about prompt files
//! and hook scripts) in, a validated [`Scenario`] and every diagnostic out.
//!
//! Pure: the caller reads the files (see `crate::load`) and hands their contents in an
//! [`Environment`]. Compilation never stops at the first problem: the YAML is parsed
//! node by node so that a typo in one node does not hide the mistakes in the others.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};

mod test_cases;

use crate::core::analysis;
use crate::core::diagnostic::{Code, Diagnostic, Severity, SourceText};
use crate::core::expr::{self, ExprError, ExprErrorKind, Scope, Type, VarPath};
use crate::core::hooks;
use crate::core::scenario::*;
use crate::core::source::*;

/// What the compiler may know about the world outside the scenario file.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    /// The prompt set's audio files; `None` skips the prompt checks (`--no-environment`).
    pub prompts: Option<PromptCatalog>,
    /// Hook scripts by the path written in the scenario: their text, or why it cannot be read.
    pub scripts: BTreeMap<String, Result<String, String>>,
}

#[derive(Debug, Default, Clone)]
pub struct PromptCatalog {
    /// The folder looked in, for messages.
    pub dir: String,
    pub exists: bool,
    /// Prompt name → audio length in milliseconds, or why the file is unusable.
    pub files: BTreeMap<String, Result<u64, String>>,
}

/// Everything compilation produced.
#[derive(Debug)]
pub struct Compiled {
    /// Present only when there is no error (warnings allowed).
    pub scenario: Option<Arc<Scenario>>,
    pub diagnostics: Vec<Diagnostic>,
    /// The scenario text and any hook scripts the diagnostics point into.
    pub sources: Vec<SourceText>,
}

impl Compiled {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Files a scenario refers to, so the caller can read them before [`compile`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct References {
    pub prompt_set: Option<String>,
    pub scripts: Vec<String>,
}

/// Finds the prompt set and hook scripts a scenario names, as far as its text parses.
pub fn references(text: &str) -> References {
    let mut refs = References::default();
    if let Ok(full) =
        serde_saphyr::from_str_with_options::<ScenarioSrc<NodeSrc>>(text, yaml_options())
    {
        refs.prompt_set = Some(full.prompts.value.clone());
        for (_, node) in full.nodes.value.0 {
            let post = node
                .classify
                .and_then(|c| c.value)
                .and_then(|c| c.post)
                .and_then(|p| p.value.script);
            for script in node
                .hook
                .and_then(|h| h.value.script)
                .into_iter()
                .chain(post)
            {
                if !refs.scripts.contains(&script.value) {
                    refs.scripts.push(script.value);
                }
            }
        }
        return refs;
    }
    if let Ok(header) = parse_header(text) {
        refs.prompt_set = Some(header.prompts.value.clone());
        for i in 0..header.nodes.value.0.len() {
            if let Ok(node) = parse_node(text, i)
                && let Some(script) = node.hook.and_then(|h| h.value.script)
                && !refs.scripts.contains(&script.value)
            {
                refs.scripts.push(script.value);
            }
        }
    }
    refs
}

/// Compiles one scenario file.
pub fn compile(source: SourceText, env: &Environment) -> Compiled {
    let mut cx = Cx {
        src: &source,
        diags: Vec::new(),
        extra_sources: Vec::new(),
    };
    let scenario = cx.compile_all(env);
    let mut diagnostics = cx.diags;
    let extra = cx.extra_sources;
    diagnostics.sort_by(|a, b| {
        (
            a.file != source.name,
            &a.file,
            a.position.bytes.start,
            a.code.as_str(),
        )
            .cmp(&(
                b.file != source.name,
                &b.file,
                b.position.bytes.start,
                b.code.as_str(),
            ))
    });
    diagnostics.dedup();
    let has_errors = diagnostics.iter().any(Diagnostic::is_error);
    let mut sources = vec![source];
    sources.extend(extra);
    Compiled {
        scenario: if has_errors {
            None
        } else {
            scenario.map(Arc::new)
        },
        diagnostics,
        sources,
    }
}

// ---------------------------------------------------------------------------------------
// Parsing: the header once, then each node on its own.

type Header = ScenarioSrc<IgnoredAny>;

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // YAML 1.2 booleans only: `yes` and `no` are intents and prompt names, not booleans.
    options.strict_booleans = true;
    // Repeated keys reach our own visitors, which report them as duplicate nodes,
    // results or routes with both places, instead of a generic YAML error.
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options
}

fn parse_header(text: &str) -> Result<Header, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, yaml_options())
}

/// Parses the `index`-th entry of `nodes:` and skips everything else, so its errors
/// carry their true positions in the file.
fn parse_node(text: &str, index: usize) -> Result<NodeSrc, serde_saphyr::Error> {
    serde_saphyr::with_deserializer_from_str_with_options(text, yaml_options(), |d| {
        FocusRoot { index }
            .deserialize(d)?
            .ok_or_else(|| de::Error::custom("node not found"))
    })
}

struct FocusRoot {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for FocusRoot {
    type Value = Option<NodeSrc>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FocusRoot {
    type Value = Option<NodeSrc>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a scenario mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "nodes" {
                found = map.next_value_seed(FocusNodes { index: self.index })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct FocusNodes {
    index: usize,
}

impl<'de> DeserializeSeed<'de> for FocusNodes {
    type Value = Option<NodeSrc>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FocusNodes {
    type Value = Option<NodeSrc>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a mapping of node names to nodes")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        let mut i = 0;
        while map.next_key::<IgnoredAny>()?.is_some() {
            if i == self.index {
                found = Some(map.next_value::<NodeSrc>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            i += 1;
        }
        Ok(found)
    }
}

// ---------------------------------------------------------------------------------------
// The compile context: positions and diagnostics.

struct Cx<'a> {
    src: &'a SourceText,
    diags: Vec<Diagnostic>,
    extra_sources: Vec<SourceText>,
}

/// Outcome names that a scenario-level `defaults:` entry or an `on:` key may use.
const FIXED_OUTCOMES: &[&str] = &[
    "finished",
    "hangup",
    "failed",
    "silence",
    "empty",
    "quota",
    "else",
    "digits",
    "timeout",
    "bridged",
    "busy",
    "no_answer",
    "customer_hangup",
    "human",
    "machine",
    "notsure",
    "next",
    "exhausted",
    "unknown",
];

const RESERVED_NODE_NAMES: &[&str] = &["end", "default"];

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
    fn span2(&self, inner: &Location, outer: &Location) -> Range<usize> {
        self.bytes_of(inner)
            .or_else(|| self.bytes_of(outer))
            .unwrap_or(0..0)
    }

    fn span(&self, loc: &Location) -> Range<usize> {
        self.bytes_of(loc).unwrap_or(0..0)
    }

    fn push(
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

    fn error(&mut self, code: Code, bytes: Range<usize>, message: impl Into<String>) {
        self.push(Severity::Error, code, bytes, message.into(), None);
    }

    fn error_help(
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

    fn yaml_error(&mut self, err: &serde_saphyr::Error) {
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

    fn expr_errors(&mut self, scalar: &Spanned<String>, outer: &Location, errors: Vec<ExprError>) {
        for err in errors {
            let bytes = self.expr_span(scalar, outer, &err.span);
            let code = match err.kind {
                ExprErrorKind::Syntax => Code::ExprSyntax,
                ExprErrorKind::UnknownVariable => Code::UnknownVariable,
                ExprErrorKind::TypeMismatch => Code::TypeMismatch,
                ExprErrorKind::UnknownFunction => Code::UnknownFunction,
                ExprErrorKind::BadRegex => Code::BadRegex,
            };
            // Literals checked against declarations are about intents or results.
            let code = if code == Code::TypeMismatch
                && err.message.contains("is not a declared intent")
            {
                Code::UnknownIntent
            } else if code == Code::TypeMismatch && err.message.contains("is not a known result") {
                Code::UnknownResult
            } else {
                code
            };
            self.error(code, bytes, err.message);
        }
    }

    fn duration(
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
            Scalar::Str(s) => expr::parse_duration_ms(s),
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

fn is_syntax_error(err: &serde_saphyr::Error) -> bool {
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

/// The closest candidate, if it is close enough to be a likely typo: a small edit
/// distance, or a shared beginning (`conected` for `connected_to_operator`).
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let edits = strsim::damerau_levenshtein(word, c);
            let close_edit = edits <= 2.max(word.len().min(c.len()) / 3);
            // Compare with the candidate's beginning too, so a misspelt start of a long
            // name still finds it.
            let head: String = c.chars().take(word.chars().count() + 1).collect();
            let similarity =
                strsim::jaro_winkler(word, c).max(strsim::jaro_winkler(word, &head) - 0.02);
            (close_edit, similarity, c)
        })
        .filter(|(close_edit, similarity, _)| *close_edit || *similarity >= 0.9)
        .max_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal))
        .map(|(_, _, c)| c)
}

fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_file_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn is_result_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '*'))
        && name.find('*').is_none_or(|i| i == name.len() - 1)
}

// ---------------------------------------------------------------------------------------
// The semantic passes.

/// A node as far as it parsed, with the location of its name.
struct NodeEntry {
    name: S<String>,
    src: Option<NodeSrc>,
}

/// Variables set by `set` nodes, with the type their value has.
struct VarTypes(HashMap<String, Type>);

struct GuardScope<'a> {
    intents: &'a [String],
    results: &'a ResultTable,
    nodes: &'a HashMap<String, NodeId>,
    vars: &'a VarTypes,
}

impl Scope for GuardScope<'_> {
    fn lookup(&self, path: &VarPath) -> Result<Type, String> {
        let parts: Vec<&str> = path.0.iter().map(String::as_str).collect();
        match parts.as_slice() {
            ["intent" | "transcript" | "digits" | "result"] => Ok(Type::Str),
            ["attempt"] => Ok(Type::Num),
            ["elapsed"] => Ok(Type::Duration),
            ["amd", "status" | "cause"] => Ok(Type::Str),
            ["lead", "name" | "phone" | "timezone"] => Ok(Type::Str),
            ["lead", "custom", _] => Ok(Type::Str),
            ["lead", other] => Err(match closest(other, ["name", "phone", "timezone"]) {
                Some(field) => {
                    format!("unknown lead field `lead.{other}`; did you mean `lead.{field}`?")
                }
                None => format!(
                    "unknown lead field `lead.{other}`: leads have name, phone and timezone; other columns are `lead.custom.{other}`"
                ),
            }),
            ["visits", node] => {
                if self.nodes.contains_key(*node) {
                    Ok(Type::Num)
                } else {
                    let hint = closest(node, self.nodes.keys().map(String::as_str))
                        .map(|c| format!(" (did you mean `visits.{c}`?)"))
                        .unwrap_or_default();
                    Err(format!("`visits.{node}` names no node{hint}"))
                }
            }
            ["vars", name] => self.vars.0.get(*name).cloned().ok_or_else(|| {
                let hint = closest(name, self.vars.0.keys().map(String::as_str))
                    .map(|c| format!(" (did you mean `vars.{c}`?)"))
                    .unwrap_or_default();
                format!("`vars.{name}` is never set by a `set` node{hint}")
            }),
            _ => {
                let known = [
                    "intent",
                    "transcript",
                    "digits",
                    "result",
                    "attempt",
                    "elapsed",
                    "amd.status",
                    "amd.cause",
                    "lead.name",
                    "lead.phone",
                    "lead.timezone",
                ];
                let hint = closest(&path.to_string(), known)
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                Err(format!(
                    "unknown variable `{path}`{hint}; variables are intent, transcript, digits, result, attempt, elapsed, amd.*, lead.*, vars.* and visits.*"
                ))
            }
        }
    }

    fn check_literal(&self, path: &VarPath, literal: &str) -> Result<(), String> {
        match path.to_string().as_str() {
            "intent" if !self.intents.iter().any(|i| i == literal) => {
                let hint = closest(literal, self.intents.iter().map(String::as_str))
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_default();
                Err(format!(
                    "`{literal}` is not a declared intent (declared: {}){hint}",
                    self.intents.join(", ")
                ))
            }
            "result" if !self.results.knows(literal) => {
                Err(format!("`{literal}` is not a known result"))
            }
            "amd.status" if !["HUMAN", "MACHINE", "NOTSURE"].contains(&literal) => Err(format!(
                "`{literal}` is not an AMD status (HUMAN, MACHINE, NOTSURE)"
            )),
            _ => Ok(()),
        }
    }
}

/// A route as written, before its target is resolved.
struct PendingRoute<'a> {
    route: Cow<'a, RouteSrc>,
    outer: &'a Location,
}

impl Cx<'_> {
    fn compile_all(&mut self, env: &Environment) -> Option<Scenario> {
        let text = &self.src.text;
        // Fast path: a file that parses whole needs one pass. Only a file with YAML
        // mistakes is parsed again node by node, to find every mistake.
        if let Ok(full) =
            serde_saphyr::from_str_with_options::<ScenarioSrc<NodeSrc>>(text, yaml_options())
        {
            let (header, nodes) = full.split();
            let nodes = nodes
                .into_iter()
                .map(|(name, src)| NodeEntry {
                    name,
                    src: Some(src),
                })
                .collect();
            return self.semantics(header, nodes, env);
        }
        let header = match parse_header(text) {
            Ok(h) => Some(h),
            Err(err) => {
                self.yaml_error(&err);
                if is_syntax_error(&err) {
                    return None;
                }
                None
            }
        };
        // Node names: from the header, or (when the header failed) from a names-only parse.
        let names: Vec<S<String>> = match &header {
            Some(h) => h.nodes.value.0.iter().map(|(k, _)| k.clone()).collect(),
            None => match serde_saphyr::from_str_with_options::<NamesOnly>(text, yaml_options()) {
                Ok(n) => n.nodes.0.into_iter().map(|(k, _)| k).collect(),
                Err(_) => Vec::new(),
            },
        };
        let mut nodes = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let src = match parse_node(text, i) {
                Ok(n) => Some(n),
                Err(err) => {
                    self.yaml_error(&err);
                    None
                }
            };
            nodes.push(NodeEntry { name, src });
        }
        let header = header?;
        self.semantics(header, nodes, env)
    }

    fn semantics(
        &mut self,
        header: Header,
        nodes: Vec<NodeEntry>,
        env: &Environment,
    ) -> Option<Scenario> {
        // Name and prompt set.
        let name = header.name.value.trim().to_string();
        if name.is_empty() || !is_file_name(&name) {
            self.error(
                Code::BadName,
                self.span(&header.name.referenced),
                format!("scenario name `{name}` must be letters, digits, `_` or `-`"),
            );
        }
        let prompt_set = header.prompts.value.clone();
        if !is_file_name(&prompt_set) {
            self.error(Code::BadName, self.span(&header.prompts.referenced), format!("prompt set `{prompt_set}` must be a folder name under prompts/ (letters, digits, `_` or `-`)"));
        }

        // Intents.
        let mut intents: Vec<String> = Vec::new();
        let mut intent_at: HashMap<String, Range<usize>> = HashMap::new();
        let classify_builtin = ["empty", "failed", "quota", "hangup", "default", "exhausted"];
        let mut intent_rules: Vec<IntentRule> = Vec::new();
        for (intent, rule) in &header.intents.0 {
            let bytes = self.span(&intent.referenced);
            let n = intent.value.as_str();
            if !is_identifier(n) {
                self.error(
                    Code::BadName,
                    bytes,
                    format!("intent `{n}` must be an identifier (letters, digits, `_`)"),
                );
            } else if classify_builtin.contains(&n) {
                self.error(
                    Code::BadName,
                    bytes,
                    format!("intent `{n}` clashes with classify's built-in outcome `{n}`"),
                );
            } else if let Some(first) = intent_at.get(n) {
                let (line, _) = self.src.line_col(first.start);
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("intent `{n}` is declared twice (first on line {line})"),
                );
            } else {
                if let Some(rule) = rule {
                    let mut patterns = Vec::new();
                    for p in &rule.patterns {
                        match regex::RegexBuilder::new(&p.value)
                            .case_insensitive(true)
                            .build()
                        {
                            Ok(re) => patterns.push(re),
                            Err(e) => {
                                let msg = e.to_string();
                                let last = msg.lines().last().unwrap_or("invalid pattern").trim();
                                let last = last.trim_start_matches("error: ");
                                self.error(
                                    Code::BadRegex,
                                    self.span(&p.referenced),
                                    format!("pattern of intent `{n}` is not a regular expression: {last}"),
                                );
                            }
                        }
                    }
                    let keywords = rule
                        .keywords
                        .iter()
                        .map(|k| k.value.clone())
                        .filter(|k| !k.trim().is_empty())
                        .collect();
                    intent_rules.push(IntentRule {
                        intent: n.to_string(),
                        keywords,
                        patterns,
                    });
                }
                intent_at.insert(n.to_string(), bytes);
                if n != "unknown" {
                    intents.push(n.to_string());
                }
            }
        }
        intents.push("unknown".to_string());

        // Results and statuses.
        let mut results = ResultTable::default();
        if let Some(map) = &header.results {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (result, status) in &map.0 {
                let rb = self.span(&result.referenced);
                let r = result.value.as_str();
                if !is_result_name(r) {
                    self.error(Code::BadName, rb.clone(), format!("result `{r}` must be lower-case letters, digits, `_` and `:` (a trailing `*` matches a prefix)"));
                    continue;
                }
                if let Some(first) = seen.get(r) {
                    let (line, _) = self.src.line_col(*first);
                    self.error(
                        Code::DuplicateName,
                        rb,
                        format!("result `{r}` is mapped twice (first on line {line})"),
                    );
                    continue;
                }
                seen.insert(r, rb.start);
                // A bad status is reported once; the result still counts as declared so
                // its uses are not reported again.
                let status_ok = self.check_status(&status.value, &status.referenced);
                results.set(r, if status_ok { &status.value } else { "FAILED" });
            }
        }
        if let Some(list) = &header.transcript_statuses {
            let mut statuses = Vec::new();
            for s in list {
                if self.check_status(&s.value, &s.referenced) {
                    statuses.push(s.value.clone());
                }
            }
            results.transcript_statuses = statuses;
        }

        // Telephony and limits.
        let telephony = self.telephony(header.telephony.as_ref(), &results);
        let limits = self.limits(header.limits.as_ref());

        // Node names and ids.
        let mut ids: HashMap<String, NodeId> = HashMap::new();
        let mut first_at: HashMap<String, usize> = HashMap::new();
        for (i, entry) in nodes.iter().enumerate() {
            let n = entry.name.value.as_str();
            let bytes = self.span(&entry.name.referenced);
            if !is_identifier(n) {
                self.error(Code::BadName, bytes.clone(), format!("node name `{n}` must be an identifier (letters, digits, `_`; not starting with a digit)"));
            } else if RESERVED_NODE_NAMES.contains(&n) {
                self.error(
                    Code::BadName,
                    bytes.clone(),
                    format!("`{n}` is reserved and cannot name a node"),
                );
            } else if let Some(first) = first_at.get(n) {
                let (line, _) = self.src.line_col(*first);
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("node `{n}` is defined twice (first on line {line})"),
                );
                continue;
            }
            first_at.insert(n.to_string(), bytes.start);
            ids.insert(n.to_string(), NodeId(i as u16));
        }
        if nodes.is_empty() {
            self.error(
                Code::YamlSchema,
                self.span(&header.nodes.referenced),
                "a scenario needs at least one node",
            );
            return None;
        }
        if nodes.len() > u16::MAX as usize {
            self.error(
                Code::BadValue,
                self.span(&header.nodes.referenced),
                "a scenario may have at most 65535 nodes",
            );
            return None;
        }
        let start = match &header.start {
            Some(s) => match ids.get(&s.value) {
                Some(id) => *id,
                None => {
                    let help = did_you_mean(&s.value, ids.keys().map(String::as_str));
                    let bytes = self.span(&s.referenced);
                    self.push(
                        Severity::Error,
                        Code::UnknownTarget,
                        bytes,
                        format!("start node `{}` does not exist", s.value),
                        help,
                    );
                    NodeId(0)
                }
            },
            None => NodeId(0),
        };

        // Variables set anywhere, for type-checking guards and templates.
        let vars = self.collect_vars(&nodes);

        // Scenario-level default routes.
        let mut hook_outcomes: HashSet<String> = HashSet::new();
        for entry in &nodes {
            if let Some(h) = entry.src.as_ref().and_then(|n| n.hook.as_ref()) {
                hook_outcomes.extend(
                    h.value
                        .outcomes
                        .iter()
                        .flat_map(|o| o.value.iter())
                        .map(|o| o.value.clone()),
                );
            }
        }
        let mut defaults: Vec<(String, PendingRoute)> = Vec::new();
        if let Some(map) = &header.defaults {
            for (key, route) in &map.0 {
                let k = key.value.as_str();
                if FIXED_OUTCOMES.contains(&k)
                    || intents.iter().any(|i| i == k)
                    || hook_outcomes.contains(k)
                {
                    defaults.push((
                        k.to_string(),
                        PendingRoute {
                            route: Cow::Borrowed(&route.value),
                            outer: &route.referenced,
                        },
                    ));
                } else {
                    let help = did_you_mean(k, FIXED_OUTCOMES.iter().copied());
                    let bytes = self.span(&key.referenced);
                    self.push(
                        Severity::Error,
                        Code::UnknownOutcome,
                        bytes,
                        format!("`{k}` is not an outcome of any verb"),
                        help,
                    );
                }
            }
        }

        // Nodes.
        let mut engine: Option<Arc<rhai::Engine>> = None;
        let mut scripts: HashMap<String, Option<Arc<HookScript>>> = HashMap::new();
        let mut prompt_refs: Vec<(String, Range<usize>)> = Vec::new();
        let record_nodes: HashSet<&str> = nodes
            .iter()
            .filter(|e| e.src.as_ref().is_some_and(|n| n.record.is_some()))
            .map(|e| e.name.value.as_str())
            .collect();
        let scope = GuardScope {
            intents: &intents,
            results: &results,
            nodes: &ids,
            vars: &vars,
        };
        let mut compiled_nodes: Vec<Option<Node>> = Vec::with_capacity(nodes.len());
        for entry in &nodes {
            let Some(src) = &entry.src else {
                compiled_nodes.push(None);
                continue;
            };
            let ctx = NodeCtx {
                name: &entry.name,
                intents: &intents,
                results: &results,
                ids: &ids,
                defaults: &defaults,
                scope: &scope,
                record_nodes: &record_nodes,
            };
            let node = self.node(&ctx, src, env, &mut engine, &mut scripts, &mut prompt_refs);
            compiled_nodes.push(node);
        }

        // Prompts against the environment.
        let prompts =
            self.check_prompts(&prompt_set, &header.prompts.referenced, &prompt_refs, env);

        // Graph checks need every node; a node that did not parse has been reported already.
        let all_nodes: Option<Vec<Node>> = compiled_nodes.into_iter().collect();
        let nodes_compiled = all_nodes?;
        let graph = analysis::build_graph(&nodes_compiled);
        let name_spans: Vec<Range<usize>> = nodes
            .iter()
            .map(|e| self.span(&e.name.referenced))
            .collect();
        // A route that failed to resolve makes its target look unreachable: that warning
        // would only repeat the error.
        let broken_routes = self.diags.iter().any(|d| d.code == Code::UnknownTarget);
        let problems = analysis::check(&nodes_compiled, start, &graph);
        let stuck: HashSet<NodeId> = problems
            .iter()
            .filter_map(|p| match p {
                analysis::Problem::NeverEnds(ids) => Some(ids.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect();
        for problem in problems {
            match &problem {
                analysis::Problem::Unreachable(_) if broken_routes => continue,
                // A second node of the same name is reported as a duplicate already.
                analysis::Problem::Unreachable(id)
                    if ids.get(&nodes_compiled[id.index()].name) != Some(id) =>
                {
                    continue;
                }
                // A loop that cannot end at all is reported once, as never-ends.
                analysis::Problem::UnboundedCycle(ids)
                    if ids.iter().all(|id| stuck.contains(id)) =>
                {
                    continue;
                }
                _ => {}
            }
            let (severity, code, node, message) = match problem {
                analysis::Problem::Unreachable(id) => (
                    Severity::Warning,
                    Code::UnreachableNode,
                    id,
                    format!(
                        "node `{}` is never reached from the start node `{}`",
                        nodes_compiled[id.index()].name,
                        nodes_compiled[start.index()].name
                    ),
                ),
                analysis::Problem::NeverEnds(ids) => (
                    Severity::Error,
                    Code::NeverEnds,
                    ids[0],
                    format!(
                        "no path from {} ends the call (add a route to `end` or a `hangup` node)",
                        name_list(&nodes_compiled, &ids)
                    ),
                ),
                analysis::Problem::UnboundedCycle(ids) => (
                    Severity::Error,
                    Code::UnboundedCycle,
                    ids[0],
                    format!(
                        "the loop through {} can repeat forever: give one of its nodes `max_visits`",
                        name_list(&nodes_compiled, &ids)
                    ),
                ),
            };
            self.push(
                severity,
                code,
                name_spans[node.index()].clone(),
                message,
                None,
            );
        }

        let tests = self.test_cases(
            header.tests.as_ref(),
            &test_cases::TestScope {
                ids: &ids,
                intents: &intents,
                results: &results,
            },
        );
        let hash = content_hash(&self.src.text, &env.scripts, &scripts);
        Some(Scenario {
            name,
            description: header
                .description
                .clone()
                .unwrap_or_default()
                .trim()
                .to_string(),
            file: self.src.name.clone(),
            hash,
            prompt_set,
            language: header.language.as_ref().map(|l| l.value.clone()),
            intents,
            intent_rules: intent_rules.into(),
            results,
            telephony,
            limits,
            nodes: nodes_compiled,
            start,
            prompts,
            graph,
            tests,
        })
    }

    fn check_status(&mut self, status: &str, loc: &Location) -> bool {
        if PANEL_STATUSES.contains(&status) {
            return true;
        }
        let help = did_you_mean(status, PANEL_STATUSES)
            .or_else(|| Some(format!("panel statuses are {}", PANEL_STATUSES.join(", "))));
        self.push(
            Severity::Error,
            Code::UnknownStatus,
            self.span(loc),
            format!("`{status}` is not a panel status"),
            help,
        );
        false
    }

    fn check_result(&mut self, result: &str, results: &ResultTable, bytes: Range<usize>) {
        if results.knows(result) {
            return;
        }
        let exact: Vec<&str> = results
            .entries
            .iter()
            .map(|(r, _)| r.as_str())
            .filter(|r| !r.ends_with('*'))
            .collect();
        let help = did_you_mean(result, exact.iter().copied())
            .unwrap_or_else(|| format!("declare it under `results:` with its panel status, e.g. `results: {{ {result}: UNKNOWN }}`"));
        self.push(
            Severity::Error,
            Code::UnknownResult,
            bytes,
            format!("result `{result}` is not in the scenario's result vocabulary"),
            Some(help),
        );
    }

    fn telephony(&mut self, src: Option<&S<TelephonySrc>>, results: &ResultTable) -> Telephony {
        let mut t = Telephony::default();
        let Some(src) = src else { return t };
        let src = &src.value;
        t.ring_timeout_ms = self.duration(
            "ring_timeout",
            &src.ring_timeout,
            t.ring_timeout_ms,
            1_000,
            600_000,
        );
        t.watchdog_ms = self.duration(
            "watchdog",
            &src.watchdog,
            t.ring_timeout_ms + 30_000,
            1_000,
            3_600_000,
        );
        if let (Some(w), true) = (&src.watchdog, t.watchdog_ms <= t.ring_timeout_ms) {
            self.error(Code::BadDuration, self.span(&w.referenced), "`watchdog` must be longer than `ring_timeout`, or a ringing call would count as lost");
        }
        if let Some(map) = &src.causes {
            for (result, causes) in &map.0 {
                self.check_result(&result.value, results, self.span(&result.referenced));
                for c in causes {
                    if c.value > 127 {
                        self.error(
                            Code::BadValue,
                            self.span(&c.referenced),
                            format!("hangup cause {} is not a Q.850 cause (0–127)", c.value),
                        );
                    }
                }
                let list: Vec<u16> = causes.iter().map(|c| c.value).collect();
                t.causes.retain(|(r, _)| r != &result.value);
                t.causes.push((result.value.clone(), list));
            }
        }
        if let Some(map) = &src.cause_text {
            for (result, texts) in &map.0 {
                self.check_result(&result.value, results, self.span(&result.referenced));
                let list: Vec<String> = texts.iter().map(|c| c.value.to_lowercase()).collect();
                t.cause_text.retain(|(r, _)| r != &result.value);
                t.cause_text.push((result.value.clone(), list));
            }
        }
        t
    }

    fn limits(&mut self, src: Option<&S<LimitsSrc>>) -> Limits {
        let mut l = Limits::default();
        let Some(src) = src else { return l };
        let src = &src.value;
        if let Some(steps) = &src.max_steps {
            if steps.value == 0 || steps.value > 100_000 {
                self.error(
                    Code::BadValue,
                    self.span(&steps.referenced),
                    "`max_steps` must be between 1 and 100000",
                );
            } else {
                l.max_steps = steps.value;
            }
        }
        l.max_duration_ms = self.duration(
            "max_duration",
            &src.max_duration,
            l.max_duration_ms,
            1_000,
            4 * 3_600_000,
        );
        l.prompt_grace_ms = self.duration(
            "prompt_grace",
            &src.prompt_grace,
            l.prompt_grace_ms,
            0,
            600_000,
        );
        l
    }

    fn collect_vars(&mut self, nodes: &[NodeEntry]) -> VarTypes {
        let mut vars: HashMap<String, Type> = HashMap::new();
        for entry in nodes {
            let Some(set) = entry.src.as_ref().and_then(|n| n.set.as_ref()) else {
                continue;
            };
            for (key, value) in &set.value.0 {
                let Some(name) = var_name(&key.value) else {
                    continue;
                };
                let ty = match &value.value {
                    Scalar::Num(_) => Type::Num,
                    Scalar::Bool(_) => Type::Bool,
                    Scalar::Str(s) => match expr::parse_template(s) {
                        Ok(t) => match t.single_expr() {
                            Some(e) => shallow_type(e),
                            None => Type::Str,
                        },
                        Err(_) => Type::Any,
                    },
                };
                match vars.get(name) {
                    Some(prev) if *prev != ty && *prev != Type::Any && ty != Type::Any => {
                        self.error(
                            Code::TypeMismatch,
                            self.span(&value.referenced),
                            format!(
                                "`vars.{name}` is set to a {ty} here but to a {prev} elsewhere"
                            ),
                        );
                    }
                    Some(Type::Any) | None => {
                        vars.insert(name.to_string(), ty);
                    }
                    Some(_) => {}
                }
            }
        }
        VarTypes(vars)
    }

    fn check_prompts(
        &mut self,
        set: &str,
        set_loc: &Location,
        refs: &[(String, Range<usize>)],
        env: &Environment,
    ) -> BTreeMap<String, Option<u64>> {
        let mut prompts: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for (name, bytes) in refs {
            if !is_file_name(name) {
                self.error(Code::BadName, bytes.clone(), format!("prompt name `{name}` must be a file name without folder (letters, digits, `_`, `-`)"));
                continue;
            }
            prompts.insert(name.clone(), None);
        }
        let Some(catalog) = &env.prompts else {
            return prompts;
        };
        if !catalog.exists {
            self.error_help(
                Code::MissingPromptSet,
                self.span(set_loc),
                format!("prompt set `{set}` not found: there is no folder {}", catalog.dir),
                "create the folder with the scenario's WAV prompts, or check without the environment (--no-environment)",
            );
            return prompts;
        }
        let mut reported: HashSet<&str> = HashSet::new();
        for (name, bytes) in refs {
            if !prompts.contains_key(name) {
                continue;
            }
            match catalog.files.get(name) {
                Some(Ok(ms)) => {
                    prompts.insert(name.clone(), Some(*ms));
                }
                Some(Err(why)) => {
                    if reported.insert(name) {
                        self.error(
                            Code::BadPromptAudio,
                            bytes.clone(),
                            format!("prompt `{name}` is unusable: {why}"),
                        );
                    }
                }
                None => {
                    let help = did_you_mean(name, catalog.files.keys().map(String::as_str));
                    self.push(
                        Severity::Error,
                        Code::UnknownPrompt,
                        bytes.clone(),
                        format!(
                            "unknown prompt `{name}`: no file {}/{name}.wav",
                            catalog.dir
                        ),
                        help,
                    );
                }
            }
        }
        prompts
    }
}

/// The type of an expression as far as its shape tells, before variables are known:
/// comparisons are booleans, `len` a number, and so on.
fn shallow_type(e: &expr::Expr) -> Type {
    use expr::{ExprKind, Func};
    match &e.kind {
        ExprKind::Lit(v) => v.type_of(),
        ExprKind::Not(_)
        | ExprKind::And(..)
        | ExprKind::Or(..)
        | ExprKind::Cmp(..)
        | ExprKind::In { .. } => Type::Bool,
        ExprKind::Call(Func::Contains | Func::Matches, ..) => Type::Bool,
        ExprKind::Call(Func::Len, ..) => Type::Num,
        ExprKind::Call(Func::Lower, ..) => Type::Str,
        ExprKind::List(_) | ExprKind::Var(_) => Type::Any,
    }
}

fn name_list(nodes: &[Node], ids: &[NodeId]) -> String {
    ids.iter()
        .map(|id| format!("`{}`", nodes[id.index()].name))
        .collect::<Vec<_>>()
        .join(" → ")
}

fn var_name(key: &str) -> Option<&str> {
    let name = key.strip_prefix("vars.").unwrap_or(key);
    is_identifier(name).then_some(name)
}

fn content_hash(
    text: &str,
    scripts: &BTreeMap<String, Result<String, String>>,
    used: &HashMap<String, Option<Arc<HookScript>>>,
) -> ContentHash {
    let mut hasher = Sha256::new();
    hasher.update(text.as_bytes());
    for (path, body) in scripts {
        if let (true, Ok(body)) = (used.contains_key(path), body) {
            hasher.update([0u8]);
            hasher.update(path.as_bytes());
            hasher.update([0u8]);
            hasher.update(body.as_bytes());
        }
    }
    ContentHash(hex::encode(hasher.finalize()))
}

/// Node names only, for when the header itself does not parse.
#[derive(serde::Deserialize)]
struct NamesOnly {
    nodes: OrderedMap<IgnoredAny>,
}

struct NodeCtx<'a> {
    name: &'a S<String>,
    intents: &'a [String],
    results: &'a ResultTable,
    ids: &'a HashMap<String, NodeId>,
    defaults: &'a [(String, PendingRoute<'a>)],
    scope: &'a GuardScope<'a>,
    record_nodes: &'a HashSet<&'a str>,
}

impl Cx<'_> {
    fn node(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        env: &Environment,
        engine: &mut Option<Arc<rhai::Engine>>,
        scripts: &mut HashMap<String, Option<Arc<HookScript>>>,
        prompt_refs: &mut Vec<(String, Range<usize>)>,
    ) -> Option<Node> {
        let node_bytes = self.span(&ctx.name.referenced);
        let node_name = ctx.name.value.as_str();
        let present: Vec<&str> = [
            ("play", src.play.is_some()),
            ("record", src.record.is_some()),
            ("classify", src.classify.is_some()),
            ("branch", src.branch.is_some()),
            ("gather", src.gather.is_some()),
            ("originate_operator", src.originate_operator.is_some()),
            ("amd", src.amd.is_some()),
            ("voicemail_drop", src.voicemail_drop.is_some()),
            ("set", src.set.is_some()),
            ("hook", src.hook.is_some()),
            ("wait", src.wait.is_some()),
            ("hangup", src.hangup.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.then_some(k))
        .collect();
        match present.len() {
            0 => {
                self.error_help(
                    Code::NoVerb,
                    node_bytes,
                    format!("node `{node_name}` has no verb"),
                    "give it one of play, record, classify, branch, gather, originate_operator, amd, voicemail_drop, set, hook, wait, hangup",
                );
                return None;
            }
            1 => {}
            _ => {
                self.error_help(
                    Code::SeveralVerbs,
                    node_bytes,
                    format!(
                        "node `{node_name}` has several verbs: {}",
                        present.join(", ")
                    ),
                    "a node does one thing; split it into several nodes joined by `next`",
                );
                return None;
            }
        }

        let mut prompt = |cx: &mut Cx, p: &S<String>, outer: &Location| {
            prompt_refs.push((p.value.clone(), cx.span2(&p.referenced, outer)));
            p.value.clone()
        };

        let mut cases_src: Vec<&S<CaseSrc>> = Vec::new();
        let verb = if let Some(play) = &src.play {
            let prompts: Vec<String> = play
                .value
                .0
                .iter()
                .map(|p| prompt(self, p, &play.referenced))
                .collect();
            if prompts.is_empty() {
                self.error(
                    Code::BadValue,
                    self.span(&play.referenced),
                    "`play` needs at least one prompt",
                );
            }
            Verb::Play { prompts }
        } else if let Some(record) = &src.record {
            let r = record.value.as_ref();
            let max_duration_ms = self.duration(
                "max_duration",
                &r.and_then(|r| r.max_duration.clone()),
                10_000,
                500,
                600_000,
            );
            let max_silence_ms = self.duration(
                "max_silence",
                &r.and_then(|r| r.max_silence.clone()),
                2_000,
                0,
                60_000,
            );
            let beep = r.and_then(|r| r.beep.as_ref()).is_some_and(|b| b.value);
            Verb::Record {
                max_duration_ms,
                max_silence_ms,
                beep,
            }
        } else if let Some(classify) = &src.classify {
            let c = classify.value.as_ref();
            let recording = match c.and_then(|c| c.recording.as_ref()) {
                Some(r) => {
                    if ctx.record_nodes.contains(r.value.as_str()) {
                        ctx.ids.get(&r.value).copied()
                    } else {
                        let help = did_you_mean(&r.value, ctx.record_nodes.iter().copied());
                        let msg = if ctx.ids.contains_key(&r.value) {
                            format!(
                                "`{}` is not a `record` node, so it makes no recording",
                                r.value
                            )
                        } else {
                            format!("no `record` node is called `{}`", r.value)
                        };
                        self.push(
                            Severity::Error,
                            Code::UnknownRecording,
                            self.span(&r.referenced),
                            msg,
                            help,
                        );
                        None
                    }
                }
                None => {
                    if ctx.record_nodes.is_empty() {
                        self.error(Code::UnknownRecording, node_bytes.clone(), format!("node `{node_name}` classifies a recording, but no `record` node makes one"));
                    }
                    None
                }
            };
            let filler = c
                .and_then(|c| c.filler.as_ref())
                .map(|f| prompt(self, f, &classify.referenced));
            let timeout_ms = self.duration(
                "timeout",
                &c.and_then(|c| c.timeout.clone()),
                10_000,
                500,
                120_000,
            );
            let post = match c.and_then(|c| c.post.as_ref()) {
                Some(hook) => {
                    if let Some(o) = &hook.value.outcomes {
                        self.error(
                            Code::BadValue,
                            self.span(&o.referenced),
                            "a classify `post` hook returns an intent name; it has no `outcomes`",
                        );
                    }
                    Some(self.hook_script(node_name, hook, env, engine, scripts))
                }
                None => None,
            };
            Verb::Classify {
                recording,
                filler,
                timeout_ms,
                post,
            }
        } else if let Some(branch) = &src.branch {
            let mut cases = Vec::new();
            if branch.value.is_empty() {
                self.error(
                    Code::BadValue,
                    self.span(&branch.referenced),
                    "`branch` needs at least one `when:` case",
                );
            }
            for case in &branch.value {
                cases_src.push(case);
                let when = &case.value.when;
                match expr::parse_guard(&when.value) {
                    Ok(mut guard) => {
                        let mut errors = Vec::new();
                        let ty = expr::check(&mut guard, ctx.scope, &mut errors);
                        if let Some(ty) = ty
                            && ty != Type::Bool
                            && ty != Type::Any
                        {
                            errors.push(ExprError {
                                span: 0..when.value.len(),
                                message: format!(
                                    "a `when:` guard must be true or false, but this is a {ty}"
                                ),
                                kind: ExprErrorKind::TypeMismatch,
                            });
                        }
                        self.expr_errors(when, &case.referenced, errors);
                        cases.push(Case {
                            source: when.value.clone(),
                            guard,
                        });
                    }
                    Err(err) => self.expr_errors(when, &case.referenced, vec![err]),
                }
            }
            Verb::Branch { cases }
        } else if let Some(gather) = &src.gather {
            let g = gather.value.as_ref();
            let prompt_name = g
                .and_then(|g| g.prompt.as_ref())
                .map(|p| prompt(self, p, &gather.referenced));
            let max_digits = match g.and_then(|g| g.max_digits.as_ref()) {
                Some(m) if m.value == 0 || m.value > 64 => {
                    self.error(
                        Code::BadValue,
                        self.span(&m.referenced),
                        "`max_digits` must be between 1 and 64",
                    );
                    1
                }
                Some(m) => m.value,
                None => 1,
            };
            let terminator = match g.and_then(|g| g.terminator.as_ref()) {
                Some(t) => {
                    let mut chars = t.value.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None)
                            if c.is_ascii_digit() || matches!(c, '#' | '*' | 'A'..='D') =>
                        {
                            Some(c)
                        }
                        _ => {
                            self.error(Code::BadValue, self.span(&t.referenced), format!("`terminator` must be one DTMF key (0-9, *, #, A-D), found `{}`", t.value));
                            None
                        }
                    }
                }
                None => None,
            };
            let timeout_ms = self.duration(
                "timeout",
                &g.and_then(|g| g.timeout.clone()),
                5_000,
                500,
                120_000,
            );
            let digit_timeout_ms = self.duration(
                "digit_timeout",
                &g.and_then(|g| g.digit_timeout.clone()),
                3_000,
                200,
                60_000,
            );
            Verb::Gather {
                prompt: prompt_name,
                max_digits,
                terminator,
                timeout_ms,
                digit_timeout_ms,
            }
        } else if let Some(op) = &src.originate_operator {
            let o = &op.value;
            for (field, v) in [
                ("operator", Some(&o.operator)),
                ("caller_id", o.caller_id.as_ref()),
            ] {
                if let Some(v) = v
                    && !is_file_name(&v.value)
                {
                    self.error_help(
                        Code::BadName,
                        self.span(&v.referenced),
                        format!("`{field}` must be a logical name from dialflow's configuration, found `{}`", v.value),
                        "endpoints, trunks and caller ids live in dialflow.yaml so one scenario runs unchanged everywhere",
                    );
                }
            }
            let hold = o.hold.as_ref().map(|h| prompt(self, h, &op.referenced));
            let timeout_ms = self.duration("timeout", &o.timeout, 30_000, 1_000, 600_000);
            Verb::OriginateOperator {
                operator: o.operator.value.clone(),
                caller_id: o.caller_id.as_ref().map(|c| c.value.clone()),
                timeout_ms,
                hold,
            }
        } else if let Some(amd) = &src.amd {
            let timeout_ms = self.duration(
                "timeout",
                &amd.value.as_ref().and_then(|a| a.timeout.clone()),
                30_000,
                1_000,
                120_000,
            );
            Verb::Amd { timeout_ms }
        } else if let Some(vm) = &src.voicemail_drop {
            Verb::VoicemailDrop {
                prompt: prompt(self, &vm.value.prompt, &vm.referenced),
            }
        } else if let Some(set) = &src.set {
            let mut assignments = Vec::new();
            if set.value.0.is_empty() {
                self.error(
                    Code::BadValue,
                    self.span(&set.referenced),
                    "`set` needs at least one variable",
                );
            }
            for (key, value) in &set.value.0 {
                let Some(name) = var_name(&key.value) else {
                    self.error(Code::BadName, self.span(&key.referenced), format!("`{}` cannot be set: `set` writes variables such as `offer` (read back as `vars.offer`)", key.value));
                    continue;
                };
                let text = match &value.value {
                    Scalar::Str(s) => s.clone(),
                    other => format!("{{{{ {other} }}}}"),
                };
                match expr::parse_template(&text) {
                    Ok(mut template) => {
                        let mut errors = Vec::new();
                        for part in &mut template.parts {
                            if let expr::TemplatePart::Expr(e) = part {
                                expr::check(e, ctx.scope, &mut errors);
                            }
                        }
                        let scalar = Spanned {
                            value: text.clone(),
                            referenced: value.referenced,
                            defined: value.defined,
                        };
                        self.expr_errors(&scalar, &value.referenced, errors);
                        assignments
                            .push((VarPath(vec!["vars".into(), name.to_string()]), template));
                    }
                    Err(err) => {
                        let scalar = Spanned {
                            value: text.clone(),
                            referenced: value.referenced,
                            defined: value.defined,
                        };
                        self.expr_errors(&scalar, &value.referenced, vec![err]);
                    }
                }
            }
            Verb::Set { assignments }
        } else if let Some(hook) = &src.hook {
            self.hook(ctx, hook, env, engine, scripts)?
        } else if let Some(wait) = &src.wait {
            match &wait.value {
                Scalar::Str(s) if s == "hangup" => Verb::Wait { duration_ms: None },
                _ => Verb::Wait {
                    duration_ms: Some(self.duration(
                        "wait",
                        &Some(wait.clone()),
                        1_000,
                        1,
                        3_600_000,
                    )),
                },
            }
        } else {
            Verb::Hangup
        };

        // Common fields.
        if let Some(r) = &src.set_result {
            self.check_result(&r.value, ctx.results, self.span(&r.referenced));
        }
        let max_visits = match &src.max_visits {
            Some(m) if verb.is_terminal() => {
                self.error(
                    Code::BadValue,
                    self.span(&m.referenced),
                    format!(
                        "`max_visits` has no effect on a `{}` node: it ends the call",
                        verb.keyword()
                    ),
                );
                None
            }
            Some(m) if m.value == 0 => {
                self.error(
                    Code::BadValue,
                    self.span(&m.referenced),
                    "`max_visits` must be at least 1",
                );
                None
            }
            Some(m) => Some(m.value),
            None => None,
        };

        let routes = self.routes(
            ctx,
            src,
            &verb,
            &cases_src,
            max_visits.is_some(),
            &node_bytes,
        );
        Some(Node {
            name: node_name.to_string(),
            description: src.description.clone(),
            verb,
            set_result: src.set_result.as_ref().map(|r| r.value.clone()),
            report: src.report.as_ref().is_some_and(|r| r.value),
            max_visits,
            routes,
        })
    }

    fn hook(
        &mut self,
        ctx: &NodeCtx,
        hook: &S<HookSrc>,
        env: &Environment,
        engine: &mut Option<Arc<rhai::Engine>>,
        scripts: &mut HashMap<String, Option<Arc<HookScript>>>,
    ) -> Option<Verb> {
        let h = &hook.value;
        let mut outcomes: Vec<String> = Vec::new();
        let declared: &[S<String>] = h.outcomes.as_ref().map_or(&[], |o| o.value.as_slice());
        for o in declared {
            let bytes = self.span(&o.referenced);
            if !is_identifier(&o.value)
                || ["failed", "default", "exhausted"].contains(&o.value.as_str())
            {
                self.error(Code::BadName, bytes, format!("hook outcome `{}` must be an identifier other than failed, default and exhausted", o.value));
            } else if outcomes.contains(&o.value) {
                self.error(
                    Code::DuplicateName,
                    bytes,
                    format!("hook outcome `{}` is listed twice", o.value),
                );
            } else {
                outcomes.push(o.value.clone());
            }
        }
        if declared.is_empty() {
            let at = h
                .outcomes
                .as_ref()
                .map_or(hook.referenced, |o| o.referenced);
            self.error(
                Code::BadValue,
                self.span(&at),
                "a hook needs at least one outcome (`outcomes: [...]`)",
            );
        }
        let (script, function) =
            self.hook_script(ctx.name.value.as_str(), hook, env, engine, scripts);
        Some(Verb::Hook {
            script,
            function,
            outcomes,
        })
    }

    /// Compiles the Rhai script of a hook (file or inline) and checks its function.
    fn hook_script(
        &mut self,
        node_name: &str,
        hook: &S<HookSrc>,
        env: &Environment,
        engine: &mut Option<Arc<rhai::Engine>>,
        scripts: &mut HashMap<String, Option<Arc<HookScript>>>,
    ) -> (Arc<HookScript>, String) {
        let h = &hook.value;
        let script = match (&h.script, &h.code) {
            (Some(path), None) => {
                let key = path.value.clone();
                if let Some(done) = scripts.get(&key) {
                    done.clone()
                } else {
                    let compiled = match env.scripts.get(&key) {
                        Some(Ok(text)) => {
                            let display = script_display_name(&self.src.name, &key);
                            let script_src = SourceText::new(display.clone(), text.clone());
                            match hooks::compile(
                                engine.get_or_insert_with(|| Arc::new(hooks::engine())),
                                text,
                            ) {
                                Ok(ast) => Some(Arc::new(HookScript {
                                    origin: display,
                                    ast,
                                    engine: engine
                                        .clone()
                                        .unwrap_or_else(|| Arc::new(hooks::engine())),
                                })),
                                Err(err) => {
                                    let offset = script_src
                                        .offset_of(err.line.unwrap_or(1), err.column.unwrap_or(1));
                                    let position = script_src.position(offset..offset + 1);
                                    self.diags.push(Diagnostic {
                                        severity: Severity::Error,
                                        code: Code::HookSyntax,
                                        file: display,
                                        position,
                                        message: format!(
                                            "hook script does not compile: {}",
                                            err.message
                                        ),
                                        help: None,
                                    });
                                    self.extra_sources.push(script_src);
                                    None
                                }
                            }
                        }
                        Some(Err(why)) => {
                            self.error(
                                Code::FileUnreadable,
                                self.span(&path.referenced),
                                format!("cannot read hook script `{key}`: {why}"),
                            );
                            None
                        }
                        None => None, // Environment checks are off: the script is not looked at.
                    };
                    scripts.insert(key, compiled.clone());
                    compiled
                }
            }
            (None, Some(code)) => {
                match hooks::compile(
                    engine.get_or_insert_with(|| Arc::new(hooks::engine())),
                    &code.value,
                ) {
                    Ok(ast) => Some(Arc::new(HookScript {
                        origin: format!("<inline hook of node {node_name}>"),
                        ast,
                        engine: engine.clone().unwrap_or_else(|| Arc::new(hooks::engine())),
                    })),
                    Err(err) => {
                        let bytes = self.hook_code_position(code, err.line, err.column);
                        self.error(
                            Code::HookSyntax,
                            bytes,
                            format!("hook code does not compile: {}", err.message),
                        );
                        None
                    }
                }
            }
            (Some(_), Some(code)) => {
                self.error(
                    Code::YamlSchema,
                    self.span(&code.referenced),
                    "a hook has either `script` or `code`, not both",
                );
                None
            }
            (None, None) => {
                self.error(
                    Code::YamlSchema,
                    self.span(&hook.referenced),
                    "a hook needs `script: file.rhai` or inline `code:`",
                );
                None
            }
        };
        let function = h.function.value.clone();
        if let Some(script) = &script {
            let arities = hooks::function_arities(&script.ast, &function);
            if !arities.iter().any(|&a| a <= 1) {
                let names: Vec<&str> = script.ast.iter_functions().map(|f| f.name).collect();
                let help = did_you_mean(&function, names.iter().copied()).unwrap_or_else(|| {
                    "define it as `fn name(ctx) { … }` returning an outcome name".into()
                });
                let msg = if arities.is_empty() {
                    format!(
                        "hook function `{function}` is not defined in {}",
                        script.origin
                    )
                } else {
                    format!(
                        "hook function `{function}` must take one argument (the call's data), not {}",
                        arities[0]
                    )
                };
                self.push(
                    Severity::Error,
                    Code::HookMissingFunction,
                    self.span(&h.function.referenced),
                    msg,
                    Some(help),
                );
            }
        }
        // Without the environment a script file is not read; keep an empty placeholder AST.
        let script = script.unwrap_or_else(|| {
            Arc::new(HookScript {
                origin: h
                    .script
                    .as_ref()
                    .map_or_else(|| "<inline>".into(), |s| s.value.clone()),
                ast: rhai::AST::empty(),
                engine: engine.clone().unwrap_or_else(|| Arc::new(hooks::engine())),
            })
        });
        (script, function)
    }

    /// Where a Rhai error inside inline `code:` is in the file: exact for plain,
    /// double-quoted (escapes walked) and block (`|`) scalars.
    fn hook_code_position(
        &self,
        code: &S<String>,
        line: Option<u32>,
        column: Option<u32>,
    ) -> Range<usize> {
        let whole = self.span(&code.referenced);
        let (Some(line), column) = (line, column.unwrap_or(1)) else {
            return whole;
        };
        let text = &self.src.text;
        let value = code.value.as_str();
        let within = SourceText::new("", value).offset_of(line, column);
        let at = |offset: usize| offset..(offset + 1).min(text.len()).max(offset);
        // Plain and single-line scalars appear verbatim.
        for start in [whole.start, whole.start + 1] {
            if text.get(start..start + value.len()) == Some(value) {
                return at(start + within);
            }
        }
        match text.as_bytes().get(whole.start) {
            Some(b'"') => {
                // Walk the quoted text: each escape is several source bytes for one char.
                let mut src_i = whole.start + 1;
                let mut val_i = 0;
                let bytes = text.as_bytes();
                while val_i < within && src_i < text.len() {
                    let step = if bytes[src_i] == b'\\' {
                        match bytes.get(src_i + 1) {
                            Some(b'x') => 4,
                            Some(b'u') => 6,
                            Some(b'U') => 10,
                            _ => 2,
                        }
                    } else {
                        text[src_i..].chars().next().map_or(1, char::len_utf8)
                    };
                    let produced = if bytes[src_i] == b'\\' { 1 } else { step };
                    src_i += step;
                    val_i += produced;
                }
                at(src_i)
            }
            Some(b'|' | b'>') => {
                let (scalar_line, _) = self.src.line_col(whole.start);
                self.block_position(scalar_line + 1, line, column)
            }
            _ => {
                // The span starts at the block's first content line.
                let (first_line, _) = self.src.line_col(whole.start);
                self.block_position(first_line, line, column)
            }
        }
    }

    /// Line `line`, column `column` of a block scalar whose content starts on `first_line`;
    /// columns count from the block's indentation.
    fn block_position(&self, first_line: u32, line: u32, column: u32) -> Range<usize> {
        let first = self.src.offset_of(first_line, 1);
        let indent = self.src.text[first..]
            .chars()
            .take_while(|c| *c == ' ')
            .count() as u32;
        let offset = self.src.offset_of(first_line + line - 1, indent + column);
        offset..(offset + 1).min(self.src.text.len()).max(offset)
    }

    fn routes(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        verb: &Verb,
        cases: &[&S<CaseSrc>],
        bounded: bool,
        node_bytes: &Range<usize>,
    ) -> Vec<(Outcome, Route)> {
        let node_name = ctx.name.value.as_str();
        let mut outcomes: Vec<Outcome> = match verb {
            Verb::Play { .. } => vec![Outcome::Finished, Outcome::Hangup, Outcome::Failed],
            Verb::Record { .. } => vec![
                Outcome::Finished,
                Outcome::Silence,
                Outcome::Hangup,
                Outcome::Failed,
            ],
            Verb::Classify { .. } => {
                let mut o: Vec<Outcome> = ctx
                    .intents
                    .iter()
                    .map(|i| Outcome::Intent(i.clone()))
                    .collect();
                o.extend([
                    Outcome::Empty,
                    Outcome::Failed,
                    Outcome::Quota,
                    Outcome::Hangup,
                ]);
                o
            }
            Verb::Branch { .. } => {
                let mut o: Vec<Outcome> =
                    (0..cases.len()).map(|i| Outcome::Case(i as u16)).collect();
                o.push(Outcome::Else);
                o
            }
            Verb::Gather { .. } => vec![Outcome::Digits, Outcome::Timeout, Outcome::Hangup],
            Verb::OriginateOperator { .. } => vec![
                Outcome::Bridged,
                Outcome::Busy,
                Outcome::NoAnswer,
                Outcome::Failed,
                Outcome::CustomerHangup,
            ],
            Verb::Amd { .. } => vec![
                Outcome::Human,
                Outcome::Machine,
                Outcome::NotSure,
                Outcome::Hangup,
            ],
            Verb::VoicemailDrop { .. } | Verb::Hangup => vec![],
            Verb::Set { .. } => vec![Outcome::Next],
            Verb::Hook { outcomes, .. } => {
                let mut o: Vec<Outcome> =
                    outcomes.iter().map(|n| Outcome::Hook(n.clone())).collect();
                o.push(Outcome::Failed);
                o
            }
            Verb::Wait {
                duration_ms: Some(_),
            } => vec![Outcome::Finished, Outcome::Hangup],
            Verb::Wait { duration_ms: None } => vec![Outcome::Hangup],
        };
        if bounded {
            outcomes.push(Outcome::Exhausted);
        }
        let primary = match verb {
            Verb::Play { .. }
            | Verb::Record { .. }
            | Verb::Wait {
                duration_ms: Some(_),
            } => Some(Outcome::Finished),
            Verb::Set { .. } => Some(Outcome::Next),
            Verb::Gather { .. } => Some(Outcome::Digits),
            Verb::OriginateOperator { .. } => Some(Outcome::Bridged),
            _ => None,
        };

        let mut chosen: Vec<(Outcome, PendingRoute, &Location)> = Vec::new();
        let verb_word = verb.keyword();

        if verb.is_terminal() {
            for (field, loc) in [
                ("next", src.next.as_ref().map(|n| &n.referenced)),
                ("else", src.otherwise.as_ref().map(|n| &n.referenced)),
            ] {
                if let Some(loc) = loc {
                    self.error(Code::RouteNotAllowed, self.span(loc), format!("`{verb_word}` ends the call, so node `{node_name}` cannot have `{field}`"));
                }
            }
            if let Some(on) = &src.on {
                for (key, _) in &on.0 {
                    self.error(Code::RouteNotAllowed, self.span(&key.referenced), format!("`{verb_word}` ends the call, so node `{node_name}` has no outcome `{}` to route", key.value));
                }
            }
            return Vec::new();
        }

        if let Some(next) = &src.next {
            match &primary {
                Some(p) => chosen.push((p.clone(), PendingRoute { route: Cow::Borrowed(&next.value), outer: &next.referenced }, &next.referenced)),
                None => self.error_help(
                    Code::RouteNotAllowed,
                    self.span(&next.referenced),
                    format!("`{verb_word}` has no single main outcome, so node `{node_name}` cannot use `next`"),
                    format!("route its outcomes under `on:` ({})", outcomes.iter().map(Outcome::name).collect::<Vec<_>>().join(", ")),
                ),
            }
        }
        if let Some(otherwise) = &src.otherwise {
            if matches!(verb, Verb::Branch { .. }) {
                chosen.push((
                    Outcome::Else,
                    PendingRoute {
                        route: Cow::Borrowed(&otherwise.value),
                        outer: &otherwise.referenced,
                    },
                    &otherwise.referenced,
                ));
            } else {
                self.error(
                    Code::RouteNotAllowed,
                    self.span(&otherwise.referenced),
                    format!(
                        "only `branch` nodes have `else`; node `{node_name}` is a `{verb_word}`"
                    ),
                );
            }
        }
        for (i, case) in cases.iter().enumerate() {
            let c = &case.value;
            let route = RouteSrc {
                goto: c.goto.clone(),
                result: c.result.clone(),
                report: c.report.clone(),
            };
            chosen.push((
                Outcome::Case(i as u16),
                PendingRoute {
                    route: Cow::Owned(route),
                    outer: &case.referenced,
                },
                &case.referenced,
            ));
        }
        let mut on_default: Option<PendingRoute> = None;
        if let Some(on) = &src.on {
            for (key, route) in &on.0 {
                let k = key.value.as_str();
                if k == "default" {
                    on_default = Some(PendingRoute {
                        route: Cow::Borrowed(&route.value),
                        outer: &route.referenced,
                    });
                    continue;
                }
                match outcomes
                    .iter()
                    .find(|o| o.name() == k && !matches!(o, Outcome::Case(_)))
                {
                    Some(o) => {
                        if chosen.iter().any(|(c, _, _)| c == o) {
                            self.error(
                                Code::DuplicateName,
                                self.span(&key.referenced),
                                format!("outcome `{k}` of node `{node_name}` is routed twice"),
                            );
                        } else {
                            chosen.push((
                                o.clone(),
                                PendingRoute {
                                    route: Cow::Borrowed(&route.value),
                                    outer: &route.referenced,
                                },
                                &key.referenced,
                            ));
                        }
                    }
                    None => {
                        let names: Vec<String> = outcomes
                            .iter()
                            .filter(|o| !matches!(o, Outcome::Case(_)))
                            .map(Outcome::name)
                            .collect();
                        let help = did_you_mean(k, names.iter().map(String::as_str))
                            .unwrap_or_else(|| {
                                format!("`{verb_word}` outcomes are {}", names.join(", "))
                            });
                        let msg = if ctx.intents.iter().all(|i| i != k)
                            && matches!(verb, Verb::Classify { .. })
                            && is_identifier(k)
                        {
                            format!(
                                "`{k}` is not an outcome of `classify`: the scenario declares no intent `{k}`"
                            )
                        } else {
                            format!("`{k}` is not an outcome of `{verb_word}` (node `{node_name}`)")
                        };
                        let code = if matches!(verb, Verb::Classify { .. })
                            && !FIXED_OUTCOMES.contains(&k)
                        {
                            Code::UnknownIntent
                        } else {
                            Code::UnknownOutcome
                        };
                        self.push(
                            Severity::Error,
                            code,
                            self.span(&key.referenced),
                            msg,
                            Some(help),
                        );
                    }
                }
            }
        }

        let mut routes = Vec::with_capacity(outcomes.len());
        let mut unrouted = Vec::new();
        for outcome in &outcomes {
            let pending = chosen
                .iter()
                .find(|(o, _, _)| o == outcome)
                .map(|(_, p, _)| PendingRoute {
                    route: Cow::Borrowed(&*p.route),
                    outer: p.outer,
                })
                .or_else(|| {
                    on_default.as_ref().map(|p| PendingRoute {
                        route: Cow::Borrowed(&*p.route),
                        outer: p.outer,
                    })
                })
                .or_else(|| {
                    ctx.defaults
                        .iter()
                        .find(|(name, _)| *name == outcome.name())
                        .map(|(_, p)| PendingRoute {
                            route: Cow::Borrowed(&*p.route),
                            outer: p.outer,
                        })
                });
            match pending {
                Some(p) => {
                    if let Some(route) = self.resolve(ctx, &p) {
                        routes.push((outcome.clone(), route));
                    }
                }
                None => unrouted.push(outcome.name()),
            }
        }
        if !unrouted.is_empty() {
            let list = unrouted
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let example = &unrouted[0];
            self.error_help(
                Code::UnroutedOutcome,
                node_bytes.clone(),
                format!("node `{node_name}` ({verb_word}) does not route {} {list}", if unrouted.len() == 1 { "its outcome" } else { "its outcomes" }),
                format!("add `on: {{ {example}: <node or end> }}`, or a scenario-level `defaults: {{ {example}: end }}`"),
            );
        }
        routes
    }

    fn resolve(&mut self, ctx: &NodeCtx, pending: &PendingRoute) -> Option<Route> {
        let route = &*pending.route;
        let target = match &route.goto {
            None => Target::End,
            Some(g) if g.value == "end" => Target::End,
            Some(g) => match ctx.ids.get(&g.value) {
                Some(id) => Target::Node(*id),
                None => {
                    let bytes = self.span2(&g.referenced, pending.outer);
                    let help =
                        did_you_mean(&g.value, ctx.ids.keys().map(String::as_str).chain(["end"]))
                            .unwrap_or_else(|| {
                                "route to an existing node, or to `end` to finish the call".into()
                            });
                    self.push(
                        Severity::Error,
                        Code::UnknownTarget,
                        bytes,
                        format!("route goes to `{}`, but there is no such node", g.value),
                        Some(help),
                    );
                    return None;
                }
            },
        };
        if let Some(r) = &route.result {
            self.check_result(
                &r.value,
                ctx.results,
                self.span2(&r.referenced, pending.outer),
            );
        }
        Some(Route {
            target,
            result: route.result.as_ref().map(|r| r.value.clone()),
            report: route.report.as_ref().is_some_and(|r| r.value),
        })
    }
}

fn script_display_name(scenario_file: &str, script: &str) -> String {
    match std::path::Path::new(scenario_file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(script).display().to_string(),
        _ => script.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_likely_typos() {
        assert_eq!(
            closest("conected", ["connected_to_operator", "not_interested"]),
            Some("connected_to_operator")
        );
        assert_eq!(closest("listn", ["listen", "hello"]), Some("listen"));
        assert_eq!(closest("zzz", ["listen", "hello"]), None);
    }
}
