//! The live calls board: for each call in progress, who is called, for which campaign,
//! and where in the flow it is now, for the dashboard's live view (seed 002's matrix).
//! A call writes its entry only when it enters a node (a few times a call), never per
//! event; readers copy the board, which stays small (one entry per call up).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

/// One call in progress, as the dashboard shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveCall {
    pub attempt_id: String,
    pub phone: String,
    pub name: String,
    /// The campaign it dials for (none for calls given on the command line).
    pub campaign: Option<String>,
    pub scenario: String,
    /// The node it is in (none before the customer answers).
    pub node: Option<String>,
    /// The verb of that node (`play`, `record`, `originate_operator`, …): what the
    /// dashboard colours it by.
    #[schema(value_type = Option<String>)]
    pub verb: Option<&'static str>,
    pub answered: bool,
    /// When the call started and entered its node, on the campaigns' wall clock (ms).
    pub started_ms: u64,
    pub node_since_ms: u64,
}

/// The calls in progress, by attempt id.
#[derive(Default)]
pub struct Board {
    calls: Mutex<HashMap<String, LiveCall>>,
}

impl Board {
    pub fn insert(&self, call: LiveCall) {
        self.lock().insert(call.attempt_id.clone(), call);
    }

    /// The call entered `node` (a `verb` node) at `at_ms`.
    pub fn entered(
        &self,
        attempt: &str,
        node: &str,
        verb: &'static str,
        answered: bool,
        at_ms: u64,
    ) {
        if let Some(call) = self.lock().get_mut(attempt) {
            call.node = Some(node.to_string());
            call.verb = Some(verb);
            call.answered = answered;
            call.node_since_ms = at_ms;
        }
    }

    pub fn remove(&self, attempt: &str) {
        self.lock().remove(attempt);
    }

    /// Every call in progress, the longest-running first.
    pub fn snapshot(&self) -> Vec<LiveCall> {
        let mut calls: Vec<LiveCall> = self.lock().values().cloned().collect();
        calls.sort_by(|a, b| (a.started_ms, &a.attempt_id).cmp(&(b.started_ms, &b.attempt_id)));
        calls
    }

    /// Never poisoned: nothing panics while holding it.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LiveCall>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, started_ms: u64) -> LiveCall {
        LiveCall {
            attempt_id: id.into(),
            phone: "+989120000000".into(),
            name: "Sara".into(),
            campaign: Some("spring".into()),
            scenario: "salehi".into(),
            node: None,
            verb: None,
            answered: false,
            started_ms,
            node_since_ms: started_ms,
        }
    }

    #[test]
    fn a_call_moves_through_nodes_and_leaves_the_board() {
        let board = Board::default();
        board.insert(call("b", 20));
        board.insert(call("a", 10));
        board.entered("b", "greeting", "play", true, 25);
        let calls = board.snapshot();
        assert_eq!(
            calls
                .iter()
                .map(|c| c.attempt_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(calls[1].node.as_deref(), Some("greeting"));
        assert_eq!(
            (calls[1].verb, calls[1].answered, calls[1].node_since_ms),
            (Some("play"), true, 25)
        );
        board.remove("a");
        board.entered("a", "gone", "play", true, 30);
        assert_eq!(board.snapshot().len(), 1);
    }
}
