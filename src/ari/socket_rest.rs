//! ARI REST over the events WebSocket (Asterisk 20.14, 21.9, 22.4 and later): a request
//! goes out as a `RESTRequest` message on the socket the events come in on, and its
//! answer comes back among the events as a `RESTResponse` with the same `request_id`.
//!
//! Why: one HTTP session for everything instead of a pool of them (Asterisk's
//! `sessionlimit` stops mattering), and a request costs a WebSocket frame rather than an
//! HTTP exchange on a connection of its own, whose answer wakes the process separately
//! from the events.
//!
//! The socket belongs to the event stream (`runtime::events`), which writes what is
//! queued here and hands back every `RESTResponse`; this side only matches answers to
//! waiters. While no socket carries requests (connecting, lost, or an Asterisk that never
//! answered the probe), [`SocketRest::exchange`] says so and the client uses HTTP. A
//! request the socket never wrote is certainly unsent; one written when the socket is
//! lost may have been carried out, like a request on a reset HTTP connection.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::client::AriError;
use super::events::RestResponse;
use super::paths;
use super::request::Request;
use super::transport::Answer;

/// The `request_id` of the probe a new socket sends before it carries requests.
pub const PROBE_ID: &str = "dialflow-probe";

/// One request for the socket's writer: its id and its `RESTRequest` text.
#[derive(Debug)]
pub struct Outgoing {
    pub id: u64,
    pub text: String,
}

type Reply = oneshot::Sender<Result<Answer, AriError>>;

/// A request sent (queued or written) and not answered yet.
struct Waiter {
    reply: Reply,
    written: bool,
}

#[derive(Default)]
struct State {
    /// The writer's queue while a socket carries requests.
    outbox: Option<mpsc::UnboundedSender<Outgoing>>,
    waiting: HashMap<u64, Waiter>,
}

/// The requests in flight over the socket. Shared by the client and the event stream.
#[derive(Default)]
pub struct SocketRest {
    state: Mutex<State>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for SocketRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketRest")
            .field("carrying", &self.carrying())
            .finish()
    }
}

/// The message that asks for `request`, `id` echoed back in its answer.
#[derive(Serialize)]
struct RestRequest<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    transaction_id: &'static str,
    request_id: &'a str,
    method: &'a str,
    /// Relative to `/ari/`, without a query: parameters go in `query_strings`, which
    /// need no percent-encoding.
    uri: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    query_strings: Vec<Parameter<'a>>,
}

#[derive(Serialize)]
struct Parameter<'a> {
    name: &'a str,
    value: &'a str,
}

/// Removes a waiter when its request's future ends, however it ends (a no-op once it
/// was answered or given up).
struct Forget<'a> {
    rest: &'a SocketRest,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.rest.lock().waiting.remove(&self.id);
    }
}

/// The `RESTRequest` text for `request` (which must be an ARI path), with `request_id`.
pub fn request_text(request: &Request, request_id: &str) -> Option<String> {
    let uri = request.path.strip_prefix(paths::PREFIX)?;
    let message = RestRequest {
        kind: "RESTRequest",
        transaction_id: "",
        request_id,
        method: request.method,
        uri,
        query_strings: request
            .query
            .iter()
            .map(|(name, value)| Parameter { name, value })
            .collect(),
    };
    serde_json::to_string(&message).ok()
}

/// Whether the socket can carry `request`: an ARI path with a JSON answer (Asterisk
/// sends no binary answer over the socket: a recording's file is refused with 406).
pub fn carries(request: &Request) -> bool {
    paths::is_ari(&request.path) && !request.path.ends_with("/file")
}

impl SocketRest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a socket carries requests now.
    pub fn carrying(&self) -> bool {
        self.lock().outbox.is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding it leaves the map consistent: every step is
        // one insert or remove.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `request` over the socket and waits up to `timeout` for its answer; `None`
    /// when no socket carries requests now (the caller uses HTTP).
    pub async fn exchange(
        &self,
        request: &Request,
        timeout: Duration,
    ) -> Option<Result<Answer, AriError>> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let text = request_text(request, &id.to_string())?;
        let (reply, answer) = oneshot::channel();
        {
            let mut state = self.lock();
            let outbox = state.outbox.as_ref()?;
            if outbox.send(Outgoing { id, text }).is_err() {
                return None;
            }
            let written = false;
            state.waiting.insert(id, Waiter { reply, written });
        }
        // Dropped with this future (a call's task ended mid-request): the waiter goes
        // with it, and the writer skips the request if it had not written it.
        let _forget = Forget { rest: self, id };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => Some(answer),
            // The waiter was dropped without a word: only `detach` does that, after
            // answering it; never reached, but not a panic.
            Ok(Err(_)) => Some(Err(AriError::OutcomeUnknown("the socket went away".into()))),
            Err(_) => Some(Err(self.gave_up(id, timeout))),
        }
    }

    /// The waiter of `id` timed out: gone from the map, so the writer skips it if it had
    /// not written it yet (then it was certainly not sent).
    fn gave_up(&self, id: u64, timeout: Duration) -> AriError {
        match self.lock().waiting.remove(&id) {
            Some(Waiter { written: false, .. }) => {
                AriError::NotSent(format!("the WebSocket did not take it within {timeout:?}"))
            }
            _ => AriError::OutcomeUnknown(format!("no answer within {timeout:?}")),
        }
    }

    /// For the socket's owner, once the probe was answered: requests now go to the
    /// returned queue, to be written in order.
    pub fn attach(&self) -> mpsc::UnboundedReceiver<Outgoing> {
        let (outbox, queue) = mpsc::unbounded_channel();
        self.lock().outbox = Some(outbox);
        queue
    }

    /// For the socket's owner, about to write `id`: false if its waiter gave up (then it
    /// must not be written).
    pub fn take_for_writing(&self, id: u64) -> bool {
        match self.lock().waiting.get_mut(&id) {
            Some(waiter) => {
                waiter.written = true;
                true
            }
            None => false,
        }
    }

    /// The socket is gone (`why`): requests go over HTTP from now on; each one waiting
    /// is told whether it was written (outcome unknown) or not (not sent).
    pub fn detach(&self, why: &str) {
        let waiting = {
            let mut state = self.lock();
            state.outbox = None;
            std::mem::take(&mut state.waiting)
        };
        for (_, waiter) in waiting {
            let error = if waiter.written {
                AriError::OutcomeUnknown(format!("the WebSocket was lost: {why}"))
            } else {
                AriError::NotSent(format!("the WebSocket was lost first: {why}"))
            };
            let _ = waiter.reply.send(Err(error));
        }
    }

    /// A `RESTResponse` came: its waiter gets it. Returns its `request_id` (the probe's
    /// is [`PROBE_ID`]; one nobody waits for any more is dropped).
    pub fn answered<'a>(&self, answer: &'a RestResponse) -> &'a str {
        let body = answer.message_body.clone();
        self.answer(&answer.request_id, answer.status_code, body);
        &answer.request_id
    }

    /// A `RESTResponse` that does not fit its model (no `timestamp`, say) still answers
    /// its request when its id and status can be read: a waiter is never left to time
    /// out over a field it does not need. Returns the `request_id`, if any.
    pub fn answered_loosely(&self, text: &str) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Loose {
            request_id: String,
            status_code: i64,
            #[serde(default)]
            message_body: Option<String>,
        }
        let loose: Loose = serde_json::from_str(text).ok()?;
        self.answer(&loose.request_id, loose.status_code, loose.message_body);
        Some(loose.request_id)
    }

    fn answer(&self, request_id: &str, status: i64, body: Option<String>) {
        let waiter = request_id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.lock().waiting.remove(&id));
        if let Some(waiter) = waiter {
            let body = body.map(Bytes::from).unwrap_or_default();
            let status = u16::try_from(status).unwrap_or(502);
            let _ = waiter.reply.send(Ok(Answer { status, body }));
        }
    }
}

/// The probe's text: a request every Asterisk that reads requests on the socket answers
/// (404 for a channel that is not there), and one that does nothing.
pub fn probe_text() -> String {
    request_text(&Request::get_channel("dialflow-probe"), PROBE_ID).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play() -> Request {
        Request::play("c1", "c1-p1", "sound:salehi/hello".into())
    }

    #[test]
    fn a_request_is_relative_to_ari_with_its_parameters_apart() {
        let text = request_text(&play(), "7").unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["type"], "RESTRequest");
        assert_eq!(json["request_id"], "7");
        assert_eq!(json["method"], "POST");
        assert_eq!(json["uri"], "channels/c1/play/c1-p1");
        assert_eq!(
            json["query_strings"],
            serde_json::json!([{"name": "media", "value": "sound:salehi/hello"}])
        );
        assert!(request_text(&Request::sim_transcript("r"), "1").is_none());
        assert!(!carries(&Request::stored_recording_file("r")));
        assert!(!carries(&Request::sim_transcript("r")));
        assert!(carries(&play()));
    }

    #[tokio::test]
    async fn without_a_socket_requests_are_left_to_http() {
        let rest = SocketRest::new();
        assert!(
            rest.exchange(&play(), Duration::from_secs(1))
                .await
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_answer_reaches_the_request_with_its_id() {
        let rest = std::sync::Arc::new(SocketRest::new());
        let mut queue = rest.attach();
        let asking = {
            let rest = std::sync::Arc::clone(&rest);
            tokio::spawn(async move { rest.exchange(&play(), Duration::from_secs(5)).await })
        };
        let out = queue.recv().await.unwrap();
        assert!(rest.take_for_writing(out.id));
        let answer = format!(
            r#"{{"type":"RESTResponse","timestamp":"2026-12-07T10:00:00.000+0000","application":"dialflow","transaction_id":"","request_id":"{}","status_code":200,"reason_phrase":"OK","uri":"x","message_body":"{{\"id\":\"c1-p1\"}}"}}"#,
            out.id
        );
        let super::super::events::Event::RestResponse(answer) =
            super::super::events::parse(&answer)
        else {
            panic!("a RESTResponse");
        };
        assert_eq!(rest.answered(&answer), out.id.to_string());
        let answer = asking.await.unwrap().unwrap().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(&answer.body[..], br#"{"id":"c1-p1"}"#);
    }

    #[tokio::test]
    async fn a_lost_socket_tells_written_from_unsent() {
        let rest = std::sync::Arc::new(SocketRest::new());
        let mut queue = rest.attach();
        let ask = |rest: &std::sync::Arc<SocketRest>| {
            let rest = std::sync::Arc::clone(rest);
            tokio::spawn(async move { rest.exchange(&play(), Duration::from_secs(5)).await })
        };
        let first = ask(&rest);
        let written = queue.recv().await.unwrap();
        let second = ask(&rest);
        let _unwritten = queue.recv().await.unwrap();
        assert!(rest.take_for_writing(written.id));
        rest.detach("reset by peer");
        assert!(matches!(
            first.await.unwrap(),
            Some(Err(AriError::OutcomeUnknown(_)))
        ));
        assert!(matches!(
            second.await.unwrap(),
            Some(Err(AriError::NotSent(_)))
        ));
        assert!(!rest.carrying(), "HTTP from now on");
    }

    #[tokio::test]
    async fn a_request_that_timed_out_unwritten_is_never_written() {
        let rest = SocketRest::new();
        let _queue = rest.attach();
        let answer = rest.exchange(&play(), Duration::from_millis(20)).await;
        assert!(
            matches!(answer, Some(Err(AriError::NotSent(_)))),
            "{answer:?}"
        );
        assert!(!rest.take_for_writing(0), "the writer skips it");
    }
}
