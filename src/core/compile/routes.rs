//! The routes pass: each outcome of a node gets exactly one route — from the node's
//! `next:`, `else:`, branch cases or `on:`, else its `on: default`, else the scenario's
//! `defaults:` — and each route's target and result are checked.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;

use serde_saphyr::Location;

use super::Cx;
use super::names::{did_you_mean, is_identifier};
use super::parse::{Header, NodeEntry};
use super::verbs::NodeCtx;
use crate::core::diagnostic::{Code, Severity};
use crate::core::scenario::{Outcome, Route, Target, Verb, VerbKind};
use crate::core::source::{NodeSrc, OrderedMap, RouteSrc, S};

/// A route as written, before its target is resolved.
pub(super) struct PendingRoute<'a> {
    pub(super) route: Cow<'a, RouteSrc>,
    pub(super) outer: &'a Location,
}

impl<'a> PendingRoute<'a> {
    fn of(route: &'a S<RouteSrc>) -> Self {
        PendingRoute {
            route: Cow::Borrowed(&route.value),
            outer: &route.referenced,
        }
    }
}

/// The routes a node gives its outcomes itself, before any default applies.
struct Chosen<'a> {
    routes: Vec<(Outcome, PendingRoute<'a>)>,
    /// The node's `on: default`.
    on_default: Option<PendingRoute<'a>>,
}

impl Cx<'_> {
    /// The scenario-level `defaults:`, each for an outcome that some verb, declared
    /// intent or hook has.
    pub(super) fn defaults<'h>(
        &mut self,
        header: &'h Header,
        nodes: &[NodeEntry],
        intents: &[String],
    ) -> Vec<(String, PendingRoute<'h>)> {
        let mut hook_outcomes: HashSet<String> = HashSet::new();
        for entry in nodes {
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
        let fixed = VerbKind::fixed_outcome_names();
        let mut defaults = Vec::new();
        let Some(map) = &header.defaults else {
            return defaults;
        };
        for (key, route) in &map.0 {
            let k = key.value.as_str();
            if fixed.iter().any(|f| f == k)
                || intents.iter().any(|i| i == k)
                || hook_outcomes.contains(k)
            {
                defaults.push((k.to_string(), PendingRoute::of(route)));
            } else {
                let help = did_you_mean(k, fixed.iter().map(String::as_str));
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
        defaults
    }

    /// One route per outcome of the node's verb (and `exhausted` when `bounded`).
    pub(super) fn routes(
        &mut self,
        ctx: &NodeCtx,
        src: &NodeSrc,
        verb: &Verb,
        bounded: bool,
        node_bytes: &Range<usize>,
    ) -> Vec<(Outcome, Route)> {
        if verb.is_terminal() {
            self.no_routes(ctx, src, verb);
            return Vec::new();
        }
        let mut outcomes = verb.outcomes(ctx.intents);
        if bounded {
            outcomes.push(Outcome::Exhausted);
        }
        let chosen = self.chosen_routes(ctx, src, verb, &outcomes);
        let mut routes = Vec::with_capacity(outcomes.len());
        let mut unrouted = Vec::new();
        for outcome in &outcomes {
            let pending = chosen
                .routes
                .iter()
                .find(|(o, _)| o == outcome)
                .map(|(_, p)| p)
                .or(chosen.on_default.as_ref())
                .or_else(|| {
                    ctx.defaults
                        .iter()
                        .find(|(name, _)| *name == outcome.name())
                        .map(|(_, p)| p)
                });
            match pending {
                Some(p) => {
                    if let Some(route) = self.resolve(ctx, p) {
                        routes.push((outcome.clone(), route));
                    }
                }
                None => unrouted.push(outcome.name()),
            }
        }
        if !unrouted.is_empty() {
            self.unrouted(ctx, verb, &unrouted, node_bytes);
        }
        routes
    }

    /// A verb that ends the call routes nothing: any route written on it is an error.
    fn no_routes(&mut self, ctx: &NodeCtx, src: &NodeSrc, verb: &Verb) {
        let node_name = ctx.name.value.as_str();
        let verb_word = verb.keyword();
        for (field, loc) in [
            ("next", src.next.as_ref().map(|n| &n.referenced)),
            ("else", src.otherwise.as_ref().map(|n| &n.referenced)),
        ] {
            if let Some(loc) = loc {
                self.error(
                    Code::RouteNotAllowed,
                    self.span(loc),
                    format!(
                        "`{verb_word}` ends the call, so node `{node_name}` cannot have `{field}`"
                    ),
                );
            }
        }
        if let Some(on) = &src.on {
            for (key, _) in &on.0 {
                self.error(Code::RouteNotAllowed, self.span(&key.referenced), format!("`{verb_word}` ends the call, so node `{node_name}` has no outcome `{}` to route", key.value));
            }
        }
    }

    /// The routes written on the node: `next:`, `else:`, a branch's cases, then `on:`.
    fn chosen_routes<'s>(
        &mut self,
        ctx: &NodeCtx,
        src: &'s NodeSrc,
        verb: &Verb,
        outcomes: &[Outcome],
    ) -> Chosen<'s> {
        let node_name = ctx.name.value.as_str();
        let verb_word = verb.keyword();
        let mut chosen = Chosen {
            routes: Vec::new(),
            on_default: None,
        };
        if let Some(next) = &src.next {
            match verb.primary_outcome() {
                Some(p) => chosen.routes.push((p, PendingRoute::of(next))),
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
                chosen
                    .routes
                    .push((Outcome::Else, PendingRoute::of(otherwise)));
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
        let cases = src.branch.iter().flat_map(|b| &b.value);
        for (i, case) in cases.enumerate() {
            let c = &case.value;
            let route = RouteSrc {
                goto: c.goto.clone(),
                result: c.result.clone(),
                report: c.report.clone(),
            };
            let pending = PendingRoute {
                route: Cow::Owned(route),
                outer: &case.referenced,
            };
            chosen.routes.push((Outcome::Case(i as u16), pending));
        }
        if let Some(on) = &src.on {
            self.on_routes(ctx, verb, on, outcomes, &mut chosen);
        }
        chosen
    }

    /// The node's `on:` entries, each for one of the verb's outcomes, or `default`.
    fn on_routes<'s>(
        &mut self,
        ctx: &NodeCtx,
        verb: &Verb,
        on: &'s OrderedMap<S<RouteSrc>>,
        outcomes: &[Outcome],
        chosen: &mut Chosen<'s>,
    ) {
        let node_name = ctx.name.value.as_str();
        for (key, route) in &on.0 {
            let k = key.value.as_str();
            if k == "default" {
                chosen.on_default = Some(PendingRoute::of(route));
                continue;
            }
            let outcome = outcomes
                .iter()
                .find(|o| o.name() == k && !matches!(o, Outcome::Case(_)));
            match outcome {
                Some(o) if chosen.routes.iter().any(|(c, _)| c == o) => self.error(
                    Code::DuplicateName,
                    self.span(&key.referenced),
                    format!("outcome `{k}` of node `{node_name}` is routed twice"),
                ),
                Some(o) => chosen.routes.push((o.clone(), PendingRoute::of(route))),
                None => self.unknown_outcome(ctx, verb, key, outcomes),
            }
        }
    }

    /// An `on:` key that is none of the verb's outcomes: for `classify`, most likely an
    /// intent the scenario does not declare.
    fn unknown_outcome(
        &mut self,
        ctx: &NodeCtx,
        verb: &Verb,
        key: &S<String>,
        outcomes: &[Outcome],
    ) {
        let k = key.value.as_str();
        let node_name = ctx.name.value.as_str();
        let verb_word = verb.keyword();
        let names: Vec<String> = outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Case(_)))
            .map(Outcome::name)
            .collect();
        let help = did_you_mean(k, names.iter().map(String::as_str))
            .unwrap_or_else(|| format!("`{verb_word}` outcomes are {}", names.join(", ")));
        let classify = matches!(verb, Verb::Classify { .. });
        let msg = if ctx.intents.iter().all(|i| i != k) && classify && is_identifier(k) {
            format!("`{k}` is not an outcome of `classify`: the scenario declares no intent `{k}`")
        } else {
            format!("`{k}` is not an outcome of `{verb_word}` (node `{node_name}`)")
        };
        let code = if classify && !VerbKind::fixed_outcome_names().iter().any(|f| f == k) {
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

    fn unrouted(
        &mut self,
        ctx: &NodeCtx,
        verb: &Verb,
        unrouted: &[String],
        node_bytes: &Range<usize>,
    ) {
        let node_name = ctx.name.value.as_str();
        let verb_word = verb.keyword();
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

    /// The route's target node (or the end) and its result, both checked.
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
