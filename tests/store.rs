//! The redb store: campaigns and their states, lead import with deduplication, leasing
//! with its checks, finishing with retries and DNC, counters, crash leftovers, reopening.

mod common;
use common::dirs::TempDir;

use std::collections::BTreeMap;

use dialflow::core::alerts::AlertKind;
use dialflow::core::campaign::settings::CampaignSettings;
use dialflow::store::campaigns::Transition;
use dialflow::store::{
    Admission, AttemptEnd, CampaignState, DncScope, Finished, LeadNext, LeadState, LiveReported,
    NewAlert, NewLead, Settled, Store, StoreError,
};

fn temp_store() -> (TempDir, Store) {
    let dir = TempDir::new("store");
    let store = Store::open(&dir.join("data/dialflow.redb")).unwrap();
    (dir, store)
}

fn lead(phone: &str) -> NewLead {
    NewLead {
        phone: phone.into(),
        name: format!("n{phone}"),
        time_zone: None,
        custom: BTreeMap::from([("plan".to_string(), "gold".to_string())]),
    }
}

fn running(store: &Store, name: &str, phones: &[&str]) {
    store
        .create_campaign(name, CampaignSettings::for_scenario("salehi"), 0)
        .unwrap();
    let leads: Vec<_> = phones.iter().map(|p| lead(p)).collect();
    store.import_leads(name, &leads, 0).unwrap();
    store.transition(name, Transition::Start, None, 0).unwrap();
}

fn lease_all(store: &Store, name: &str, now: u64) -> Vec<dialflow::store::Leased> {
    store
        .lease(name, now, 100, 60_000, "salehi", "abc", |_| Admission::Dial)
        .unwrap()
}

fn alert<'a>(campaign: &'a str, message: &'a str) -> NewAlert<'a> {
    NewAlert {
        kind: AlertKind::Quota,
        campaign,
        reason: "quota",
        message,
    }
}

fn end(result: &str, status: &str) -> AttemptEnd {
    AttemptEnd {
        result: result.into(),
        status: status.into(),
        ended_ms: 10,
        ..AttemptEnd::default()
    }
}

#[test]
fn import_skips_numbers_the_campaign_has() {
    let (_d, store) = temp_store();
    store
        .create_campaign("spring", CampaignSettings::for_scenario("salehi"), 0)
        .unwrap();
    let t = store
        .import_leads("spring", &[lead("+1"), lead("+2"), lead("+1")], 0)
        .unwrap();
    assert_eq!((t.added, t.duplicates), (2, 1));
    let t = store
        .import_leads("spring", &[lead("+2"), lead("+3")], 0)
        .unwrap();
    assert_eq!((t.added, t.duplicates), (1, 1));
    let counts = store.counts("spring").unwrap();
    assert_eq!(counts["leads"], 3);
    assert_eq!(counts["pending"], 3);
    let leads = store.leads("spring", 0, 10).unwrap();
    assert_eq!(leads.len(), 3);
    assert_eq!(leads[0].custom["plan"], "gold");
}

#[test]
fn nothing_is_leased_unless_the_campaign_runs() {
    let (_d, store) = temp_store();
    store
        .create_campaign("c", CampaignSettings::for_scenario("salehi"), 0)
        .unwrap();
    store.import_leads("c", &[lead("+1")], 0).unwrap();
    assert!(lease_all(&store, "c", 1).is_empty(), "a draft dials nobody");
    store.transition("c", Transition::Start, None, 0).unwrap();
    store.transition("c", Transition::Pause, None, 0).unwrap();
    assert!(
        lease_all(&store, "c", 1).is_empty(),
        "a paused campaign dials nobody"
    );
    store.transition("c", Transition::Start, None, 0).unwrap();
    let leased = lease_all(&store, "c", 1);
    assert_eq!(leased.len(), 1);
    assert!(
        lease_all(&store, "c", 1).is_empty(),
        "one live attempt per lead"
    );
}

#[test]
fn a_lease_writes_the_attempt_before_the_dial() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    let leased = lease_all(&store, "c", 5);
    assert_eq!(leased.len(), 2);
    assert_ne!(leased[0].attempt.id, leased[1].attempt.id);
    assert!(
        !leased[0].attempt.id.contains('-'),
        "ids route by their first `-`"
    );
    let open = store.open_attempts().unwrap();
    assert_eq!(
        open.len(),
        2,
        "both attempts are on disk before any originate"
    );
    let views = store.attempts("c", 0, 10).unwrap();
    assert!(
        views
            .iter()
            .all(|v| v.end.is_none() && v.start.scenario_hash == "abc")
    );
}

#[test]
fn dnc_numbers_are_not_dialed() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    store
        .add_dnc(&DncScope::Global, &["+1".into()], "asked", 0)
        .unwrap();
    store
        .add_dnc(&DncScope::Campaign("c".into()), &["+2".into()], "asked", 0)
        .unwrap();
    store
        .add_dnc(&DncScope::Campaign("other".into()), &["+3".into()], "x", 0)
        .unwrap();
    let leased = lease_all(&store, "c", 1);
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].lead.phone, "+3");
    let counts = store.counts("c").unwrap();
    assert_eq!(counts["dnc"], 2);
    assert_eq!(counts["pending"], 0);
}

#[test]
fn admission_can_postpone_or_refuse() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = store
        .lease("c", 5, 10, 1000, "s", "h", |l| match l.phone.as_str() {
            "+1" => Admission::Later(500),
            "+2" => Admission::Never("no time zone".into()),
            _ => Admission::Dial,
        })
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(store.next_due("c").unwrap(), Some(500));
    assert!(lease_all(&store, "c", 499).is_empty());
    assert_eq!(lease_all(&store, "c", 500).len(), 1);
    let skipped = store.lead_by_phone("c", "+2").unwrap().unwrap();
    assert_eq!(
        skipped.state,
        LeadState::Skipped {
            reason: "no time zone".into()
        }
    );
}

#[test]
fn finishing_retries_dnc_and_reports_in_one_commit() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = lease_all(&store, "c", 0);
    let finished: Vec<Finished> = leased
        .iter()
        .zip([
            ("busy", "BUSY"),
            ("banned", "BANNED"),
            ("not_interested", "NOT_INTERESTED"),
        ])
        .map(|(l, (r, s))| Finished {
            attempt_id: l.attempt.id.clone(),
            end: end(r, s),
            reports: vec![(s.into(), r.into(), None)],
        })
        .collect();
    let updated = store
        .finish(&finished, 100, |lead, end| match end.result.as_str() {
            "busy" => {
                assert_eq!(lead.attempts, 1);
                assert_eq!(lead.results["busy"], 1);
                LeadNext::RetryAt(600)
            }
            "banned" => LeadNext::Dnc,
            _ => LeadNext::Done,
        })
        .unwrap();
    assert_eq!(updated.len(), 3);
    // Idempotent: finishing again changes nothing.
    store.finish(&finished, 100, |_, _| LeadNext::Done).unwrap();
    let counts = store.counts("c").unwrap();
    assert_eq!(counts["pending"], 1);
    assert_eq!(counts["done"], 1);
    assert_eq!(counts["dnc"], 1);
    assert_eq!(counts["leased"], 0);
    assert_eq!(counts["status:BUSY"], 1);
    assert_eq!(store.outbox(0, 10).unwrap().len(), 3);
    assert!(store.dnc_entry("c", "+2").unwrap().is_some());
    assert!(store.open_attempts().unwrap().is_empty());
    assert!(lease_all(&store, "c", 599).is_empty());
    let again = lease_all(&store, "c", 600);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempt.number, 2);
}

#[test]
fn the_attempt_cap_ends_a_lead() {
    let (_d, store) = temp_store();
    let mut settings = CampaignSettings::for_scenario("s");
    settings.max_attempts = 1;
    store.create_campaign("c", settings, 0).unwrap();
    store.import_leads("c", &[lead("+1")], 0).unwrap();
    store.transition("c", Transition::Start, None, 0).unwrap();
    let l = lease_all(&store, "c", 0);
    store
        .finish(
            &[Finished {
                attempt_id: l[0].attempt.id.clone(),
                end: end("busy", "BUSY"),
                reports: vec![],
            }],
            1,
            |_, _| LeadNext::RetryAt(2),
        )
        .unwrap();
    assert!(lease_all(&store, "c", 10).is_empty());
    assert_eq!(store.counts("c").unwrap()["done"], 1);
}

#[test]
fn campaign_states_follow_their_rules() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    let err = store
        .transition("c", Transition::Complete, None, 0)
        .unwrap_err();
    assert!(err.to_string().contains("still has leads"), "{err}");
    let stopped = store
        .transition(
            "c",
            Transition::Stop {
                cancel_pending: true,
            },
            None,
            0,
        )
        .unwrap();
    assert_eq!(stopped.state, CampaignState::Stopped);
    assert_eq!(store.counts("c").unwrap()["cancelled"], 2);
    assert!(!store.has_work("c").unwrap());
    let err = store
        .transition("c", Transition::Pause, None, 0)
        .unwrap_err();
    assert!(matches!(err, StoreError::BadTransition { .. }));
    assert_eq!(err.to_string(), "campaign `c` is stopped: cannot pause it");
    store.transition("c", Transition::Archive, None, 0).unwrap();
    assert!(store.import_leads("c", &[lead("+9")], 0).is_err());
    assert!(matches!(
        store.create_campaign("c", CampaignSettings::for_scenario("s"), 0),
        Err(StoreError::CampaignExists(_))
    ));
    assert!(
        store
            .create_campaign("bad name", CampaignSettings::for_scenario("s"), 0)
            .is_err()
    );
    for bad in ["..", ".", "_x", ""] {
        assert!(
            store
                .create_campaign(bad, CampaignSettings::for_scenario("s"), 0)
                .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn recycle_puts_finished_leads_back() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    let leased = lease_all(&store, "c", 0);
    let finished: Vec<Finished> = leased
        .iter()
        .zip(["missed", "not_interested"])
        .map(|(l, r)| Finished {
            attempt_id: l.attempt.id.clone(),
            end: end(r, "X"),
            reports: vec![],
        })
        .collect();
    store.finish(&finished, 1, |_, _| LeadNext::Done).unwrap();
    assert_eq!(store.recycle("c", &["missed".into()], 5).unwrap(), 1);
    let again = lease_all(&store, "c", 5);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].lead.phone, "+1");
    assert_eq!(again[0].lead.round, 1);
    assert_eq!(again[0].attempt.number, 1);
}

#[test]
fn a_reopened_store_has_everything_and_a_second_opener_is_refused() {
    let dir = TempDir::new("store");
    let path = dir.join("s.redb");
    let first_id = {
        let store = Store::open(&path).unwrap();
        running(&store, "c", &["+1", "+2"]);
        assert!(matches!(Store::open(&path), Err(StoreError::InUse(_))));
        lease_all(&store, "c", 0)[0].attempt.id.clone()
    };
    let store = Store::open(&path).unwrap();
    let open = store.open_attempts().unwrap();
    assert_eq!(open.len(), 2);
    assert!(open.iter().any(|a| a.id == first_id));
    assert_eq!(store.campaign("c").unwrap().state, CampaignState::Running);
    // New attempt ids never repeat an old one.
    store
        .finish(
            &[Finished {
                attempt_id: first_id.clone(),
                end: end("busy", "BUSY"),
                reports: vec![],
            }],
            1,
            |_, _| LeadNext::RetryAt(2),
        )
        .unwrap();
    let next = lease_all(&store, "c", 2);
    assert_ne!(next[0].attempt.id, first_id);
}

#[test]
fn a_store_from_a_newer_dialflow_is_refused() {
    let dir = TempDir::new("store");
    let path = dir.join("s.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut meta = tx
                .open_table(redb::TableDefinition::<&str, u64>::new("meta"))
                .unwrap();
            meta.insert("schema_version", 99).unwrap();
        }
        tx.commit().unwrap();
    }
    let err = Store::open(&path).err().unwrap();
    assert!(
        err.to_string().contains("newer dialflow (schema 99"),
        "{err}"
    );
}

#[test]
fn a_lead_cancelled_during_its_call_is_not_retried() {
    let (_dir, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    let leased = lease_all(&store, "c", 0);
    assert_eq!(leased.len(), 2);
    // Cancelled while both calls are on: one by number, then the whole campaign.
    assert_eq!(store.cancel_leads("c", Some("+1")).unwrap(), 1);
    assert_eq!(store.cancel_leads("c", Some("+1")).unwrap(), 0, "once");
    let ends: Vec<Finished> = leased
        .iter()
        .map(|l| Finished {
            attempt_id: l.attempt.id.clone(),
            end: end("busy", "BUSY"),
            reports: vec![],
        })
        .collect();
    let updated = store
        .finish(&ends, 10, |_, _| LeadNext::RetryAt(600))
        .unwrap();
    let state_of = |phone: &str| {
        updated
            .iter()
            .find(|l| l.phone == phone)
            .map(|l| l.state.clone())
            .unwrap()
    };
    assert_eq!(state_of("+1"), LeadState::Cancelled);
    assert!(matches!(state_of("+2"), LeadState::Pending { due_ms: 600 }));
    let counts = store.counts("c").unwrap();
    assert_eq!(counts["cancelled"], 1);
    assert_eq!(counts["pending"], 1);
    assert_eq!(counts["leased"], 0);
    // Nothing left to dial for +1, even much later.
    let again = lease_all(&store, "c", 10_000);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].lead.phone, "+2");
}

#[test]
fn a_campaign_with_calls_on_cannot_be_archived_yet() {
    let (_dir, store) = temp_store();
    running(&store, "c", &["+1"]);
    let leased = lease_all(&store, "c", 0);
    store
        .transition(
            "c",
            Transition::Stop {
                cancel_pending: false,
            },
            None,
            1,
        )
        .unwrap();
    let e = store
        .transition("c", Transition::Archive, None, 2)
        .unwrap_err();
    assert!(e.to_string().contains("calls are still on"), "{e}");
    store
        .finish(
            &[Finished {
                attempt_id: leased[0].attempt.id.clone(),
                end: end("no", "NOT_INTERESTED"),
                reports: vec![],
            }],
            3,
            |_, _| LeadNext::Done,
        )
        .unwrap();
    store.transition("c", Transition::Archive, None, 4).unwrap();
}

#[test]
fn a_pause_and_its_alert_are_one_change() {
    let (_dir, store) = temp_store();
    running(&store, "c", &["+1"]);
    store
        .transition_with_alert(
            "c",
            Transition::Pause,
            Some("quota".into()),
            Some(alert("c", "paused: quota")),
            5,
        )
        .unwrap();
    let alerts = store.alerts(Some("c")).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].message, "paused: quota");
    // Refused (already paused): no alert either.
    assert!(
        store
            .transition_with_alert("c", Transition::Pause, None, Some(alert("c", "again")), 6)
            .is_err()
    );
    assert_eq!(store.alerts(Some("c")).unwrap().len(), 1);
}

#[test]
fn dnc_lists_come_in_pages() {
    let (_dir, store) = temp_store();
    running(&store, "c", &["+1"]);
    let global: Vec<String> = (0..5).map(|i| format!("+9891200000{i}")).collect();
    store
        .add_dnc(&DncScope::Global, &global, "asked", 1)
        .unwrap();
    store
        .add_dnc(
            &DncScope::Campaign("c".into()),
            &["+15550100".into(), "+15550101".into()],
            "x",
            1,
        )
        .unwrap();
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.dnc_page(&DncScope::Global, &after, 2).unwrap();
        let Some((last, _)) = page.last() else { break };
        assert!(page.len() <= 2);
        after = last.clone();
        seen.extend(page.into_iter().map(|(p, _)| p));
    }
    assert_eq!(
        seen, global,
        "every number once, in order, none of the campaign's"
    );
    let campaign = store
        .dnc_page(&DncScope::Campaign("c".into()), "", 10)
        .unwrap();
    assert_eq!(campaign.len(), 2);
}

#[test]
fn the_outbox_keeps_only_what_is_owed_and_parks_refusals_with_an_alert() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = lease_all(&store, "c", 0);
    let finished: Vec<Finished> = leased
        .iter()
        .map(|l| Finished {
            attempt_id: l.attempt.id.clone(),
            end: AttemptEnd {
                answered_ms: Some(5),
                ..end("failed:stt_failure", "NOT_INTERESTED")
            },
            reports: vec![("NOT_INTERESTED".into(), "failed:stt_failure".into(), None)],
        })
        .collect();
    store.finish(&finished, 100, |_, _| LeadNext::Done).unwrap();
    // Each report carries what its body needs, taken at the end.
    let owed = store.outbox(0, 10).unwrap();
    assert_eq!(owed.len(), 3);
    let first = &owed[0];
    assert_eq!(
        (first.scenario.as_str(), first.scenario_hash.as_str()),
        ("salehi", "abc")
    );
    assert_eq!(first.reason.as_deref(), Some("stt_failure"));
    assert_eq!((first.answered_ms, first.ended_ms), (Some(5), Some(10)));
    assert_eq!(first.custom["plan"], "gold");

    store.outbox_delivered(owed[0].seq).unwrap();
    store.outbox_delivered(owed[0].seq).unwrap(); // idempotent
    store
        .outbox_park(owed[1].seq, 400, "bad phone", 200)
        .unwrap();
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.pending, counts.parked), (1, 1));
    let parked = store.parked_reports(10).unwrap();
    assert_eq!(
        (parked[0].status, parked[0].answer.as_str()),
        (400, "bad phone")
    );
    let alerts = store.alerts(Some("c")).unwrap();
    assert!(
        alerts.iter().any(|a| a
            .message
            .contains("parked: the panel answered 400: bad phone")),
        "{alerts:?}"
    );
    assert!(matches!(
        store.retry_parked(Some(owed[0].seq)),
        Err(StoreError::NoParkedReport(_))
    ));
    // A retry puts it back under its own sequence number, in its place.
    assert_eq!(store.retry_parked(None).unwrap(), 1);
    let seqs: Vec<u64> = store.outbox(0, 10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [owed[1].seq, owed[2].seq]);
    // Delivered reports leave the file: the table is empty once all are.
    for seq in seqs {
        store.outbox_delivered(seq).unwrap();
    }
    let space = store.space().unwrap();
    let outbox = space.tables.iter().find(|t| t.name == "outbox").unwrap();
    assert_eq!(outbox.entries, 0);
}

#[test]
fn a_status_reported_during_the_call_is_not_reported_again_at_its_end() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    let leased = lease_all(&store, "c", 0);
    let live = |attempt: &str, status: &str| LiveReported {
        attempt_id: attempt.into(),
        status: status.into(),
        result: "connected_to_operator".into(),
        transcript: Some("yes".into()),
        at_ms: 7,
        answered_ms: Some(5),
    };
    let (a, b) = (&leased[0].attempt.id, &leased[1].attempt.id);
    // The first call reports CONNECTED while on, twice (a second is dropped).
    assert_eq!(
        store
            .report_live(&[live(a, "CONNECTED"), live(a, "CONNECTED")])
            .unwrap(),
        1
    );
    let during = store.outbox(0, 10).unwrap();
    assert_eq!(during.len(), 1);
    assert_eq!((during[0].ended_ms, during[0].answered_ms), (None, Some(5)));
    assert_eq!(during[0].transcript.as_deref(), Some("yes"));
    // Both end CONNECTED: the first's is not written again, the second's is.
    let finished: Vec<Finished> = [a, b]
        .iter()
        .map(|id| Finished {
            attempt_id: id.to_string(),
            end: end("connected_to_operator", "CONNECTED"),
            reports: vec![("CONNECTED".into(), "connected_to_operator".into(), None)],
        })
        .collect();
    store.finish(&finished, 100, |_, _| LeadNext::Done).unwrap();
    let owed = store.outbox(0, 10).unwrap();
    let keys: Vec<(String, String)> = owed
        .iter()
        .map(|e| (e.attempt.clone(), e.status.clone()))
        .collect();
    assert_eq!(
        keys,
        [
            (a.clone(), "CONNECTED".to_string()),
            (b.clone(), "CONNECTED".to_string())
        ]
    );
    // A report that comes after its call's end is left out: the end wrote it.
    assert_eq!(store.report_live(&[live(b, "CONNECTED")]).unwrap(), 0);
    assert_eq!(store.outbox(0, 10).unwrap().len(), 2);
}

#[test]
fn the_same_alert_is_queued_once_per_window_with_the_repeats_counted() {
    let (_dir, store) = temp_store();
    store.add_alert(&alert("c", "off"), 0).unwrap();
    assert!(
        store.alert_outbox(10).unwrap().is_empty(),
        "without alert delivery, alerts are only kept"
    );
    store.set_alert_delivery(Some(std::time::Duration::from_secs(300)));
    store.add_alert(&alert("c", "first"), 1_000).unwrap();
    store.add_alert(&alert("c", "again"), 2_000).unwrap();
    store.add_alert(&alert("c", "and again"), 200_000).unwrap();
    store
        .add_alert(&alert("d", "another campaign"), 2_500)
        .unwrap();
    let breaker = NewAlert {
        kind: AlertKind::Breaker,
        ..alert("c", "another kind")
    };
    store.add_alert(&breaker, 3_000).unwrap();
    let queued = |store: &Store| -> Vec<(String, u64)> {
        let out = store.alert_outbox(10).unwrap();
        out.iter()
            .map(|o| (o.alert.message.clone(), o.repeats))
            .collect()
    };
    assert_eq!(
        queued(&store),
        [
            ("first".to_string(), 0),
            ("another campaign".to_string(), 0),
            ("another kind".to_string(), 0)
        ]
    );
    store
        .add_alert(&alert("c", "after the window"), 301_000)
        .unwrap();
    assert_eq!(queued(&store)[3], ("after the window".to_string(), 2));
    assert_eq!(
        store.alerts(Some("c")).unwrap().len(),
        6,
        "every one is kept"
    );
    let first = store.alert_outbox(1).unwrap()[0].alert.seq;
    store.alert_sent(first).unwrap();
    assert_eq!(queued(&store).len(), 3);
}

#[test]
fn several_reports_settle_in_one_transaction() {
    let (_dir, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let finished: Vec<Finished> = lease_all(&store, "c", 0)
        .iter()
        .map(|l| Finished {
            attempt_id: l.attempt.id.clone(),
            end: end("busy", "BUSY"),
            reports: vec![("BUSY".into(), "busy".into(), None)],
        })
        .collect();
    store.finish(&finished, 100, |_, _| LeadNext::Done).unwrap();
    let owed: Vec<u64> = store.outbox(0, 10).unwrap().iter().map(|e| e.seq).collect();
    let settled = [
        Settled::Delivered(owed[0]),
        Settled::Parked {
            seq: owed[1],
            status: 422,
            answer: "no such lead".into(),
        },
        Settled::Delivered(owed[0]), // twice: idempotent
    ];
    store.outbox_settle(&settled, 200).unwrap();
    let left: Vec<u64> = store.outbox(0, 10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(left, [owed[2]]);
    let parked = store.parked_reports(10).unwrap();
    assert_eq!((parked[0].entry.seq, parked[0].status), (owed[1], 422));
    assert_eq!(
        store.alerts(Some("c")).unwrap().len(),
        1,
        "the parked one's alert"
    );
}

#[test]
fn the_lead_table_shows_each_lead_s_latest_attempt_with_its_amd_verdict_and_digits() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = lease_all(&store, "c", 0);
    let mut first = end("consent_given", "CONNECTED");
    first.amd_status = Some("HUMAN".into());
    first.amd_cause = Some("HUMAN-1-1".into());
    first.digits = Some("1".into());
    first.answered_ms = Some(5);
    let finished = vec![
        Finished {
            attempt_id: leased[0].attempt.id.clone(),
            end: first.clone(),
            reports: vec![],
        },
        Finished {
            attempt_id: leased[1].attempt.id.clone(),
            end: end("banned", "BANNED"),
            reports: vec![],
        },
    ];
    store
        .finish(&finished, 10, |_, e| match e.result.as_str() {
            "banned" => LeadNext::Dnc,
            _ => LeadNext::Done,
        })
        .unwrap();
    let rows = store.lead_rows("c", 0, 10).unwrap();
    assert_eq!(rows.len(), 3);
    let last = rows[0].last.as_ref().expect("its attempt");
    assert_eq!(last.start.id, leased[0].attempt.id);
    assert_eq!(last.end.as_ref(), Some(&first));
    assert!(rows[2].last.is_none(), "on its call: nothing finished yet");
    // A page starts after the last id of the previous one.
    let page = store.lead_rows("c", rows[0].lead.id, 1).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].lead.id, rows[1].lead.id);

    // Recycled: one more attempt of this round, or a fresh round.
    let id = rows[0].lead.id;
    let again = store.recycle_lead("c", id, false, 20).unwrap();
    assert_eq!(
        (again.state.clone(), again.attempts),
        (LeadState::Pending { due_ms: 20 }, 1)
    );
    let e = store.recycle_lead("c", id, true, 20).unwrap_err();
    assert!(e.to_string().contains("already waiting"), "{e}");
    // Never a number on the DNC list: no re-dial after a rejection.
    let e = store
        .recycle_lead("c", rows[1].lead.id, true, 20)
        .unwrap_err();
    assert!(e.to_string().contains("do-not-call"), "{e}");
    assert_eq!(store.counts("c").unwrap()["pending"], 1);

    // Deleted only once the campaign no longer runs.
    let e = store.delete_lead("c", id).unwrap_err();
    assert!(matches!(e, StoreError::BadTransition { .. }), "{e}");
    store.transition("c", Transition::Pause, None, 30).unwrap();
    let e = store.delete_lead("c", rows[2].lead.id).unwrap_err();
    assert!(e.to_string().contains("on a call"), "{e}");
    store.delete_lead("c", id).unwrap();
    assert_eq!(store.lead_rows("c", 0, 10).unwrap().len(), 2);
    assert_eq!(store.counts("c").unwrap()["leads"], 2);
    assert_eq!(store.counts("c").unwrap()["pending"], 0);
    assert!(store.lead_by_phone("c", "+1").unwrap().is_none());
    assert!(matches!(
        store.delete_lead("c", id),
        Err(StoreError::NoLead(_))
    ));
}

#[test]
fn agents_change_state_by_the_rules_and_every_change_is_logged() {
    use dialflow::core::agents::{AgentEvent, AgentState};
    use dialflow::store::NewAgent;
    let (dir, store) = temp_store();
    let new = |id: &str| NewAgent {
        id: id.into(),
        name: "Ali".into(),
        endpoint: "PJSIP/1001".into(),
        queues: vec!["sales".into()],
        campaigns: vec!["c".into()],
    };
    let e = store.put_agent(new("no spaces"), 0).unwrap_err();
    assert!(matches!(e, StoreError::BadInput(_)), "{e}");
    store.put_agent(new("ali"), 0).unwrap();
    for (event, at) in [
        (AgentEvent::Login, 10),
        (AgentEvent::Ready, 20),
        (
            AgentEvent::Reserve {
                attempt: "a1".into(),
            },
            30,
        ),
        (AgentEvent::Bridged, 31),
        (AgentEvent::CallEnded { wrap_up_ms: 60_000 }, 90),
    ] {
        store.agent_event("ali", &event, at).unwrap();
    }
    // A refused event changes nothing and logs nothing.
    let e = store
        .agent_event(
            "ali",
            &AgentEvent::Reserve {
                attempt: "a2".into(),
            },
            95,
        )
        .unwrap_err();
    assert!(e.to_string().contains("wrap_up"), "{e}");
    // Asking for a break during wrap-up changes no state: nothing logged either.
    store
        .agent_event(
            "ali",
            &AgentEvent::Break {
                reason: "lunch".into(),
            },
            96,
        )
        .unwrap();
    let after = store
        .agent_event("ali", &AgentEvent::Disposed, 100)
        .unwrap();
    assert_eq!(
        after.agent.state,
        AgentState::Break {
            reason: "lunch".into()
        }
    );
    let log = store.agent_log("ali", 0, 100).unwrap();
    let moves: Vec<(u64, &str, &str)> = log
        .iter()
        .map(|l| (l.at_ms, l.from.as_str(), l.to.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            (10, "offline", "break:not_ready"),
            (20, "break:not_ready", "available"),
            (30, "available", "reserved"),
            (31, "reserved", "on_call"),
            (90, "on_call", "wrap_up"),
            (100, "wrap_up", "break:lunch"),
        ]
    );
    assert_eq!(log[3].attempt.as_deref(), Some("a1"));
    assert_eq!(store.agent_log("ali", 4, 1).unwrap()[0].to, "wrap_up");
    // Since a time: from the change in force then (it says the state at that time).
    let since = |from: u64| -> Vec<u64> {
        let log = store.agent_log_since("ali", from).unwrap();
        log.iter().map(|l| l.at_ms).collect()
    };
    assert_eq!(since(50), [31, 90, 100], "on a call since 31");
    assert_eq!(since(90), [90, 100], "a change at the time itself");
    assert_eq!(since(5), [10, 20, 30, 31, 90, 100], "before the first: all");
    assert_eq!(since(500), [100], "after the last: the last");
    assert!(store.agent_log_since("nobody", 0).unwrap().is_empty());
    // Updating who it is keeps its state; the store keeps both across a reopen.
    let mut renamed = new("ali");
    renamed.name = "Ali R.".into();
    store.put_agent(renamed, 200).unwrap();
    let path = dir.join("data/dialflow.redb");
    drop(store);
    let store = Store::open(&path).unwrap();
    let ali = store.agent("ali").unwrap();
    assert_eq!((ali.name.as_str(), ali.agent.since_ms), ("Ali R.", 100));
    assert_eq!(ali.agent.state.name(), "break:lunch");
    assert_eq!(store.agents().unwrap().len(), 1);
    assert!(matches!(store.agent("nobody"), Err(StoreError::NoAgent(_))));
}

#[test]
fn a_version_4_file_gets_its_answered_calls_counted_when_opened() {
    let (dir, store) = temp_store();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = lease_all(&store, "c", 0);
    let answered = |ms: u64| {
        let mut e = end("not_interested", "NOT_INTERESTED");
        e.answered_ms = Some(ms);
        e.ended_ms = ms + 12_000;
        e
    };
    let finished: Vec<Finished> = leased
        .iter()
        .zip([Some(answered(1)), Some(answered(2)), None])
        .map(|(l, e)| Finished {
            attempt_id: l.attempt.id.clone(),
            end: e.unwrap_or_else(|| end("missed", "MISSED")),
            reports: vec![],
        })
        .collect();
    store.finish(&finished, 20, |_, _| LeadNext::Done).unwrap();
    assert_eq!(store.counts("c").unwrap()["answered"], 2);
    // As a version 4 dialflow left it: no such counters.
    let path = dir.join("data/dialflow.redb");
    drop(store);
    as_left_by_version(&path, 4, |tx| {
        let counters = redb::TableDefinition::<(&str, &str), u64>::new("counters");
        let mut counters = tx.open_table(counters).unwrap();
        counters.remove(("c", "answered")).unwrap();
        counters.remove(("c", "talk_ms")).unwrap();
    });
    let store = Store::open(&path).unwrap();
    let counts = store.counts("c").unwrap();
    assert_eq!((counts["answered"], counts["talk_ms"]), (2, 24_000));
    assert!(
        store.agents().unwrap().is_empty(),
        "the agents' tables are there"
    );
}

#[test]
fn a_lead_s_history_is_its_own_attempts_in_order_also_in_a_file_from_before_the_index() {
    let (dir, store) = temp_store();
    running(&store, "c", &["+1", "+2"]);
    // Three rounds: both leads are called each time, and retried.
    let mut ids: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for round in 0..3u64 {
        let leased = lease_all(&store, "c", round * 100);
        assert_eq!(leased.len(), 2, "round {round}");
        let finished: Vec<Finished> = leased
            .iter()
            .map(|l| {
                ids.entry(l.attempt.lead_id)
                    .or_default()
                    .push(l.attempt.id.clone());
                Finished {
                    attempt_id: l.attempt.id.clone(),
                    end: end("busy", "BUSY"),
                    reports: vec![],
                }
            })
            .collect();
        store
            .finish(&finished, round * 100 + 10, |_, _| {
                LeadNext::RetryAt(round * 100 + 50)
            })
            .unwrap();
    }
    let history = |store: &Store, lead: u64| -> Vec<String> {
        let (record, attempts) = store.lead_history(lead).unwrap();
        assert_eq!(record.id, lead);
        attempts.into_iter().map(|a| a.attempt.start.id).collect()
    };
    for (lead, attempts) in &ids {
        assert_eq!(&history(&store, *lead), attempts);
    }
    // As a version 7 dialflow left it: no listing by lead.
    let path = dir.join("data/dialflow.redb");
    drop(store);
    as_left_by_version(&path, 7, |tx| {
        let by_lead = redb::TableDefinition::<(u64, u64), ()>::new("lead_attempts");
        assert!(tx.delete_table(by_lead).unwrap());
    });
    let store = Store::open(&path).unwrap();
    for (lead, attempts) in &ids {
        assert_eq!(
            &history(&store, *lead),
            attempts,
            "lead {lead} after migrating"
        );
    }
    assert!(matches!(
        store.lead_history(999),
        Err(StoreError::NoLead(999))
    ));
}

/// Rewrites the closed store at `path` as an older dialflow left it: its schema
/// `version`, and what `undo` takes away of the newer ones' tables.
fn as_left_by_version(
    path: &std::path::Path,
    version: u64,
    undo: impl FnOnce(&redb::WriteTransaction),
) {
    let db = redb::Database::open(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let meta = redb::TableDefinition::<&str, u64>::new("meta");
        let mut meta = tx.open_table(meta).unwrap();
        meta.insert("schema_version", version).unwrap();
    }
    undo(&tx);
    tx.commit().unwrap();
}

fn disposition(code: &str, result: &str, status: &str) -> dialflow::store::Disposition {
    dialflow::store::Disposition {
        code: code.into(),
        result: result.into(),
        status: status.into(),
        notes: Some(format!("{code} notes")),
        agent: "ann".into(),
        at_ms: 500,
        callback_at_ms: None,
        callback_agent: None,
        dnc: false,
    }
}

fn dispose(
    store: &Store,
    attempt: &str,
    d: dialflow::store::Disposition,
    next: LeadNext,
) -> Result<dialflow::store::Disposition, StoreError> {
    let new = dialflow::store::NewDisposition {
        attempt_id: attempt.into(),
        disposition: d,
    };
    store.set_disposition(&new, 500, |_, _| next)
}

#[test]
fn a_disposition_becomes_the_attempt_s_result_reports_its_status_and_moves_the_lead() {
    let dir = TempDir::new("store");
    let path = dir.join("s.redb");
    let store = Store::open(&path).unwrap();
    running(&store, "c", &["+1", "+2", "+3"]);
    let leased = lease_all(&store, "c", 0);
    let ids: Vec<String> = leased.iter().map(|l| l.attempt.id.clone()).collect();
    // Not ended yet: the dialer records the end a moment after the call.
    let early = dispose(
        &store,
        &ids[0],
        disposition("sale", "x", "SALE"),
        LeadNext::Done,
    );
    assert!(matches!(early, Err(StoreError::NotEnded(_))), "{early:?}");
    let finished: Vec<Finished> = ids
        .iter()
        .map(|id| Finished {
            attempt_id: id.clone(),
            end: end("connected_to_operator", "CONNECTED"),
            reports: vec![("CONNECTED".into(), "connected_to_operator".into(), None)],
        })
        .collect();
    store.finish(&finished, 100, |_, _| LeadNext::Done).unwrap();
    assert_eq!(store.outbox(0, 10).unwrap().len(), 3);

    // A sale: a new status, reported once; the lead is done by the rules' decision.
    let sale = dispose(
        &store,
        &ids[0],
        disposition("sale", "interested", "SALE"),
        LeadNext::Done,
    );
    assert_eq!(sale.unwrap().code, "sale");
    let again = dispose(
        &store,
        &ids[0],
        disposition("sale", "interested", "SALE"),
        LeadNext::Done,
    );
    assert!(
        matches!(again, Err(StoreError::Disposed(_))),
        "one per attempt"
    );
    let reports = store.outbox(0, 10).unwrap();
    assert_eq!(reports.len(), 4);
    let last = reports.last().unwrap();
    assert_eq!(
        (
            last.attempt.as_str(),
            last.status.as_str(),
            last.result.as_str()
        ),
        (ids[0].as_str(), "SALE", "interested")
    );
    assert_eq!(last.ended_ms, Some(10));
    let counts = store.counts("c").unwrap();
    assert_eq!((counts["status:CONNECTED"], counts["status:SALE"]), (2, 1));

    // The status the call reported already is not reported again.
    let same = disposition("talked", "connected_to_operator", "CONNECTED");
    dispose(&store, &ids[1], same, LeadNext::Done).unwrap();
    assert_eq!(
        store.outbox(0, 10).unwrap().len(),
        4,
        "CONNECTED went out with the end"
    );

    // A callback for ann at 9,000: pending then, kept for her; the third is blocked.
    let callback = dialflow::store::Disposition {
        callback_at_ms: Some(9_000),
        callback_agent: Some("ann".into()),
        ..disposition("call_back", "callback", "CALLBACK")
    };
    let twice = dispose(&store, &ids[1], callback, LeadNext::Done);
    assert!(matches!(twice, Err(StoreError::Disposed(_))), "{twice:?}");
    let callback = dialflow::store::Disposition {
        callback_at_ms: Some(9_000),
        callback_agent: Some("ann".into()),
        ..disposition("call_back", "callback", "CALLBACK")
    };
    dispose(&store, &ids[2], callback, LeadNext::Done).unwrap();
    let leads = store.leads("c", 0, 10).unwrap();
    let third = leads.iter().find(|l| l.phone == "+3").unwrap();
    assert_eq!(third.state, LeadState::Pending { due_ms: 9_000 });
    assert_eq!(third.callback_agent.as_deref(), Some("ann"));
    assert_eq!(third.last_result.as_deref(), Some("callback"));
    assert!(
        !third.results.contains_key("connected_to_operator"),
        "the result replaced"
    );
    assert!(lease_all(&store, "c", 8_999).is_empty());
    let counts = store.counts("c").unwrap();
    assert_eq!((counts["pending"], counts["done"]), (1, 2));
    drop(store);

    // Reopened: every disposition is still on its attempt, and the callback due.
    let store = Store::open(&path).unwrap();
    let kept = store.disposition(&ids[0]).unwrap().unwrap();
    assert_eq!(
        (kept.code.as_str(), kept.notes.as_deref()),
        ("sale", Some("sale notes"))
    );
    assert_eq!(lease_all(&store, "c", 9_000).len(), 1);
}

#[test]
fn a_dnc_disposition_blocks_the_number_and_ends_the_lead() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1"]);
    let id = lease_all(&store, "c", 0)[0].attempt.id.clone();
    let finished = Finished {
        attempt_id: id.clone(),
        end: end("busy", "BUSY"),
        reports: vec![],
    };
    store
        .finish(&[finished], 100, |_, _| LeadNext::RetryAt(600))
        .unwrap();
    let remove = dialflow::store::Disposition {
        dnc: true,
        ..disposition("remove", "banned", "BANNED")
    };
    dispose(&store, &id, remove, LeadNext::RetryAt(700)).unwrap();
    let entry = store.dnc_entry("c", "+1").unwrap().expect("blocked");
    assert_eq!(entry.reason, "disposition remove by agent ann");
    let lead = &store.leads("c", 0, 1).unwrap()[0];
    assert_eq!(lead.state, LeadState::Dnc);
    assert!(
        lease_all(&store, "c", 700).is_empty(),
        "no retry of a blocked number"
    );
    let counts = store.counts("c").unwrap();
    assert_eq!((counts["pending"], counts["dnc"]), (0, 1));
}

#[test]
fn a_disposition_does_not_report_a_status_the_call_reported_while_it_was_on() {
    let (_d, store) = temp_store();
    running(&store, "c", &["+1"]);
    let id = lease_all(&store, "c", 0)[0].attempt.id.clone();
    let live = LiveReported {
        attempt_id: id.clone(),
        status: "CONNECTED".into(),
        result: "connected_to_operator".into(),
        transcript: None,
        at_ms: 7,
        answered_ms: Some(5),
    };
    assert_eq!(store.report_live(&[live]).unwrap(), 1);
    // It ends HANGUP: CONNECTED went out while it was on, HANGUP at its end.
    let finished = Finished {
        attempt_id: id.clone(),
        end: end("hangup", "HANGUP"),
        reports: vec![("HANGUP".into(), "hangup".into(), None)],
    };
    store
        .finish(&[finished], 100, |_, _| LeadNext::Done)
        .unwrap();
    let view = store.attempt(&id).unwrap();
    assert_eq!(view.end.unwrap().reported, ["CONNECTED", "HANGUP"]);
    let talked = disposition("talked", "connected_to_operator", "CONNECTED");
    dispose(&store, &id, talked, LeadNext::Done).unwrap();
    let statuses: Vec<String> = store
        .outbox(0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, ["CONNECTED", "HANGUP"], "no second CONNECTED");
    let counts = store.counts("c").unwrap();
    assert_eq!(
        (counts["status:CONNECTED"], counts["status:HANGUP"]),
        (1, 0),
        "the disposition's status stands for the call's in the counts"
    );
}
