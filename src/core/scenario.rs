//! The compiled scenario: an immutable, validated state graph that the interpreter runs.
//!
//! Built only by `compile`; a live call holds it in an `Arc` for its whole life, so a
//! reload never changes a running call. The content hash names exactly which file
//! version an attempt ran.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use petgraph::graph::DiGraph;

use super::call::{FAILED_PREFIX, FailureReason};
use super::expr::{Expr, Template, VarPath};

/// Index of a node in [`Scenario::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u16);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// SHA-256 of the scenario text and every hook script it uses, in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentHash(pub String);

impl ContentHash {
    /// The first 12 hex digits, enough to tell versions apart in a log line.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The path the scenario was compiled from.
    pub file: String,
    pub hash: ContentHash,
    pub prompt_set: String,
    pub language: Option<String>,
    /// Declared intents, `unknown` always last.
    pub intents: Vec<String>,
    /// The scenario's own words and patterns per intent, in declaration order.
    pub intent_rules: Arc<[IntentRule]>,
    pub results: ResultTable,
    pub telephony: Telephony,
    pub limits: Limits,
    pub nodes: Vec<Node>,
    pub start: NodeId,
    /// Every prompt the scenario plays, with its audio length when the file was read.
    pub prompts: BTreeMap<String, Option<u64>>,
    /// The flow as a graph: one vertex per node plus the end of the call (last vertex).
    pub graph: DiGraph<GraphVertex, Outcome>,
    /// The scenario's own test cases.
    pub tests: Vec<super::testcase::TestCase>,
}

impl Scenario {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The logical operator names the scenario calls (for resolving them to dial strings).
    pub fn operators(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .nodes
            .iter()
            .filter_map(|n| match &n.verb {
                Verb::OriginateOperator { operator, .. } => Some(operator.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The agent queues the scenario connects customers to.
    pub fn queues(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .nodes
            .iter()
            .filter_map(|n| match &n.verb {
                Verb::ConnectAgent { queue, .. } => Some(queue.as_str()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| NodeId(i as u16))
    }
}

/// A vertex of [`Scenario::graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphVertex {
    Node(NodeId),
    End,
}

#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub description: Option<String>,
    pub verb: Verb,
    pub set_result: Option<String>,
    pub report: bool,
    pub max_visits: Option<u32>,
    /// One route per outcome of the verb (defaults already applied).
    pub routes: Vec<(Outcome, Route)>,
}

impl Node {
    pub fn route(&self, outcome: &Outcome) -> Option<&Route> {
        self.routes
            .iter()
            .find(|(o, _)| o == outcome)
            .map(|(_, r)| r)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// The call is over: hang up if the line is still up, then finish with the current result.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub target: Target,
    /// Becomes the provisional result when the route is taken.
    pub result: Option<String>,
    /// Report the (new) result's status when the route is taken.
    pub report: bool,
}

/// The closed set of ways a node can finish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    Finished,
    Hangup,
    Failed,
    Silence,
    Intent(String),
    Empty,
    Quota,
    /// The n-th `when:` case of a branch (0-based).
    Case(u16),
    Else,
    Digits,
    Timeout,
    Bridged,
    Busy,
    NoAnswer,
    CustomerHangup,
    /// No agent of the queue became free in time.
    NoAgent,
    Human,
    Machine,
    NotSure,
    Next,
    /// One of a hook's declared outcomes.
    Hook(String),
    /// The node was entered more often than its `max_visits`.
    Exhausted,
}

impl Outcome {
    pub fn name(&self) -> String {
        match self {
            Outcome::Intent(s) | Outcome::Hook(s) => s.clone(),
            Outcome::Case(i) => format!("case {}", i + 1),
            other => other.fixed_name().unwrap_or("?").to_string(),
        }
    }

    fn fixed_name(&self) -> Option<&'static str> {
        Some(match self {
            Outcome::Finished => "finished",
            Outcome::Hangup => "hangup",
            Outcome::Failed => "failed",
            Outcome::Silence => "silence",
            Outcome::Empty => "empty",
            Outcome::Quota => "quota",
            Outcome::Else => "else",
            Outcome::Digits => "digits",
            Outcome::Timeout => "timeout",
            Outcome::Bridged => "bridged",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::CustomerHangup => "customer_hangup",
            Outcome::NoAgent => "no_agent",
            Outcome::Human => "human",
            Outcome::Machine => "machine",
            Outcome::NotSure => "notsure",
            Outcome::Next => "next",
            Outcome::Exhausted => "exhausted",
            Outcome::Intent(_) | Outcome::Hook(_) | Outcome::Case(_) => return None,
        })
    }

    /// A failure outcome whose route sets `failed:<reason>` unless it names a result.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed | Outcome::Quota)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[derive(Debug)]
pub enum Verb {
    Play {
        prompts: Vec<String>,
    },
    Record {
        max_duration_ms: u64,
        max_silence_ms: u64,
        beep: bool,
    },
    Classify {
        recording: Option<NodeId>,
        filler: Option<String>,
        timeout_ms: u64,
        /// A hook that may replace the classified intent (script, function).
        post: Option<(Arc<HookScript>, String)>,
    },
    Branch {
        cases: Vec<Case>,
    },
    Gather {
        prompt: Option<String>,
        max_digits: u32,
        terminator: Option<char>,
        timeout_ms: u64,
        digit_timeout_ms: u64,
    },
    OriginateOperator {
        operator: String,
        caller_id: Option<String>,
        timeout_ms: u64,
        hold: Option<String>,
    },
    ConnectAgent {
        queue: String,
        timeout_ms: u64,
        hold: AgentHold,
    },
    Amd {
        timeout_ms: u64,
    },
    VoicemailDrop {
        prompt: String,
    },
    Set {
        assignments: Vec<(VarPath, Template)>,
    },
    Hook {
        script: Arc<HookScript>,
        function: String,
        outcomes: Vec<String>,
    },
    /// `None`: wait until the call ends (e.g. while customer and operator talk).
    Wait {
        duration_ms: Option<u64>,
    },
    Hangup,
}

/// What a customer waiting for an agent hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentHold {
    Silence,
    /// A prompt of the scenario's set, played again as it ends.
    Prompt(String),
    /// Asterisk's music on hold of this class, in the holding bridge.
    Music(String),
}

/// The result of a call dropped by the safe-harbor rule (no agent in time).
pub const DROPPED_RESULT: &str = "dropped";

/// The intent every scenario has, whether it declares it or not: what classification
/// gives when no declared intent fits.
pub const UNKNOWN_INTENT: &str = "unknown";

/// What kind of verb a node runs: its keyword in YAML and the outcomes it gives of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerbKind {
    Play,
    Record,
    Classify,
    Branch,
    Gather,
    OriginateOperator,
    ConnectAgent,
    Amd,
    VoicemailDrop,
    Set,
    Hook,
    Wait,
    Hangup,
}

impl VerbKind {
    /// Every verb, in the order the language reference lists them.
    pub const ALL: [VerbKind; 13] = [
        VerbKind::Play,
        VerbKind::Record,
        VerbKind::Classify,
        VerbKind::Branch,
        VerbKind::Gather,
        VerbKind::OriginateOperator,
        VerbKind::ConnectAgent,
        VerbKind::Amd,
        VerbKind::VoicemailDrop,
        VerbKind::Set,
        VerbKind::Hook,
        VerbKind::Wait,
        VerbKind::Hangup,
    ];

    /// The verb's key in a node.
    pub fn keyword(self) -> &'static str {
        match self {
            VerbKind::Play => "play",
            VerbKind::Record => "record",
            VerbKind::Classify => "classify",
            VerbKind::Branch => "branch",
            VerbKind::Gather => "gather",
            VerbKind::OriginateOperator => "originate_operator",
            VerbKind::ConnectAgent => "connect_agent",
            VerbKind::Amd => "amd",
            VerbKind::VoicemailDrop => "voicemail_drop",
            VerbKind::Set => "set",
            VerbKind::Hook => "hook",
            VerbKind::Wait => "wait",
            VerbKind::Hangup => "hangup",
        }
    }

    /// The outcomes the verb gives of itself, after those a node declares (a classify's
    /// intents, a branch's cases, a hook's outcomes). The one place each is defined.
    pub fn own_outcomes(self) -> &'static [Outcome] {
        use Outcome::*;
        match self {
            VerbKind::Play => &[Finished, Hangup, Failed],
            VerbKind::Record => &[Finished, Silence, Hangup, Failed],
            VerbKind::Classify => &[Empty, Failed, Quota, Hangup],
            VerbKind::Branch => &[Else],
            VerbKind::Gather => &[Digits, Timeout, Hangup],
            VerbKind::OriginateOperator => &[Bridged, Busy, NoAnswer, Failed, CustomerHangup],
            VerbKind::ConnectAgent => &[Bridged, NoAgent, CustomerHangup, Failed],
            VerbKind::Amd => &[Human, Machine, NotSure, Hangup],
            VerbKind::VoicemailDrop | VerbKind::Hangup => &[],
            VerbKind::Set => &[Next],
            VerbKind::Hook => &[Failed],
            // A `wait: hangup` has only `hangup` (see [`Verb::outcomes`]).
            VerbKind::Wait => &[Finished, Hangup],
        }
    }

    /// The outcome `next:` routes, for verbs with one main way to finish.
    pub fn primary_outcome(self) -> Option<Outcome> {
        match self {
            VerbKind::Play | VerbKind::Record | VerbKind::Wait => Some(Outcome::Finished),
            VerbKind::Set => Some(Outcome::Next),
            VerbKind::Gather => Some(Outcome::Digits),
            VerbKind::OriginateOperator | VerbKind::ConnectAgent => Some(Outcome::Bridged),
            _ => None,
        }
    }

    /// Every outcome name any verb gives of itself, `exhausted` (from `max_visits`) and
    /// the `unknown` intent: what a scenario-level `defaults:` entry may route besides
    /// the declared intents and hook outcomes. In verb order, first appearance kept.
    pub fn fixed_outcome_names() -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let own = VerbKind::ALL.iter().flat_map(|k| k.own_outcomes());
        for outcome in own.chain([&Outcome::Exhausted]) {
            let name = outcome.name();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.push(UNKNOWN_INTENT.to_string());
        names
    }
}

impl fmt::Display for VerbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl Verb {
    pub fn kind(&self) -> VerbKind {
        match self {
            Verb::Play { .. } => VerbKind::Play,
            Verb::Record { .. } => VerbKind::Record,
            Verb::Classify { .. } => VerbKind::Classify,
            Verb::Branch { .. } => VerbKind::Branch,
            Verb::Gather { .. } => VerbKind::Gather,
            Verb::OriginateOperator { .. } => VerbKind::OriginateOperator,
            Verb::ConnectAgent { .. } => VerbKind::ConnectAgent,
            Verb::Amd { .. } => VerbKind::Amd,
            Verb::VoicemailDrop { .. } => VerbKind::VoicemailDrop,
            Verb::Set { .. } => VerbKind::Set,
            Verb::Hook { .. } => VerbKind::Hook,
            Verb::Wait { .. } => VerbKind::Wait,
            Verb::Hangup => VerbKind::Hangup,
        }
    }

    pub fn keyword(&self) -> &'static str {
        self.kind().keyword()
    }

    /// Every outcome a node running this verb can finish with, in the order its routes
    /// are listed: what the node declares (for `classify`, the scenario's `intents`),
    /// then the verb's own. A `max_visits` adds `exhausted`.
    pub fn outcomes(&self, intents: &[String]) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = match self {
            Verb::Classify { .. } => intents.iter().cloned().map(Outcome::Intent).collect(),
            Verb::Branch { cases } => (0..cases.len() as u16).map(Outcome::Case).collect(),
            Verb::Hook { outcomes, .. } => outcomes.iter().cloned().map(Outcome::Hook).collect(),
            // Waiting for the hang-up cannot finish any other way.
            Verb::Wait { duration_ms: None } => return vec![Outcome::Hangup],
            _ => Vec::new(),
        };
        outcomes.extend_from_slice(self.kind().own_outcomes());
        outcomes
    }

    /// The outcome `next:` routes, for verbs with one main way to finish.
    pub fn primary_outcome(&self) -> Option<Outcome> {
        match self {
            Verb::Wait { duration_ms: None } => None,
            _ => self.kind().primary_outcome(),
        }
    }

    /// Verbs that end the call themselves and so have no outcomes to route.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Verb::Hangup | Verb::VoicemailDrop { .. })
    }
}

#[derive(Debug)]
pub struct Case {
    /// The guard as written, for pictures and traces.
    pub source: String,
    pub guard: Expr,
}

/// How the rules classifier recognises one intent.
#[derive(Debug, Clone)]
pub struct IntentRule {
    pub intent: String,
    /// Matched as whole words in the normalised transcript (normalised the same way).
    pub keywords: Vec<String>,
    /// Case-insensitive regular expressions over the normalised transcript.
    pub patterns: Vec<regex::Regex>,
}

impl PartialEq for IntentRule {
    fn eq(&self, other: &Self) -> bool {
        self.intent == other.intent
            && self.keywords == other.keywords
            && self
                .patterns
                .iter()
                .map(regex::Regex::as_str)
                .eq(other.patterns.iter().map(regex::Regex::as_str))
    }
}

/// A compiled Rhai script shared by every hook node that uses it.
pub struct HookScript {
    /// The script's file, or `<inline>` with the node name.
    pub origin: String,
    pub ast: rhai::AST,
    /// The sandboxed engine it was compiled on and runs on (shared by the scenario's hooks).
    pub engine: Arc<rhai::Engine>,
}

impl fmt::Debug for HookScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookScript")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The panel statuses dialflow reports, from the panel status reference (seed 000).
pub const PANEL_STATUSES: [&str; 10] = [
    "CONNECTED",
    "NOT_INTERESTED",
    "MISSED",
    "HANGUP",
    "DISCONNECTED",
    "UNKNOWN",
    "FAILED",
    "BUSY",
    "POWER_OFF",
    "BANNED",
];

/// Result → panel status, and which statuses carry the transcript.
#[derive(Debug, Clone)]
pub struct ResultTable {
    /// Exact results, or prefixes ending in `*` (`failed:*`). Exact entries win,
    /// then the longest prefix.
    pub entries: Vec<(String, String)>,
    pub transcript_statuses: Vec<String>,
    /// Statuses the dashboard counts as a success (`[CONNECTED]` by default).
    pub success_statuses: Vec<String>,
}

impl Default for ResultTable {
    fn default() -> Self {
        let stt_failure = FailureReason::SttFailure.result();
        let any_failure = format!("{FAILED_PREFIX}*");
        let entries = [
            ("connected_to_operator", "CONNECTED"),
            ("not_interested", "NOT_INTERESTED"),
            ("missed", "MISSED"),
            ("user_didnt_answer", "MISSED"),
            ("hangup", "HANGUP"),
            ("disconnected", "DISCONNECTED"),
            ("unknown", "UNKNOWN"),
            // The seed's note (the later decision) over its quick reference.
            (stt_failure.as_str(), "NOT_INTERESTED"),
            (any_failure.as_str(), "FAILED"),
            ("busy", "BUSY"),
            // Safe harbor: answered, no agent within the campaign's limit. The
            // customer missed the call they were meant to get; retried like `missed`.
            (DROPPED_RESULT, "MISSED"),
            ("power_off", "POWER_OFF"),
            ("banned", "BANNED"),
        ];
        Self {
            entries: entries
                .iter()
                .map(|(r, s)| (r.to_string(), s.to_string()))
                .collect(),
            transcript_statuses: ["CONNECTED", "DISCONNECTED", "NOT_INTERESTED", "UNKNOWN"]
                .map(String::from)
                .to_vec(),
            success_statuses: vec!["CONNECTED".to_string()],
        }
    }
}

impl ResultTable {
    pub fn status_of(&self, result: &str) -> Option<&str> {
        if let Some((_, s)) = self.entries.iter().find(|(r, _)| r == result) {
            return Some(s);
        }
        self.entries
            .iter()
            .filter_map(|(r, s)| {
                r.strip_suffix('*')
                    .filter(|p| result.starts_with(p))
                    .map(|p| (p.len(), s))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, s)| s.as_str())
    }

    pub fn knows(&self, result: &str) -> bool {
        self.status_of(result).is_some()
    }

    pub fn carries_transcript(&self, status: &str) -> bool {
        self.transcript_statuses.iter().any(|s| s == status)
    }

    /// Sets (or replaces) the status of a result or prefix.
    pub fn set(&mut self, result: &str, status: &str) {
        match self.entries.iter_mut().find(|(r, _)| r == result) {
            Some(entry) => entry.1 = status.to_string(),
            None => self.entries.push((result.to_string(), status.to_string())),
        }
    }
}

/// How a call that was never answered ends, as data the scenario may override.
#[derive(Debug, Clone)]
pub struct Telephony {
    pub ring_timeout_ms: u64,
    pub watchdog_ms: u64,
    /// Q.850 causes per result, checked in order.
    pub causes: Vec<(String, Vec<u16>)>,
    /// Lower-case fragments of the cause text per result, checked after the causes.
    pub cause_text: Vec<(String, Vec<String>)>,
    /// Rang until the originate timeout: Asterisk's cause 19 with no final `Dial`, or our
    /// ring timer where the events leave it open (`core::call::pre_answer`).
    pub rang_out_result: String,
    /// No event at all for the channel within the watchdog.
    pub no_event_result: String,
    /// Asterisk refused the originate.
    pub originate_failed_result: String,
    /// Anything else that ends a call before it is answered.
    pub other_result: String,
}

impl Default for Telephony {
    fn default() -> Self {
        Self {
            ring_timeout_ms: 30_000,
            watchdog_ms: 60_000,
            causes: vec![
                ("busy".into(), vec![17]),
                ("power_off".into(), vec![18, 19, 20]),
                ("banned".into(), vec![21, 34, 41, 42]),
            ],
            cause_text: vec![
                ("busy".into(), vec!["busy".into()]),
                ("banned".into(), vec!["congest".into()]),
            ],
            rang_out_result: "missed".into(),
            no_event_result: "user_didnt_answer".into(),
            originate_failed_result: FailureReason::Originate.result(),
            other_result: "missed".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_steps: u32,
    pub max_duration_ms: u64,
    pub prompt_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_steps: 200,
            max_duration_ms: 15 * 60_000,
            prompt_grace_ms: 5_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The language reference gives each verb the outcomes `own_outcomes` defines, and
    /// says which one `next` routes.
    #[test]
    fn the_docs_give_each_verb_its_outcomes() {
        let docs = include_str!("../../docs/scenario-language.md");
        for kind in VerbKind::ALL {
            let heading = format!("### `{kind}`");
            let section = docs
                .split(&heading)
                .nth(1)
                .and_then(|s| s.split("\n#").next())
                .unwrap_or_else(|| panic!("docs/scenario-language.md has a `{heading}` section"));
            let own = kind.own_outcomes();
            for outcome in own {
                assert!(
                    section.contains(&format!("`{outcome}`")),
                    "{kind}: `{outcome}`"
                );
            }
            if own.is_empty() {
                assert!(section.to_lowercase().contains("no outcomes"), "{kind}");
            }
            if let Some(p) = kind.primary_outcome() {
                let said = section.contains(&format!("`next` routes `{p}`"))
                    || section.contains(&format!("| `{p}` |"))
                    || (own == [p.clone()] && section.contains("`next` routes it"));
                assert!(said, "{kind}: the docs say `next` routes `{p}`");
            }
        }
    }

    #[test]
    fn a_verbs_own_outcomes_have_names_of_their_own() {
        for kind in VerbKind::ALL {
            for outcome in kind.own_outcomes() {
                assert!(outcome.fixed_name().is_some(), "{kind}: {outcome:?}");
            }
            if let Some(primary) = kind.primary_outcome() {
                assert!(
                    kind.own_outcomes().contains(&primary),
                    "{kind}: {primary:?}"
                );
            }
        }
        let names = VerbKind::fixed_outcome_names();
        assert!(names.iter().any(|n| n == "exhausted") && names.last().unwrap() == "unknown");
        assert_eq!(
            Verb::Wait { duration_ms: None }.outcomes(&[]),
            [Outcome::Hangup]
        );
        assert_eq!(Verb::Wait { duration_ms: None }.primary_outcome(), None);
    }

    #[test]
    fn result_table_follows_the_seed() {
        let t = ResultTable::default();
        assert_eq!(t.status_of("connected_to_operator"), Some("CONNECTED"));
        assert_eq!(t.status_of("failed:stt_failure"), Some("NOT_INTERESTED"));
        assert_eq!(t.status_of("failed:llm_quota"), Some("FAILED"));
        assert_eq!(t.status_of("user_didnt_answer"), Some("MISSED"));
        assert_eq!(t.status_of("answered_human"), None);
        assert!(t.carries_transcript("UNKNOWN"));
        assert!(!t.carries_transcript("HANGUP"));
    }
}
