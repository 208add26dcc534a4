//! The agents' desk over a real store: longest-idle agents for the oldest waiting
//! calls, reservations given back whatever ends the call, wrap-ups that run out, and a
//! restart that leaves no agent held by a call that is gone.

mod common;
use common::dirs::TempDir;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use dialflow::core::agents::{AgentEvent, AgentState};
use dialflow::desk::{Desk, DeskError, NoticeKind, Ticket, WallClock};
use dialflow::store::{NewAgent, Store};

struct Fixture {
    _dir: TempDir,
    path: std::path::PathBuf,
    now: Arc<AtomicU64>,
}

impl Fixture {
    fn new(agents: &[(&str, &[&str])]) -> Fixture {
        let dir = TempDir::new("desk");
        let path = dir.join("dialflow.redb");
        let store = Store::open(&path).unwrap();
        for (id, queues) in agents {
            store
                .put_agent(
                    NewAgent {
                        id: id.to_string(),
                        name: id.to_uppercase(),
                        endpoint: format!("PJSIP/{id}"),
                        queues: queues.iter().map(|q| q.to_string()).collect(),
                        campaigns: Vec::new(),
                    },
                    0,
                )
                .unwrap();
        }
        Fixture {
            _dir: dir,
            path,
            now: Arc::new(AtomicU64::new(1_000)),
        }
    }

    fn open(&self) -> Arc<Desk> {
        let now = Arc::clone(&self.now);
        let clock: WallClock = Arc::new(move || now.load(Ordering::SeqCst));
        Desk::open(Arc::new(Store::open(&self.path).unwrap()), clock).unwrap()
    }

    fn at(&self, ms: u64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

fn ready(desk: &Desk, fx: &Fixture, agent: &str, at: u64) {
    fx.at(at);
    desk.act(agent, AgentEvent::Login).unwrap();
    desk.act(agent, AgentEvent::Ready).unwrap();
}

fn ticket(attempt: &str, queue: &str) -> Ticket {
    Ticket {
        attempt: attempt.into(),
        queue: queue.into(),
        agent: None,
        campaign: Some("spring".into()),
        wrap_up_ms: 30_000,
    }
}

fn state(desk: &Desk, agent: &str) -> String {
    desk.agent(agent).unwrap().agent.state.name()
}

#[tokio::test]
async fn the_longest_idle_agent_of_the_queue_takes_the_call() {
    let fx = Fixture::new(&[("ann", &["sales"]), ("bob", &["sales"]), ("cy", &["care"])]);
    let desk = fx.open();
    ready(&desk, &fx, "bob", 2_000);
    ready(&desk, &fx, "ann", 3_000);
    ready(&desk, &fx, "cy", 1_000);
    let got = desk.request(ticket("a1", "sales")).await.unwrap();
    assert_eq!(got.agent, "bob", "bob has waited since 2 s, ann since 3 s");
    assert_eq!(
        got.reach,
        dialflow::core::call::AgentReach::Ring {
            endpoint: "PJSIP/bob".into()
        }
    );
    assert_eq!(state(&desk, "bob"), "reserved");
    let got = desk.request(ticket("a2", "sales")).await.unwrap();
    assert_eq!(got.agent, "ann");
    let staffing = desk.staffing("spring");
    assert_eq!((staffing.available, staffing.busy), (1, 2));
}

#[tokio::test]
async fn a_waiting_call_gets_the_first_agent_who_becomes_free() {
    let fx = Fixture::new(&[("ann", &["sales"]), ("bob", &["care"])]);
    let desk = fx.open();
    ready(&desk, &fx, "bob", 1_000);
    let mut first = desk.request(ticket("a1", "sales"));
    let mut second = desk.request(ticket("a2", "sales"));
    assert!(first.try_recv().is_err(), "no agent of `sales` yet");
    assert_eq!(desk.staffing("spring").waiting_calls, 2);
    ready(&desk, &fx, "ann", 2_000);
    assert_eq!(first.try_recv().unwrap().agent, "ann", "oldest call first");
    assert!(second.try_recv().is_err());
    desk.finished("a2");
    assert_eq!(desk.staffing("spring").waiting_calls, 0, "withdrawn");
}

#[tokio::test]
async fn no_call_reaches_an_agent_in_wrap_up_or_on_a_break() {
    let fx = Fixture::new(&[("ann", &["sales"])]);
    let desk = fx.open();
    ready(&desk, &fx, "ann", 1_000);
    desk.request(ticket("a1", "sales")).await.unwrap();
    desk.bridged("a1");
    assert_eq!(state(&desk, "ann"), "on_call");
    fx.at(5_000);
    desk.finished("a1");
    assert_eq!(state(&desk, "ann"), "wrap_up");
    let mut waiting = desk.request(ticket("a2", "sales"));
    assert!(waiting.try_recv().is_err(), "in wrap-up");
    desk.act(
        "ann",
        AgentEvent::Break {
            reason: "lunch".into(),
        },
    )
    .unwrap();
    desk.act("ann", AgentEvent::Disposed).unwrap();
    assert_eq!(
        state(&desk, "ann"),
        "break:lunch",
        "the break asked for during wrap-up"
    );
    assert!(waiting.try_recv().is_err(), "on a break");
    desk.act("ann", AgentEvent::Ready).unwrap();
    assert_eq!(waiting.try_recv().unwrap().agent, "ann");
}

#[tokio::test]
async fn a_reservation_is_released_when_the_connection_fails_or_the_call_ends() {
    let fx = Fixture::new(&[("ann", &["sales"])]);
    let desk = fx.open();
    ready(&desk, &fx, "ann", 1_000);
    desk.request(ticket("a1", "sales")).await.unwrap();
    desk.release("a1");
    assert_eq!(state(&desk, "ann"), "available", "phone failed: given back");
    desk.request(ticket("a2", "sales")).await.unwrap();
    desk.finished("a2");
    desk.finished("a2");
    assert_eq!(
        state(&desk, "ann"),
        "available",
        "customer gone first: given back, once"
    );
    // A call that stopped listening before an agent came gets none.
    desk.request(ticket("a3", "sales")).await.unwrap();
    drop(desk.request(ticket("a4", "sales")));
    desk.release("a3");
    assert_eq!(
        state(&desk, "ann"),
        "available",
        "not reserved for a4, which left"
    );
}

#[tokio::test]
async fn a_wrap_up_ends_by_itself_when_its_time_is_up() {
    let fx = Fixture::new(&[("ann", &["sales"])]);
    let desk = fx.open();
    ready(&desk, &fx, "ann", 1_000);
    desk.request(ticket("a1", "sales")).await.unwrap();
    desk.bridged("a1");
    fx.at(10_000);
    desk.finished("a1");
    let mut waiting = desk.request(ticket("a2", "sales"));
    fx.at(39_999);
    assert_eq!(desk.expire_wrap_ups(), 0);
    fx.at(40_000);
    assert_eq!(desk.expire_wrap_ups(), 1);
    assert_eq!(
        waiting.try_recv().unwrap().agent,
        "ann",
        "free again, served at once"
    );
}

#[tokio::test]
async fn notices_tell_each_change_as_it_happens() {
    let fx = Fixture::new(&[("ann", &["sales"])]);
    let desk = fx.open();
    let mut notices = desk.subscribe();
    ready(&desk, &fx, "ann", 1_000);
    desk.request(ticket("a1", "sales")).await.unwrap();
    desk.bridged("a1");
    desk.finished("a1");
    let mut seen = Vec::new();
    while let Ok(n) = notices.try_recv() {
        assert_eq!(n.agent, "ann");
        seen.push(match n.kind {
            NoticeKind::State { state, .. } => state,
            NoticeKind::Assigned { attempt, .. } => format!("assigned {attempt}"),
            NoticeKind::Answered { attempt } => format!("answered {attempt}"),
            NoticeKind::Ended { attempt } => format!("ended {attempt}"),
        });
    }
    assert_eq!(
        seen,
        [
            "break:not_ready",
            "available",
            "reserved",
            "assigned a1",
            "on_call",
            "answered a1",
            "wrap_up",
            "ended a1"
        ]
    );
}

#[tokio::test]
async fn refusals_are_typed_and_change_nothing() {
    let fx = Fixture::new(&[("ann", &["sales"])]);
    let desk = fx.open();
    assert!(matches!(
        desk.act("ann", AgentEvent::Ready),
        Err(DeskError::Rule(_))
    ));
    assert!(matches!(
        desk.act("zed", AgentEvent::Login),
        Err(DeskError::NoAgent(_))
    ));
    assert_eq!(state(&desk, "ann"), "offline");
}

#[tokio::test]
async fn a_restart_leaves_no_agent_held_by_a_call_that_is_gone() {
    let fx = Fixture::new(&[("ann", &["sales"]), ("bob", &["sales"])]);
    {
        let desk = fx.open();
        ready(&desk, &fx, "ann", 1_000);
        ready(&desk, &fx, "bob", 2_000);
        desk.request(ticket("a1", "sales")).await.unwrap();
        desk.request(ticket("a2", "sales")).await.unwrap();
        desk.bridged("a2");
        // The process dies here: ann reserved for a1, bob on a2.
    }
    fx.at(9_000);
    let desk = fx.open();
    assert_eq!(state(&desk, "ann"), "available");
    let bob = desk.agent("bob").unwrap().agent.state;
    assert!(
        matches!(bob, AgentState::WrapUp { ref attempt, .. } if attempt == "a2"),
        "bob keeps his call's wrap-up, to set its disposition: {bob:?}"
    );
    assert_eq!(desk.current_call("bob").as_deref(), Some("a2"));
    desk.act("bob", AgentEvent::Disposed).unwrap();
    assert_eq!(state(&desk, "bob"), "available");
}

/// One call of `attempt` for `agent`: bridged at `from`, ended after `talk_ms`, its
/// disposition set `wrap_ms` later (the agent ready again).
async fn cycle(desk: &Desk, fx: &Fixture, attempt: &str, from: u64, talk_ms: u64, wrap_ms: u64) {
    fx.at(from);
    desk.request(ticket(attempt, "sales")).await.unwrap();
    desk.bridged(attempt);
    fx.at(from + talk_ms);
    desk.finished(attempt);
    fx.at(from + talk_ms + wrap_ms);
    desk.act("ann", AgentEvent::Disposed).unwrap();
}

#[tokio::test]
async fn agents_late_in_a_cycle_as_long_as_their_campaign_s_are_expected_free_soon() {
    let fx = Fixture::new(&[("ann", &["sales"]), ("bob", &["care"])]);
    let desk = fx.open();
    ready(&desk, &fx, "ann", 1_000);
    // Ann's calls of the campaign: 50–69 s of talk and a 10 s wrap-up each.
    let mut at = 10_000;
    for i in 0..20 {
        let talk = 50_000 + i * 1_000;
        cycle(&desk, &fx, &format!("c{i}"), at, talk, 10_000).await;
        at += talk + 10_000 + 1_000;
    }
    ready(&desk, &fx, "bob", at);
    let none = desk.staffing_within("spring", 10_000);
    assert_eq!((none.available, none.freeing_soon), (2, 0.0));
    // Ann, idle longest, just took another call: no cycle of the campaign is that
    // short.
    let took = desk.request(ticket("b1", "sales")).await.unwrap().agent;
    assert_eq!(took, "ann");
    desk.bridged("b1");
    assert_eq!(desk.staffing_within("spring", 10_000).freeing_soon, 0.0);
    // 65 s in: of the cycles (60–79 s) longer, 66–79 s, the 10 of 66–75 s end
    // within 10 s.
    fx.at(at + 65_000);
    let s = desk.staffing_within("spring", 10_000);
    assert!((s.freeing_soon - 10.0 / 14.0).abs() < 1e-9, "{s:?}");
    // In her wrap-up, 72 s in: the 7 longer cycles all end within 10 s.
    fx.at(at + 70_000);
    desk.finished("b1");
    fx.at(at + 72_000);
    let s = desk.staffing_within("spring", 10_000);
    assert_eq!(s.wrap_up, 1);
    assert!((s.freeing_soon - 1.0).abs() < 1e-9, "{s:?}");
    // A break chosen for after the wrap-up: not free for a call.
    desk.act(
        "ann",
        AgentEvent::Break {
            reason: "lunch".into(),
        },
    )
    .unwrap();
    assert_eq!(desk.staffing_within("spring", 10_000).freeing_soon, 0.0);
    // Ready again after it, her cycle is over: nothing is expected of her.
    fx.at(at + 90_000);
    desk.act("ann", AgentEvent::Disposed).unwrap();
    desk.act("ann", AgentEvent::Ready).unwrap();
    let s = desk.staffing_within("spring", 10_000);
    assert_eq!((s.available, s.freeing_soon), (2, 0.0));
}
