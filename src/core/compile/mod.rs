//! The scenario compiler: YAML text (plus what the environment says about prompt files
//! and hook scripts) in, a validated [`Scenario`] and every diagnostic out.
//!
//! Pure: the caller reads the files (see `crate::load`) and hands their contents in an
//! [`Environment`]. Compilation never stops at the first problem: the YAML is parsed
//! node by node so that a typo in one node does not hide the mistakes in the others.
//!
//! This file is the driver; each pass is a module, run in order by `Cx::semantics`:
//! `parse` (YAML to the spanned source tree), `header` (name, intents, results,
//! telephony, limits), `graph` (node ids, start, whole-flow checks), `scope` (what
//! guards may read), `verbs` (one function per verb), `routes`, `prompts` and
//! `test_cases`. `diag` and `names` are what every pass uses to report.

mod diag;
mod graph;
mod header;
mod names;
mod parse;
mod prompts;
mod routes;
mod scope;
mod test_cases;
mod verbs;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::core::analysis;
use crate::core::diagnostic::{Diagnostic, SourceText};
use crate::core::scenario::{ContentHash, HookScript, Node, NodeId, ResultTable, Scenario};
use crate::core::source::{NodeSrc, ScenarioSrc};
use parse::{Header, NodeEntry, parse_header, parse_node, yaml_options};
use scope::GuardScope;
use verbs::{NodeCtx, NodeState};

/// "Did you mean": kept public for other checkers of names (configuration, commands).
pub use names::closest;

/// What the compiler may know about the world outside the scenario file.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    /// The prompt set's audio files; `None` skips the prompt checks (`--no-environment`).
    pub prompts: Option<PromptCatalog>,
    /// Hook scripts by the path written in the scenario: their text, or why it cannot be read.
    pub scripts: BTreeMap<String, Result<String, ScriptUnreadable>>,
    /// The agent queues dialflow's configuration defines; `None` skips the check (a
    /// scenario checked without a configuration).
    pub queues: Option<BTreeSet<String>>,
}

/// Why a hook script the scenario names could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ScriptUnreadable {
    /// The file as the reader looked for it.
    pub path: String,
    /// The reader's words (the I/O error).
    pub reason: String,
}

/// Why a prompt file cannot be played as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptUnusable {
    #[error("not a readable WAV file ({0})")]
    NotWav(String),
    #[error(
        "{sample_rate} Hz, {channels} channel(s), {bits_per_sample}-bit: prompts must be 8000 Hz mono 16-bit (sox in.wav -r 8000 -c 1 -b 16 out.wav)"
    )]
    WrongFormat {
        sample_rate: u32,
        channels: u16,
        bits_per_sample: u16,
    },
}

#[derive(Debug, Default, Clone)]
pub struct PromptCatalog {
    /// The folder looked in, for messages.
    pub dir: String,
    pub exists: bool,
    /// Prompt name → audio length in milliseconds, or why the file is unusable.
    pub files: BTreeMap<String, Result<u64, PromptUnusable>>,
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
        queues: env.queues.as_ref(),
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

/// The compile context: the file being compiled and what has been found wrong with it.
struct Cx<'a> {
    src: &'a SourceText,
    diags: Vec<Diagnostic>,
    /// Hook scripts that diagnostics point into.
    extra_sources: Vec<SourceText>,
    /// The configured agent queues, when known.
    queues: Option<&'a BTreeSet<String>>,
}

impl<'a> Cx<'a> {
    fn queues(&self) -> Option<&'a BTreeSet<String>> {
        self.queues
    }
}

/// What the header passes declared, that every node is checked against.
struct Declared<'a> {
    intents: &'a [String],
    results: &'a ResultTable,
    ids: &'a HashMap<String, NodeId>,
}

impl Cx<'_> {
    fn compile_all(&mut self, env: &Environment) -> Option<Scenario> {
        let (header, nodes) = self.parse()?;
        self.semantics(header, nodes, env)
    }

    /// The passes after parsing, in order; each reports what it finds and hands the
    /// next what it needs.
    fn semantics(
        &mut self,
        header: Header,
        nodes: Vec<NodeEntry>,
        env: &Environment,
    ) -> Option<Scenario> {
        let (name, prompt_set) = self.names(&header);
        let intents = self.intents(&header);
        let results = self.results(&header);
        let telephony = self.telephony(header.telephony.as_ref(), &results);
        let limits = self.limits(header.limits.as_ref());
        let ids = self.node_ids(&header, &nodes)?;
        let start = self.start(&header, &ids);
        let declared = Declared {
            intents: &intents.names,
            results: &results,
            ids: &ids,
        };
        let (compiled, state) = self.compile_nodes(&header, &nodes, &declared, env);
        let prompts = self.check_prompts(
            &prompt_set,
            &header.prompts.referenced,
            &state.prompt_refs,
            env,
        );
        // Graph checks need every node; a node that did not compile has been reported.
        let compiled = compiled?;
        let graph = analysis::build_graph(&compiled);
        self.check_graph(&nodes, &compiled, start, &ids, &graph);
        let test_scope = test_cases::TestScope {
            ids: &ids,
            intents: &intents.names,
            results: &results,
        };
        let tests = self.test_cases(header.tests.as_ref(), &test_scope);
        Some(Scenario {
            name,
            description: header
                .description
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_string(),
            file: self.src.name.clone(),
            hash: content_hash(&self.src.text, &env.scripts, &state.scripts),
            prompt_set,
            language: header.language.as_ref().map(|l| l.value.clone()),
            intents: intents.names,
            intent_rules: intents.rules.into(),
            results,
            telephony,
            limits,
            nodes: compiled,
            start,
            prompts,
            graph,
            tests,
        })
    }

    /// The verbs and routes passes over every node that parsed. The nodes, when every
    /// one of them compiled.
    fn compile_nodes(
        &mut self,
        header: &Header,
        nodes: &[NodeEntry],
        declared: &Declared,
        env: &Environment,
    ) -> (Option<Vec<Node>>, NodeState) {
        let vars = self.collect_vars(nodes);
        let defaults = self.defaults(header, nodes, declared.intents);
        let scope = GuardScope {
            intents: declared.intents,
            results: declared.results,
            nodes: declared.ids,
            vars: &vars,
        };
        let record_nodes: HashSet<&str> = nodes
            .iter()
            .filter(|e| e.src.as_ref().is_some_and(|n| n.record.is_some()))
            .map(|e| e.name.value.as_str())
            .collect();
        let mut state = NodeState::default();
        let mut compiled = Vec::with_capacity(nodes.len());
        for entry in nodes {
            let ctx = NodeCtx {
                name: &entry.name,
                intents: declared.intents,
                results: declared.results,
                ids: declared.ids,
                defaults: &defaults,
                scope: &scope,
                record_nodes: &record_nodes,
                env,
            };
            compiled.push(
                entry
                    .src
                    .as_ref()
                    .and_then(|src| self.node(&ctx, src, &mut state)),
            );
        }
        (compiled.into_iter().collect(), state)
    }
}

fn content_hash(
    text: &str,
    scripts: &BTreeMap<String, Result<String, ScriptUnreadable>>,
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
