//! A store whose outbox fills as calls end, for the benchmarks that measure delivery:
//! a running campaign of leads, and reports written the way the dialer writes them
//! (leased, then finished in one commit per batch, one report per call).

use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::store::campaigns::Transition;
use dialflow::store::{Admission, AttemptEnd, Finished, LeadNext, NewLead, Store};

pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A store at `path` with a running campaign `bench` of `n` leads.
pub fn store_with_leads(path: &std::path::Path, n: usize) -> Store {
    let store = Store::open(path).unwrap();
    store
        .create_campaign("bench", CampaignSettings::for_scenario("salehi"), 0)
        .unwrap();
    let leads: Vec<NewLead> = (0..n)
        .map(|i| NewLead {
            phone: format!("+98912{i:07}"),
            ..NewLead::default()
        })
        .collect();
    store.import_leads("bench", &leads, 0).unwrap();
    store
        .transition("bench", Transition::Start, None, 0)
        .unwrap();
    store
}

/// Leases `count` leads and ends their attempts in batches of `batch` (one commit
/// each, as the dialer does), one NOT_INTERESTED report per call.
pub fn write_reports(store: &Store, count: usize, batch: usize) {
    let mut left = count;
    while left > 0 {
        let now = unix_ms();
        let leased = store
            .lease(
                "bench",
                now,
                batch.min(left),
                3_600_000,
                "salehi",
                "h",
                |_| Admission::Dial,
            )
            .unwrap();
        if leased.is_empty() {
            return;
        }
        let items: Vec<Finished> = leased
            .iter()
            .map(|l| Finished {
                attempt_id: l.attempt.id.clone(),
                end: AttemptEnd {
                    result: "not_interested".into(),
                    status: "NOT_INTERESTED".into(),
                    answered_ms: Some(now),
                    ended_ms: now,
                    ..AttemptEnd::default()
                },
                reports: vec![(
                    "NOT_INTERESTED".into(),
                    "not_interested".into(),
                    Some("No, thank you.".into()),
                )],
            })
            .collect();
        store.finish(&items, now, |_, _| LeadNext::Done).unwrap();
        left -= leased.len();
    }
}
