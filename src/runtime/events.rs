//! The ARI event WebSocket as a stream the router pulls from: it connects, yields every
//! event stamped with when it arrived, and reconnects with backoff (also after a clean
//! close, so a restarting Asterisk is never hammered). Asterisk does not replay what was
//! missed: `Connected { reconnected: true }` tells the router to reconcile its calls.
//! The router reads the socket itself, so an event reaches its call with one task
//! wake-up, not two.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::ari::events::{self, Event};

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
const MAX_BACKOFF: Duration = Duration::from_secs(5);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The event stream: `next` gives the next item, connecting and reconnecting as needed.
pub struct EventStream {
    url: String,
    socket: Option<Socket>,
    backoff: Duration,
    connected_before: bool,
    /// Set after a loss: wait this long before connecting again.
    wait: Option<Duration>,
}

impl EventStream {
    pub fn new(url: String) -> Self {
        Self {
            url,
            socket: None,
            backoff: FIRST_BACKOFF,
            connected_before: false,
            wait: None,
        }
    }

    /// The next item. Cancel-safe between items: dropping the future loses nothing
    /// already read.
    pub async fn next(&mut self) -> StreamItem {
        loop {
            let Some(socket) = self.socket.as_mut() else {
                if let Some(wait) = self.wait.take() {
                    tokio::time::sleep(wait).await;
                }
                match tokio_tungstenite::connect_async(self.url.as_str()).await {
                    Ok((socket, _)) => {
                        self.socket = Some(socket);
                        self.backoff = FIRST_BACKOFF;
                        let reconnected = self.connected_before;
                        self.connected_before = true;
                        return StreamItem::Connected { reconnected };
                    }
                    Err(e) => return self.lost(format!("cannot connect: {e}")),
                }
            };
            let reason = match socket.next().await {
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

    fn lost(&mut self, reason: String) -> StreamItem {
        self.socket = None;
        tracing::warn!(%reason, retry_in_ms = self.backoff.as_millis() as u64, "ARI event stream lost");
        self.wait = Some(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        StreamItem::Disconnected { reason }
    }
}
