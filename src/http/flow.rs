//! A scenario's flow for the dashboard: its picture as SVG, laid out and drawn in Rust
//! (layout-rs, no Graphviz), each node with the calls in it now and each arrow with
//! the calls that took it in the last hour; and beside it the version served and the
//! last reload's error, if it failed.

use std::collections::HashMap;

use axum::extract::State;
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::StyleAttr;
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, ShapeKind};
use layout::topo::layout::VisualGraph;
use serde::Serialize;

use super::extract::{Json, Path};
use super::{ApiError, ApiState, ErrorBody};
use crate::core::picture;
use crate::core::scenario::Scenario;

/// A flow and its counts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FlowView {
    pub scenario: String,
    /// The hash of the version new calls run.
    pub hash: String,
    /// Calls in each node now, by node name.
    pub live: HashMap<String, u64>,
    /// Routes taken in the last hour: node, outcome, count.
    pub routes: Vec<RouteCount>,
    /// The last reload's error, when it failed (the version above keeps serving).
    pub reload_error: Option<String>,
    /// The picture, with the counts.
    pub svg: String,
}

/// How often one route was taken.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteCount {
    pub node: String,
    pub outcome: String,
    pub count: u64,
}

/// `GET /api/flows/{scenario}`.
#[utoipa::path(
    get,
    path = "/api/flows/{scenario}",
    tag = "dashboard",
    operation_id = "flow",
    params(("scenario" = String, Path, description = "The scenario's name, as served")),
    responses(
        (status = 200, description = "The flow's picture with its live counts", body = FlowView),
        (status = 404, description = "No such scenario served", body = ErrorBody),
    )
)]
pub async fn show(
    State(s): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<FlowView>, ApiError> {
    let scenario = s.scenarios.get(&name).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("no scenario `{name}` is served"),
        )
    })?;
    let mut live: HashMap<String, u64> = HashMap::new();
    let mut taken = HashMap::new();
    if let Some(runtime) = &s.runtime {
        for call in runtime.live_board() {
            if call.scenario == scenario.name
                && let Some(node) = call.node
            {
                *live.entry(node).or_default() += 1;
            }
        }
        taken = runtime.flow_last_hour(&scenario.name);
    }
    let svg = draw(&scenario, &live, &taken)?;
    let mut routes: Vec<RouteCount> = taken
        .into_iter()
        .map(|((node, outcome), count)| RouteCount {
            node,
            outcome,
            count,
        })
        .collect();
    routes.sort_by(|a, b| (&a.node, &a.outcome).cmp(&(&b.node, &b.outcome)));
    let reload_error = s
        .control
        .as_ref()
        .and_then(crate::control::Controller::last_reload)
        .and_then(|r| r.error);
    Ok(Json(FlowView {
        scenario: scenario.name.clone(),
        hash: scenario.hash.to_string(),
        live,
        routes,
        reload_error,
        svg,
    }))
}

/// The picture: a box per node (its lines, and the calls in it now), the start and
/// the end, an arrow per pair of vertices labelled with its outcomes and their counts.
fn draw(
    scenario: &Scenario,
    live: &HashMap<String, u64>,
    taken: &HashMap<(String, String), u64>,
) -> Result<String, ApiError> {
    let dir = Orientation::TopToBottom;
    let mut graph = VisualGraph::new(dir);
    let mut add = |shape: ShapeKind, look: StyleAttr| {
        let size = get_shape_size(dir, &shape, look.font_size, false);
        graph.add_node(Element::create(shape, look, dir, size))
    };
    let start = add(ShapeKind::new_circle("start"), style(None));
    let finish = add(ShapeKind::new_double_circle("end"), style(None));
    let nodes: Vec<_> = scenario
        .nodes
        .iter()
        .map(|node| {
            let mut lines = picture::node_label(node);
            let here = live.get(&node.name).copied().unwrap_or(0);
            if here > 0 {
                lines.push(format!("● {here} on the line"));
            }
            let fill = (here > 0).then_some("#d7f5df");
            add(ShapeKind::new_box(&lines.join("\n")), style(fill))
        })
        .collect();
    graph.add_edge(Arrow::simple(""), start, nodes[scenario.start.index()]);
    for arrow in picture::arrows(scenario) {
        let from = scenario.nodes[arrow.from].name.clone();
        let label: Vec<String> = arrow
            .labels
            .iter()
            .zip(&arrow.outcomes)
            .map(
                |(label, outcome)| match taken.get(&(from.clone(), outcome.clone())) {
                    Some(n) => format!("{label} ×{n}"),
                    None => label.clone(),
                },
            )
            .collect();
        let to = arrow.to.map_or(finish, |t| nodes[t]);
        graph.add_edge(Arrow::simple(&label.join("\n")), nodes[arrow.from], to);
    }
    // The layout is a young crate: a panic in it costs this picture, not the API.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let mut svg = SVGWriter::new();
        graph.do_it(false, false, false, &mut svg);
        svg.finalize()
    }))
    .map_err(|_| ApiError::internal(format!("the flow of `{}` cannot be drawn", scenario.name)))
}

fn style(fill: Option<&str>) -> StyleAttr {
    let fill = Color::fast(fill.unwrap_or("white"));
    StyleAttr::new(Color::fast("#1d2330"), 1, Some(fill), 4, 13)
}
