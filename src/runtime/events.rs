//! The ARI event WebSocket: connects, hands every event on, and reconnects with backoff
//! (also after a clean close, so a restarting Asterisk is never hammered). Asterisk does
//! not replay what was missed: a `Connected { reconnected: true }` tells the router to
//! reconcile its calls against the channels Asterisk still has.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

use crate::ari::events::{self, Event};

#[derive(Debug)]
pub enum StreamItem {
    Connected { reconnected: bool },
    Event(Box<Event>),
    Disconnected { reason: String },
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until `shutdown` turns true or the receiver is dropped.
pub async fn run(url: String, tx: mpsc::Sender<StreamItem>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = FIRST_BACKOFF;
    let mut connected_before = false;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let connect = tokio::select! {
            c = tokio_tungstenite::connect_async(url.as_str()) => c,
            _ = shutdown.changed() => return,
        };
        let reason = match connect {
            Ok((mut socket, _)) => {
                backoff = FIRST_BACKOFF;
                if tx
                    .send(StreamItem::Connected {
                        reconnected: connected_before,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
                connected_before = true;
                loop {
                    let message = tokio::select! {
                        m = socket.next() => m,
                        _ = shutdown.changed() => return,
                    };
                    match message {
                        Some(Ok(Message::Text(text))) => {
                            let event = events::parse(text.as_str());
                            if tx.send(StreamItem::Event(Box::new(event))).await.is_err() {
                                return;
                            }
                        }
                        Some(Ok(Message::Close(frame))) => {
                            break format!("closed by Asterisk ({frame:?})");
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break format!("WebSocket error: {e}"),
                        None => break "WebSocket ended".to_string(),
                    }
                }
            }
            Err(e) => format!("cannot connect: {e}"),
        };
        tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "ARI event stream lost");
        if tx.send(StreamItem::Disconnected { reason }).await.is_err() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
