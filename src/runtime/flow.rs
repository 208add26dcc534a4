//! How calls move through each scenario's flow over the last hour: for every route
//! taken, its node and outcome counted in one-minute buckets, for the dashboard's flow
//! picture. Keyed by node name and outcome name (not ids), so counts carry across a
//! reload that keeps the names. Memory stays bounded: a key per route of the scenarios
//! served, sixty buckets each, and keys idle for an hour are dropped when read.

use std::collections::HashMap;
use std::sync::Mutex;

/// Minutes the counts cover.
pub const WINDOW_MINUTES: u64 = 60;
const MINUTE_MS: u64 = 60_000;

/// One route's counts, one bucket a minute.
struct Buckets {
    /// (minute since the epoch, count), at `minute % WINDOW_MINUTES`.
    slots: [(u64, u32); WINDOW_MINUTES as usize],
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            slots: [(0, 0); WINDOW_MINUTES as usize],
        }
    }
}

impl Buckets {
    fn add(&mut self, minute: u64) {
        let slot = &mut self.slots[(minute % WINDOW_MINUTES) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 = slot.1.saturating_add(1);
    }

    /// Whether any count is younger than an hour at `now_minute` (or in its future,
    /// which another thread's clock reading can be).
    fn recent(&self, now_minute: u64) -> bool {
        self.slots
            .iter()
            .any(|(m, n)| *n > 0 && *m + WINDOW_MINUTES > now_minute)
    }

    fn total(&self, now_minute: u64) -> u64 {
        self.slots
            .iter()
            .filter(|(m, _)| *m + WINDOW_MINUTES > now_minute && *m <= now_minute)
            .map(|(_, n)| u64::from(*n))
            .sum()
    }
}

/// (node, outcome) → its counts.
type ByRoute = HashMap<(String, String), Buckets>;

/// Scenario → (node, outcome) → counts.
#[derive(Default)]
pub struct FlowStats {
    routes: Mutex<HashMap<String, ByRoute>>,
}

impl FlowStats {
    /// A call of `scenario` left `node` by `outcome` at `at_ms` (wall clock).
    pub fn record(&self, scenario: &str, node: &str, outcome: &str, at_ms: u64) {
        let mut routes = self.lock();
        let by_route = match routes.get_mut(scenario) {
            Some(by_route) => by_route,
            None => routes.entry(scenario.to_string()).or_default(),
        };
        by_route
            .entry((node.to_string(), outcome.to_string()))
            .or_default()
            .add(at_ms / MINUTE_MS);
    }

    /// Routes of `scenario` taken in the hour before `now_ms`: (node, outcome) → count.
    pub fn last_hour(&self, scenario: &str, now_ms: u64) -> HashMap<(String, String), u64> {
        let now_minute = now_ms / MINUTE_MS;
        let mut routes = self.lock();
        let Some(by_route) = routes.get_mut(scenario) else {
            return HashMap::new();
        };
        by_route.retain(|_, b| b.recent(now_minute));
        by_route
            .iter()
            .map(|(k, b)| (k.clone(), b.total(now_minute)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Never poisoned: nothing panics while holding it.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ByRoute>> {
        self.routes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_count_for_an_hour_then_fall_out() {
        let stats = FlowStats::default();
        let t0 = 10 * 3_600_000;
        stats.record("salehi", "ask", "yes", t0);
        stats.record("salehi", "ask", "yes", t0 + 1_000);
        stats.record("salehi", "ask", "no", t0 + 30 * 60_000);
        stats.record("agrad", "ask", "yes", t0);
        let at = |ms| stats.last_hour("salehi", ms);
        let key = |o: &str| ("ask".to_string(), o.to_string());
        assert_eq!(at(t0 + 1_000)[&key("yes")], 2);
        assert_eq!(at(t0 + 59 * 60_000)[&key("yes")], 2);
        assert_eq!(at(t0 + 59 * 60_000)[&key("no")], 1);
        let later = at(t0 + 61 * 60_000);
        assert!(!later.contains_key(&key("yes")), "an hour on, it is gone");
        assert_eq!(later[&key("no")], 1);
        // A bucket reused a full hour later starts again from zero.
        stats.record("salehi", "ask", "yes", t0 + 120 * 60_000);
        assert_eq!(at(t0 + 120 * 60_000)[&key("yes")], 1);
        assert!(stats.last_hour("nothing", t0).is_empty());
    }
}
