//! The ARI event WebSocket as a stream the router pulls from: it connects, yields every
//! event stamped with when it arrived, and reconnects with backoff (also after a clean
//! close, so a restarting Asterisk is never hammered). Asterisk does not replay what was
//! missed: `Connected { reconnected: true }` tells the router to reconcile its calls.
//! The router reads the socket itself, so an event reaches its call with one task
//! wake-up, not two. A `wss://` URL is TLS with the ARI client's configuration
//! (`crate::tls`), so the events trust what REST trusts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::ari::events::{self, Event};
use crate::tls;

#[derive(Debug)]
pub enum StreamItem {
    Connected {
        reconnected: bool,
    },
    /// An event and the moment its frame was read.
    Event(Box<Event>, Instant),
    Disconnected {
        reason: String,
    },
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Quiet this long, the stream sends a ping; quiet as long again, it is taken for dead
/// (a half-open connection after a network drop never reports itself).
const IDLE: Duration = Duration::from_secs(15);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The socket's read buffer: an event is 1–3 KiB. tungstenite zero-fills the free part
/// of its buffer before every read (even one that finds nothing), so its 128 KiB default
/// cost more per event than decoding it; a larger event still fits, by growing the buffer.
const READ_BUFFER: usize = 16 * 1024;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

/// The event stream: `next` gives the next item, connecting and reconnecting as needed.
pub struct EventStream {
    url: String,
    socket: Option<Socket>,
    backoff: Duration,
    connected_before: bool,
    /// Set after a loss: wait this long before connecting again.
    wait: Option<Duration>,
    idle: Duration,
    /// A ping is out and nothing has come back since.
    pinged: bool,
    /// For a `wss://` URL (the system's roots when `None`).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl EventStream {
    pub fn new(url: String) -> Self {
        Self {
            url,
            socket: None,
            backoff: FIRST_BACKOFF,
            connected_before: false,
            wait: None,
            idle: IDLE,
            pinged: false,
            tls: None,
        }
    }

    /// With the TLS configuration a `wss://` URL is connected with.
    pub fn with_tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        self.tls = tls;
        self
    }

    /// With another idle time (tests).
    pub fn with_idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The next item. Cancel-safe between items: dropping the future loses nothing
    /// already read.
    pub async fn next(&mut self) -> StreamItem {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                if let Some(wait) = self.wait.take() {
                    tokio::time::sleep(wait).await;
                }
                // Bounded: a host that drops packets silently would hold a connect for
                // minutes (the system's SYN retries), far past the backoff.
                let connected = match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("no answer within {CONNECT_TIMEOUT:?}")),
                };
                match connected {
                    Ok((socket, _)) => {
                        self.socket = Some(socket);
                        self.pinged = false;
                        self.backoff = FIRST_BACKOFF;
                        let reconnected = self.connected_before;
                        self.connected_before = true;
                        return StreamItem::Connected { reconnected };
                    }
                    Err(e) => return self.lost(format!("cannot connect: {e}")),
                }
            };
            let Ok(message) = tokio::time::timeout(self.idle, socket.next()).await else {
                if self.pinged {
                    return self.lost(format!("no answer to a ping for {:?}", self.idle));
                }
                self.pinged = true;
                if let Err(e) = socket.send(Message::Ping(Default::default())).await {
                    return self.lost(format!("cannot ping: {e}"));
                }
                continue;
            };
            self.pinged = false;
            let reason = match message {
                Some(Ok(Message::Text(text))) => {
                    let arrived = Instant::now();
                    return StreamItem::Event(Box::new(events::parse(text.as_str())), arrived);
                }
                Some(Ok(Message::Close(frame))) => format!("closed by Asterisk ({frame:?})"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => format!("WebSocket error: {e}"),
                None => "WebSocket ended".to_string(),
            };
            return self.lost(reason);
        }
    }

    /// One connection attempt; a certificate failure says which host and why.
    async fn connect(&self) -> Result<(Socket, ()), String> {
        let connector = match (&self.tls, self.url.starts_with("wss://")) {
            (_, false) => None,
            (Some(config), true) => Some(Connector::Rustls(Arc::clone(config))),
            (None, true) => Some(Connector::Rustls(
                tls::client_config(None).map_err(|e| e.to_string())?,
            )),
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            self.url.as_str(),
            Some(socket_config()),
            false,
            connector,
        );
        match connecting.await {
            Ok((socket, _)) => Ok((socket, ())),
            Err(e) => {
                let host = url::Url::parse(&self.url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                Err(tls::explain(&host, &e))
            }
        }
    }

    fn lost(&mut self, reason: String) -> StreamItem {
        self.socket = None;
        tracing::warn!(%reason, retry_in_ms = self.backoff.as_millis() as u64, "ARI event stream lost");
        self.wait = Some(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        StreamItem::Disconnected { reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ws::WebSocketUpgrade;
    use axum::routing::get;

    /// A WebSocket server on loopback; `answers` decides whether it reads (and so
    /// answers pings) or holds the connection without a word, like a dead peer.
    async fn server(answers: bool) -> String {
        let app = axum::Router::new().route(
            "/ws",
            get(move |ws: WebSocketUpgrade| async move {
                ws.on_upgrade(move |mut socket| async move {
                    if answers {
                        while let Some(Ok(_)) = socket.recv().await {}
                    } else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(socket);
                    }
                })
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("ws://{addr}/ws")
    }

    #[tokio::test]
    async fn a_silent_peer_is_pinged_then_dropped() {
        let mut stream =
            EventStream::new(server(false).await).with_idle(Duration::from_millis(150));
        assert!(matches!(
            stream.next().await,
            StreamItem::Connected { reconnected: false }
        ));
        let started = std::time::Instant::now();
        match stream.next().await {
            StreamItem::Disconnected { reason } => {
                assert!(reason.contains("no answer to a ping"), "{reason}")
            }
            other => panic!("expected a loss, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_peer_that_answers_pings_stays_connected() {
        let mut stream = EventStream::new(server(true).await).with_idle(Duration::from_millis(100));
        assert!(matches!(stream.next().await, StreamItem::Connected { .. }));
        let quiet = tokio::time::timeout(Duration::from_millis(800), stream.next()).await;
        assert!(quiet.is_err(), "still connected: {quiet:?}");
    }
}
