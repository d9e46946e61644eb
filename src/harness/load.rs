//! The benchmark's national clients: HTTP/1.1 keep-alive connections (hyper's
//! client connection, one per client) posting ONSS posting notifications, each a
//! distinct case; closed loop (as fast as answers come) or open loop (paced, each
//! latency taken from the scheduled send time, so a stall is not hidden).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;

/// The national path every client posts to.
pub const NATIONAL_PATH: &str = "/api/v1/national/onss-posting";

/// One client connection.
pub struct Client {
    addr: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    pub async fn connect(addr: &str) -> Result<Client, String> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake with {addr}: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Client {
            addr: addr.to_owned(),
            sender,
        })
    }

    /// One request; the status and the whole body.
    pub async fn call(
        &mut self,
        method: hyper::Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<(u16, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("{}: {e}", self.addr))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.addr);
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("{} {path}: {e}", self.addr))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{} {path}: {e}", self.addr))?
            .to_bytes();
        Ok((status, body))
    }

    /// Post national message number `n`; an error unless it was accepted (202).
    pub async fn submit(&mut self, national: &National, n: u64) -> Result<(), String> {
        let (status, body) = self
            .call(
                hyper::Method::POST,
                NATIONAL_PATH,
                Some("application/xml"),
                national.numbered(n),
            )
            .await?;
        if status != 202 {
            return Err(format!(
                "national submission answered {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(())
    }
}

/// A GET on a fresh connection (health, metrics).
pub async fn get(addr: &str, path: &str) -> Result<(u16, Bytes), String> {
    let mut c = Client::connect(addr).await?;
    tokio::time::timeout(
        Duration::from_secs(10),
        c.call(hyper::Method::GET, path, None, Bytes::new()),
    )
    .await
    .map_err(|_| format!("{addr}{path}: no answer within 10 s"))?
}

/// The ONSS fixture, made distinct per submission: no case id (each opens a case)
/// and a numbered host workplace.
pub struct National {
    head: String,
    tail: String,
}

impl National {
    pub fn load(root: &std::path::Path) -> Result<National, String> {
        let path = root.join("fixtures/national/onss-posting.xml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let marker = "<Name>Bouwplaats Kanaalbrug</Name>";
        let at = text
            .find(marker)
            .ok_or_else(|| format!("{} has no {marker}", path.display()))?;
        Ok(National {
            head: text[..at].to_owned(),
            tail: text[at + marker.len()..].to_owned(),
        })
    }
    pub fn numbered(&self, n: u64) -> Bytes {
        Bytes::from(format!(
            "{}<Name>Bouwplaats {n}</Name>{}",
            self.head, self.tail
        ))
    }
}

/// Closed loop: `clients` connections, spread over `addrs` in turn, post until
/// `next` reaches `end` (a shared sequence: each number is one case).
pub async fn closed_loop(
    addrs: &[String],
    clients: usize,
    national: Arc<National>,
    next: Arc<AtomicU64>,
    end: u64,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let addr = addrs[c % addrs.len()].clone();
        let (national, next) = (national.clone(), next.clone());
        tasks.spawn(async move {
            let mut client = Client::connect(&addr).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return Ok::<(), String>(());
                }
                client.submit(&national, n).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| e.to_string())??;
    }
    Ok(start.elapsed())
}

/// The batch channel as `eessi-switch submit --batch` uses it: `count` items from
/// `first` on, in requests of `chunk` items (NDJSON, each item under its own key),
/// one request at a time on one connection; an error unless every item was
/// accepted.
pub async fn batch_loop(
    addr: &str,
    national: Arc<National>,
    first: u64,
    count: u64,
    chunk: u64,
) -> Result<(), String> {
    let mut client = Client::connect(addr).await?;
    let path = format!("{NATIONAL_PATH}/batch");
    let mut n = first;
    while n < first + count {
        let end = (n + chunk.max(1)).min(first + count);
        let mut body = String::new();
        for i in n..end {
            let message = String::from_utf8_lossy(&national.numbered(i)).into_owned();
            body.push_str(
                &serde_json::json!({ "key": format!("bench-{i}"), "message": message }).to_string(),
            );
            body.push('\n');
        }
        let (status, answer) = client
            .call(
                hyper::Method::POST,
                &path,
                Some("application/x-ndjson"),
                Bytes::from(body),
            )
            .await?;
        let text = String::from_utf8_lossy(&answer);
        if status != 200 {
            return Err(format!("a batch was answered {status}: {text}"));
        }
        let accepted = text
            .lines()
            .filter(|l| l.contains("\"status\":\"accepted\""))
            .count() as u64;
        if accepted != end - n {
            return Err(format!(
                "{accepted} of {} batch items accepted: {}",
                end - n,
                text.lines()
                    .find(|l| !l.contains("\"accepted\""))
                    .unwrap_or("")
            ));
        }
        n = end;
    }
    Ok(())
}

/// Open loop: `count` submissions at `rate` per second over `connections`
/// connections; each latency (µs) from its scheduled time into one bounded HDR
/// histogram (1 µs to 10 min, 3 significant digits).
pub async fn open_loop(
    addrs: &[String],
    connections: usize,
    national: Arc<National>,
    first: u64,
    count: u64,
    rate: f64,
) -> Result<hdrhistogram::Histogram<u64>, String> {
    let new_hist = || {
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
            .map_err(|e| format!("{e:?}"))
    };
    let t0 = tokio::time::Instant::now() + Duration::from_millis(200);
    let connections = connections.max(1) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..connections {
        let addr = addrs[w as usize % addrs.len()].clone();
        let national = national.clone();
        let mut hist = new_hist()?;
        tasks.spawn(async move {
            let mut client = Client::connect(&addr).await?;
            let mut k = 0u64;
            loop {
                let i = k * connections + w;
                if i >= count {
                    return Ok::<_, String>(hist);
                }
                let at = t0 + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(at).await;
                client.submit(&national, first + i).await?;
                hist.saturating_record(at.elapsed().as_micros() as u64);
                k += 1;
            }
        });
    }
    let mut all = new_hist()?;
    while let Some(r) = tasks.join_next().await {
        let h = r.map_err(|e| e.to_string())??;
        all.add(&h).map_err(|e| format!("{e:?}"))?;
    }
    Ok(all)
}
