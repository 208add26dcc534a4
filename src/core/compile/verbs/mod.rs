//! The verbs pass: each node's one verb, compiled by that verb's own function (grouped
//! by what the verbs do), then the fields every node shares, then its routes.

mod calls;
mod decide;
mod hook;
mod media;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use serde_saphyr::Location;

use super::Cx;
use super::Environment;
use super::routes::PendingRoute;
use super::scope::GuardScope;
use crate::core::diagnostic::Code;
use crate::core::scenario::{HookScript, Node, NodeId, ResultTable, Verb, VerbKind};
use crate::core::source::{NodeSrc, S};

/// What a node is compiled against: the rest of the scenario.
pub(super) struct NodeCtx<'a> {
    pub(super) name: &'a S<String>,
    pub(super) intents: &'a [String],
    pub(super) results: &'a ResultTable,
    pub(super) ids: &'a HashMap<String, NodeId>,
    pub(super) defaults: &'a [(String, PendingRoute<'a>)],
    pub(super) scope: &'a GuardScope<'a>,
    pub(super) record_nodes: &'a HashSet<&'a str>,
    pub(super) env: &'a Environment,
}

/// What compiling the nodes gathers across them.
#[derive(Default)]
pub(super) struct NodeState {
    /// The sandboxed Rhai engine, made for the first hook and shared by all of them.
    engine: Option<Arc<rhai::Engine>>,
    /// Hook script files compiled so far, by path (`None`: it could not be compiled).
    pub(super) scripts: HashMap<String, Option<Arc<HookScript>>>,
    /// Every prompt a node plays, with where it is named, for the prompt pass.
    pub(super) prompt_refs: Vec<(String, Range<usize>)>,
}

impl NodeState {
    /// Notes a prompt the node plays; its name.
    fn prompt(&mut self, cx: &Cx, p: &S<String>, outer: &Location) -> String {
        self.prompt_refs
            .push((p.value.clone(), cx.span2(&p.referenced, outer)));
        p.value.clone()
    }
}

impl Cx<'_> {
    /// One node: its verb, the fields every node has, and its routes. `None` when the
    /// node has no single verb.
    pub(super) fn node(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        state: &mut NodeState,
    ) -> Option<Node> {
        let node_bytes = self.span(&ctx.name.referenced);
        let kind = self.the_verb(ctx, src, &node_bytes)?;
        let verb = self.verb(ctx, src, kind, state)?;
        if let Some(r) = &src.set_result {
            self.check_result(&r.value, ctx.results, self.span(&r.referenced));
        }
        let max_visits = self.max_visits(src, &verb);
        let routes = self.routes(ctx, src, &verb, max_visits.is_some(), &node_bytes);
        Some(Node {
            name: ctx.name.value.clone(),
            description: src.description.clone(),
            verb,
            set_result: src.set_result.as_ref().map(|r| r.value.clone()),
            report: src.report.as_ref().is_some_and(|r| r.value),
            max_visits,
            routes,
        })
    }

    /// The node's one verb; a node with none or several is reported.
    fn the_verb(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        node_bytes: &Range<usize>,
    ) -> Option<VerbKind> {
        let node_name = ctx.name.value.as_str();
        let present: Vec<&str> = VerbKind::ALL
            .into_iter()
            .filter(|kind| written(src, *kind))
            .map(VerbKind::keyword)
            .collect();
        match present.len() {
            0 => {
                let all: Vec<&str> = VerbKind::ALL.map(VerbKind::keyword).to_vec();
                self.error_help(
                    Code::NoVerb,
                    node_bytes.clone(),
                    format!("node `{node_name}` has no verb"),
                    format!("give it one of {}", all.join(", ")),
                );
                None
            }
            1 => VerbKind::ALL.into_iter().find(|kind| written(src, *kind)),
            _ => {
                self.error_help(
                    Code::SeveralVerbs,
                    node_bytes.clone(),
                    format!(
                        "node `{node_name}` has several verbs: {}",
                        present.join(", ")
                    ),
                    "a node does one thing; split it into several nodes joined by `next`",
                );
                None
            }
        }
    }

    /// The verb, compiled by its own function.
    fn verb(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        kind: VerbKind,
        state: &mut NodeState,
    ) -> Option<Verb> {
        Some(match kind {
            VerbKind::Play => self.play(src.play.as_ref()?, state),
            VerbKind::Record => self.record(src.record.as_ref()?),
            VerbKind::Classify => self.classify(ctx, src.classify.as_ref()?, state),
            VerbKind::Branch => self.branch(ctx, src.branch.as_ref()?),
            VerbKind::Gather => self.gather(src.gather.as_ref()?, state),
            VerbKind::OriginateOperator => {
                self.originate_operator(src.originate_operator.as_ref()?, state)
            }
            VerbKind::ConnectAgent => self.connect_agent(src.connect_agent.as_ref()?, state),
            VerbKind::Amd => self.amd(src.amd.as_ref()?),
            VerbKind::VoicemailDrop => self.voicemail_drop(src.voicemail_drop.as_ref()?, state),
            VerbKind::Set => self.set(ctx, src.set.as_ref()?),
            VerbKind::Hook => self.hook(ctx, src.hook.as_ref()?, state),
            VerbKind::Wait => self.wait(src.wait.as_ref()?),
            VerbKind::Hangup => Verb::Hangup,
        })
    }

    /// `max_visits`: at least 1, and only on a verb that does not end the call.
    fn max_visits(&mut self, src: &NodeSrc, verb: &Verb) -> Option<u32> {
        let m = src.max_visits.as_ref()?;
        if verb.is_terminal() {
            self.error(
                Code::BadValue,
                self.span(&m.referenced),
                format!(
                    "`max_visits` has no effect on a `{}` node: it ends the call",
                    verb.keyword()
                ),
            );
            return None;
        }
        if m.value == 0 {
            self.error(
                Code::BadValue,
                self.span(&m.referenced),
                "`max_visits` must be at least 1",
            );
            return None;
        }
        Some(m.value)
    }
}

/// Whether the node's source has the verb's key.
fn written(src: &NodeSrc, kind: VerbKind) -> bool {
    match kind {
        VerbKind::Play => src.play.is_some(),
        VerbKind::Record => src.record.is_some(),
        VerbKind::Classify => src.classify.is_some(),
        VerbKind::Branch => src.branch.is_some(),
        VerbKind::Gather => src.gather.is_some(),
        VerbKind::OriginateOperator => src.originate_operator.is_some(),
        VerbKind::ConnectAgent => src.connect_agent.is_some(),
        VerbKind::Amd => src.amd.is_some(),
        VerbKind::VoicemailDrop => src.voicemail_drop.is_some(),
        VerbKind::Set => src.set.is_some(),
        VerbKind::Hook => src.hook.is_some(),
        VerbKind::Wait => src.wait.is_some(),
        VerbKind::Hangup => src.hangup.is_some(),
    }
}
