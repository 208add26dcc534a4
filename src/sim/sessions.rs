//! Asterisk's HTTP session limit (`sessionlimit` in `http.conf`, 100 by default), kept
//! by the simulator's listener: every open TCP connection is a session, REST and events
//! WebSocket alike, and one over the limit is closed at once, unanswered, with the
//! warning Asterisk logs. A client without a bounded pool meets it here as it would in
//! production: requests lost on connections that close without an answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Sessions counted, shared by the listener, its connections and the sim's handle.
#[derive(Debug, Default)]
pub struct Sessions {
    open: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicU64,
    refused: AtomicU64,
}

impl Sessions {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }
    /// Most connections open at once since the start.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }
    /// Connections taken on since the start (refused ones not included).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Connections closed at once because the limit was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A TCP listener that keeps at most `limit` connections open.
pub struct SessionLimited {
    listener: TcpListener,
    limit: usize,
    sessions: Arc<Sessions>,
}

impl SessionLimited {
    pub fn new(listener: TcpListener, limit: usize, sessions: Arc<Sessions>) -> Self {
        Self {
            listener,
            limit,
            sessions,
        }
    }

    /// The next connection within the limit; those over it are dropped on the way.
    async fn next_session(&mut self) -> (Session, SocketAddr) {
        loop {
            let (stream, addr) = match self.listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "the simulator cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Counted before the check, as Asterisk's `ast_atomic_fetchadd_int` does.
            let before = self.sessions.open.fetch_add(1, Ordering::Relaxed);
            if before >= self.limit {
                self.sessions.open.fetch_sub(1, Ordering::Relaxed);
                self.sessions.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%addr, "HTTP session count exceeded {} sessions.", self.limit);
                drop(stream);
                continue;
            }
            self.sessions.accepted.fetch_add(1, Ordering::Relaxed);
            self.sessions.peak.fetch_max(before + 1, Ordering::Relaxed);
            let session = Session {
                stream,
                sessions: Arc::clone(&self.sessions),
            };
            return (session, addr);
        }
    }
}

impl axum::serve::Listener for SessionLimited {
    type Io = Session;
    type Addr = SocketAddr;

    fn accept(&mut self) -> impl Future<Output = (Session, SocketAddr)> + Send {
        self.next_session()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// One open connection; its session ends when it is dropped (a WebSocket's too, since
/// the upgrade keeps the same connection).
pub struct Session {
    stream: TcpStream,
    sessions: Arc<Sessions>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.sessions.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for Session {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Session {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
