//! HTTP/1.1 to Asterisk over a pool of at most `max_connections` kept-alive connections,
//! bounded exactly: a request holds a permit from before it takes a connection until its
//! answer is read and the connection is back in the idle stack, and a connection is
//! opened only by a permit holder who found the stack empty. So busy + idle connections
//! never exceed the permits, which Asterisk's `sessionlimit` (`http.conf`, 100 by
//! default) needs: it closes every session past it at once and unanswered.
//!
//! Built on hyper's connection API rather than a general client, because a general
//! client's pool hands connections back on tasks of its own (so it briefly opens more
//! than asked) and spends, per request, more than the call logic does: URL parsing,
//! redirect and proxy layers, a fresh `Authorization` header. Here the target is parsed
//! once, the header is made once, and a request the connection never took (it was closing
//! as we picked it) is known to be unsent and goes out again on a fresh connection.
//!
//! Over `https://` each connection is TLS (tokio-rustls around the TcpStream, with the
//! one configuration of `crate::tls`); the pool does not know the difference.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue};
use http::{Method, Request as HttpRequest};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsConnector;

use super::client::AriError;
use crate::tls;

/// How long opening a TCP connection to Asterisk may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may sit idle before it is dropped rather than reused. Asterisk
/// closes a session after `session_keep_alive` (15 s by default) of quiet; a request
/// written just as it does is lost with its outcome unknown, so connections are let go
/// well before.
const IDLE_MAX: Duration = Duration::from_secs(10);

type Sender = SendRequest<Full<Bytes>>;

/// Where requests go: parsed once from the base URL.
#[derive(Debug)]
struct Target {
    /// `https://`: each connection is TLS, for this host name (or address).
    tls: Option<ServerName<'static>>,
    /// `host:port`, to connect to and to send as `Host`.
    authority: String,
    /// The base URL's path (Asterisk's `prefix` in `http.conf`), without a trailing `/`.
    prefix: String,
}

impl Target {
    fn parse(base_url: &str) -> Result<Self, AriError> {
        let url = url::Url::parse(base_url)
            .map_err(|e| AriError::NotSent(format!("ARI url {base_url:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AriError::NotSent(format!(
                "ARI url {base_url:?} is neither http:// nor https://"
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| AriError::NotSent(format!("ARI url {base_url:?} has no host")))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let tls = match url.scheme() {
            // An IPv6 address is written in brackets in a URL, never in a certificate.
            "https" => Some(
                ServerName::try_from(host.trim_matches(['[', ']']).to_string()).map_err(|e| {
                    AriError::NotSent(format!("ARI url {base_url:?}: not a TLS server name: {e}"))
                })?,
            ),
            _ => None,
        };
        Ok(Self {
            tls,
            authority: format!("{host}:{port}"),
            prefix: url.path().trim_end_matches('/').to_string(),
        })
    }
}

/// A status and a body read to its end.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The pool. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Transport {
    target: Target,
    /// Set for `https://` targets.
    tls: Option<Arc<rustls::ClientConfig>>,
    authorization: HeaderValue,
    /// Connections free for a request, with when each was put back.
    idle: Mutex<Vec<(Sender, Instant)>>,
    permits: Arc<Semaphore>,
    max_connections: usize,
    timeout: Duration,
}

impl Transport {
    /// `tls_config` is used for an `https://` URL (the system's roots when `None`).
    pub fn new(
        base_url: &str,
        (user, password): (&str, &str),
        timeout: Duration,
        max_connections: usize,
        tls_config: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Self, AriError> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut authorization = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|e| AriError::NotSent(format!("ARI credentials: {e}")))?;
        // Never printed in a debug dump of the client.
        authorization.set_sensitive(true);
        let max_connections = max_connections.max(1);
        let target = Target::parse(base_url)?;
        let tls = match (&target.tls, tls_config) {
            (None, _) => None,
            (Some(_), Some(config)) => Some(config),
            (Some(_), None) => {
                Some(tls::client_config(None).map_err(|e| AriError::NotSent(e.to_string()))?)
            }
        };
        Ok(Self {
            target,
            tls,
            authorization,
            idle: Mutex::new(Vec::with_capacity(max_connections)),
            permits: Arc::new(Semaphore::new(max_connections)),
            max_connections,
            timeout,
        })
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// How long a request may take, its wait for a connection included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The TLS configuration of an `https://` target (the events WebSocket uses it too).
    pub fn tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls.clone()
    }

    /// Requests holding a connection now (at most `max_connections`).
    pub fn busy(&self) -> usize {
        self.max_connections - self.permits.available_permits()
    }

    /// A test's way to keep every connection busy.
    #[cfg(test)]
    pub fn hold_permit(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.permits).try_acquire_owned().ok()
    }

    /// Sends `method path_and_query` (relative to the base URL's path) once a connection
    /// is free, and reads an answer of at most `limit` bytes. Also says how long it
    /// waited for the connection (the rest of its time was Asterisk's).
    pub async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        limit: usize,
    ) -> (Result<Answer, AriError>, Duration) {
        self.exchange_with(method, path_and_query, None, limit)
            .await
    }

    /// [`Self::exchange`] with a JSON body, for the few parameters Asterisk reads only
    /// from one (`eventFilter`'s `filter`); every other parameter goes in the query.
    pub async fn exchange_with(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<Bytes>,
        limit: usize,
    ) -> (Result<Answer, AriError>, Duration) {
        let waiting = Instant::now();
        let permit =
            match tokio::time::timeout(self.timeout, Arc::clone(&self.permits).acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                Ok(Err(_closed)) => {
                    return (
                        Err(AriError::NotSent("the ARI client is closed".into())),
                        self.timeout,
                    );
                }
                Err(_) => return (Err(self.all_busy()), self.timeout),
            };
        let queued = waiting.elapsed();
        let left = self.timeout.saturating_sub(queued);
        let uri = format!("{}{path_and_query}", self.target.prefix);
        let answer =
            match tokio::time::timeout(left, self.round_trip(method, &uri, json, limit)).await {
                Ok(answer) => answer,
                Err(_) => Err(AriError::OutcomeUnknown(format!(
                    "no answer within {:?}",
                    self.timeout
                ))),
            };
        drop::<OwnedSemaphorePermit>(permit);
        (answer, queued)
    }

    fn all_busy(&self) -> AriError {
        AriError::NotSent(format!(
            "every one of the {} ARI connections stayed busy for {:?}",
            self.max_connections, self.timeout
        ))
    }

    /// One request on a pooled connection; once more on a fresh one if the pooled one
    /// was closing and never took it (then it is certainly unsent).
    async fn round_trip(
        &self,
        method: Method,
        uri: &str,
        json: Option<Bytes>,
        limit: usize,
    ) -> Result<Answer, AriError> {
        let mut fresh_only = false;
        loop {
            let mut sender = self.checkout(fresh_only).await?;
            let request = self.request(method.clone(), uri, json.clone())?;
            let response = match sender.try_send_request(request).await {
                Ok(response) => response,
                Err(e) if e.message().is_some() && !fresh_only => {
                    fresh_only = true;
                    continue;
                }
                Err(e) if e.message().is_some() => {
                    return Err(AriError::NotSent(e.into_error().to_string()));
                }
                Err(e) => return Err(AriError::OutcomeUnknown(e.into_error().to_string())),
            };
            let status = response.status().as_u16();
            let body = read_body(response.into_body(), limit, uri).await?;
            self.check_in(sender);
            return Ok(Answer { status, body });
        }
    }

    fn request(
        &self,
        method: Method,
        uri: &str,
        json: Option<Bytes>,
    ) -> Result<HttpRequest<Full<Bytes>>, AriError> {
        let mut request = HttpRequest::builder()
            .method(method.clone())
            .uri(uri)
            .header(HOST, &self.target.authority)
            .header(AUTHORIZATION, self.authorization.clone());
        // Asterisk reads a POST's parameters from the query; the empty body still says
        // how long it is, as clients do.
        if json.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        } else if method != Method::GET {
            request = request.header(CONTENT_LENGTH, 0);
        }
        request
            .body(Full::new(json.unwrap_or_default()))
            .map_err(|e| AriError::NotSent(format!("bad request {uri:?}: {e}")))
    }

    /// An idle connection ready for a request, or a new one. The caller holds a permit.
    async fn checkout(&self, fresh_only: bool) -> Result<Sender, AriError> {
        while !fresh_only && let Some(mut sender) = self.pop_idle() {
            if sender.ready().await.is_ok() {
                return Ok(sender);
            }
        }
        self.connect().await
    }

    /// The most recently used idle connection; older ones past `IDLE_MAX` are dropped.
    fn pop_idle(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        idle.retain(|(_, since)| since.elapsed() < IDLE_MAX);
        idle.pop().map(|(sender, _)| sender)
    }

    /// Puts a connection whose answer is read back for the next request.
    fn check_in(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((sender, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Sender, AriError> {
        let authority = &self.target.authority;
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority))
            .await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(AriError::NotSent(format!("connect to {authority}: {e}"))),
            Err(_) => {
                return Err(AriError::NotSent(format!(
                    "connect to {authority}: no answer within {CONNECT_TIMEOUT:?}"
                )));
            }
        };
        // Requests are small and each waits for its answer: send them at once.
        let _ = stream.set_nodelay(true);
        let (Some(config), Some(name)) = (&self.tls, &self.target.tls) else {
            return handshake(stream, authority).await;
        };
        let host = name.to_str();
        let connector = TlsConnector::from(Arc::clone(config));
        let stream =
            match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), stream))
                .await
            {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(AriError::NotSent(tls::explain(&host, &e))),
                Err(_) => {
                    return Err(AriError::NotSent(format!(
                        "TLS with {authority}: no handshake within {CONNECT_TIMEOUT:?}"
                    )));
                }
            };
        handshake(stream, authority).await
    }
}

/// HTTP/1.1 on a connected stream (plain or TLS).
async fn handshake<S>(stream: S, authority: &str) -> Result<Sender, AriError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| AriError::NotSent(format!("HTTP handshake with {authority}: {e}")))?;
    // The connection's I/O runs on a task of its own; it ends when Asterisk closes
    // the session or the last sender is dropped.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Reads a body to its end, refusing (413) one over `limit` bytes.
async fn read_body(
    body: hyper::body::Incoming,
    limit: usize,
    uri: &str,
) -> Result<Bytes, AriError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(AriError::Refused {
            status: 413,
            message: format!("{uri} is larger than {limit} bytes"),
        }),
        Err(e) => Err(AriError::OutcomeUnknown(format!("reading the answer: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that answers each connection's first request with `body`, then closes
    /// the connection (without saying so, as a server timing out an idle session does).
    /// Counts the connections it accepted.
    async fn one_answer_per_connection(body: &'static str) -> (String, Arc<Mutex<usize>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(Mutex::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                *count.lock().unwrap() += 1;
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        (url, accepted)
    }

    fn transport(url: &str) -> Transport {
        Transport::new(url, ("u", "p"), Duration::from_secs(2), 2, None).unwrap()
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_not_reported_lost() {
        let (url, accepted) = one_answer_per_connection("[]").await;
        let transport = transport(&url);
        for _ in 0..3 {
            let (answer, _) = transport.exchange(Method::GET, "/ari/channels", 1024).await;
            let answer = answer.expect("answered");
            assert_eq!((answer.status, &answer.body[..]), (200, &b"[]"[..]));
            // Let the server's close reach us, so the pooled connection is stale.
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        assert_eq!(*accepted.lock().unwrap(), 3, "one connection per request");
    }

    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_as_too_large() {
        let (url, _) = one_answer_per_connection("[1,2,3,4,5,6,7,8,9]").await;
        let (answer, _) = transport(&url)
            .exchange(Method::GET, "/ari/recordings/stored/r/file", 8)
            .await;
        assert!(
            matches!(answer, Err(AriError::Refused { status: 413, .. })),
            "{answer:?}"
        );
    }

    #[tokio::test]
    async fn an_https_server_that_is_not_there_is_not_sent_to() {
        let (answer, _) = transport("https://127.0.0.1:1")
            .exchange(Method::GET, "/ari/channels", 1024)
            .await;
        assert!(matches!(answer, Err(AriError::NotSent(_))), "{answer:?}");
    }

    #[test]
    fn the_credentials_never_show_in_a_debug_dump() {
        let dump = format!("{:?}", transport("http://127.0.0.1:1"));
        assert!(!dump.contains("dTpw"), "{dump}");
    }
}
