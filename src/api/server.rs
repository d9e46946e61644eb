//! Serving the router over HTTP/1.1 with the connection bounds of `[http]`: at
//! most `connections_max` open connections (one more is answered 503 and closed),
//! a request's headers within `header_read_timeout_ms` (hyper closes the
//! connection otherwise), and a connection with no request in hand and no byte
//! moving for `idle_timeout_ms` closed. `axum::serve` offers none of these, so the
//! accept loop is ours and each connection is hyper's `http1` server.
//!
//! With `[http] tls_cert_file`/`tls_key_file` every connection is TLS (rustls, on
//! the `ring` provider; TLS 1.2 and 1.3, ALPN `http/1.1`): the handshake must end
//! within `header_read_timeout_ms`, and a client that speaks plain HTTP to the port
//! gets the connection closed. The connection cap's 503 is then sent over TLS too.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::edge::{HttpEdge, overloaded};

/// Serve `app` on `listener` until `shutdown` turns true; then stop accepting,
/// let every connection finish the request in hand, and return when all are closed.
/// The TLS side of `[http]`: the certificate chain and key, read and checked now
/// so that a bad file stops the start, not the first client.
pub fn tls_acceptor(tls: &crate::config::HttpTls) -> Result<TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("http.tls_cert_file {}: {e}", tls.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "http.tls_cert_file {}: no certificate",
            tls.cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| format!("http.tls_key_file {}: {e}", tls.key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "http.tls_cert_file/tls_key_file {} and {}: {e}",
                tls.cert_file.display(),
                tls.key_file.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serve `app` on `listener` (over TLS with `tls`) until `shutdown` turns true;
/// then stop accepting, let every connection finish the request in hand, and
/// return when all are closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    edge: Arc<HttpEdge>,
    tls: Option<TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = edge.connections.clone().try_acquire_owned() else {
            edge.metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => refuse(stream).await,
                    Some(tls) => {
                        let hello = tokio::time::timeout(REFUSE_TIME, tls.accept(stream)).await;
                        if let Ok(Ok(stream)) = hello {
                            refuse(stream).await;
                        }
                    }
                }
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, edge, shutdown) = (app.clone(), edge.clone(), shutdown.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            let activity = Arc::new(Activity {
                start: Instant::now(),
                last_ms: AtomicU64::new(0),
                busy: AtomicUsize::new(0),
            });
            let tracked = Tracked {
                inner: stream,
                activity: activity.clone(),
            };
            match tls {
                None => connection(tracked, activity, peer, app, &edge, shutdown).await,
                Some(tls) => {
                    // The handshake is bounded like a request's headers.
                    let within = Duration::from_millis(edge.config.header_read_timeout_ms);
                    match tokio::time::timeout(within, tls.accept(tracked)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, activity, peer, app, &edge, shutdown).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    // Every connection has been told to finish: wait until all have.
    let all = u32::try_from(edge.config.connections_max).unwrap_or(u32::MAX);
    let _ = edge.connections.acquire_many(all).await;
}

/// How long a refused connection may take (TLS handshake, then the answer).
const REFUSE_TIME: Duration = Duration::from_secs(1);

/// One connection too many: a 503 problem, then close.
async fn refuse<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let r = overloaded();
    let body = axum::body::to_bytes(r.into_response().into_body(), 4096)
        .await
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        super::edge::RETRY_AFTER_S,
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_TIME, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.shutdown().await?;
        // Read what the client sent so that closing does not reset the answer away.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// When a connection last moved a byte, and how many requests it has in hand.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
    busy: AtomicUsize,
}

impl Activity {
    fn touch(&self) {
        self.last_ms
            .store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A request in hand on a connection, for as long as this lives.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(a: Arc<Activity>) -> Busy {
        a.busy.fetch_add(1, Ordering::Relaxed);
        Busy(a)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, noting every byte read or written.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One connection: `stream` is the tracked socket, or TLS over it.
async fn connection<S>(
    stream: S,
    activity: Arc<Activity>,
    peer: SocketAddr,
    app: Router,
    edge: &HttpEdge,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let in_hand = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::new(in_hand.clone());
        let app = app.clone();
        async move {
            let r = app.oneshot(req.map(Body::new)).await;
            drop(busy);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(edge.config.header_read_timeout_ms))
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let idle = Duration::from_millis(edge.config.idle_timeout_ms);
    let mut check = tokio::time::Instant::now() + idle;
    let mut closing = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep_until(check), if !closing => {
                let quiet = activity.idle_for();
                let busy = activity.busy.load(Ordering::Relaxed) > 0;
                if !busy && quiet >= idle {
                    edge.metrics.connections_idle_closed.fetch_add(1, Ordering::Relaxed);
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                } else {
                    // A request in hand keeps the connection; look again a full period on.
                    let wait = if busy { idle } else { idle - quiet };
                    check = tokio::time::Instant::now() + wait.max(Duration::from_millis(10));
                }
            }
        }
    }
}
