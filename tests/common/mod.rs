//! Helpers for the integration tests: a RabbitMQ virtual host per test (so tests
//! run in parallel with the contract's fixed queue names), real `eessi-switch
//! serve` processes, an HTTP client, and a foreign peer that speaks the contract
//! on the wire with the library's own AMQP transport.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eessi_switch::transport::amqp::AmqpTransport;
use eessi_switch::transport::{Delivery, Transport};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub fn root() -> PathBuf {
    fix_key_modes();
    PathBuf::from(ROOT)
}

/// Git does not keep file modes: the switch refuses private keys others can read,
/// so the test keys are made owner-only before use (as `scripts/setup` does).
pub fn fix_key_modes() {
    use std::os::unix::fs::PermissionsExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for dir in ["fixtures/pki", "fixtures/auth", "fixtures/tls"] {
            for e in std::fs::read_dir(PathBuf::from(ROOT).join(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.to_string_lossy().ends_with(".key.pem") {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
                }
            }
        }
    });
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl must be installed (see README)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A RabbitMQ virtual host of its own, deleted on drop.
pub struct Vhost {
    pub name: String,
}

impl Vhost {
    pub fn new(tag: &str) -> Vhost {
        let name = format!("eessi-test-{tag}-{}", uuid::Uuid::new_v4().simple());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost { name }
    }
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `eessi-switch serve`, killed on drop.
pub struct Server {
    pub country: String,
    pub base: String,
    pub config: PathBuf,
    pub child: Child,
    pub dir: PathBuf,
}

pub struct Retry {
    pub interval_ms: u64,
    pub attempts_max: u32,
    pub window_ms: u64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            interval_ms: 3_000,
            attempts_max: 5,
            window_ms: 60_000,
        }
    }
}

pub fn write_config(dir: &Path, country: &str, amqp: &str, port: u16, retry: &Retry) -> PathBuf {
    let text = format!(
        "country = \"{country}\"\nregistry = \"{ROOT}/fixtures/registry.toml\"\nbuc_definitions = \"{ROOT}/buc-definitions\"\nsed_schemas = \"{ROOT}/sed-schemas\"\nadapters = \"{ROOT}/adapters\"\nkeys_dir = \"{ROOT}/fixtures/pki\"\n{routing}\
[store]\nurl = \"sqlite://{db}\"\n[amqp]\nurl = \"{amqp}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\nadapter_grants = {{ \"onss-posting\" = [\"BE:ONSS\"], \"inasti-decision\" = [\"BE:INASTI\"] }}\n[retry]\ninterval_ms = {}\nattempts_max = {}\nwindow_ms = {}\n",
        retry.interval_ms,
        retry.attempts_max,
        retry.window_ms,
        db = dir.join(format!("{}.db", country.to_lowercase())).display(),
        // Belgium routes what it receives by the real rules.
        routing = if country == "BE" {
            format!("routing = \"{ROOT}/routing/belgium.toml\"\n")
        } else {
            String::new()
        },
    );
    let path = dir.join(format!("{}.toml", country.to_lowercase()));
    std::fs::write(&path, text).unwrap();
    path
}

impl Server {
    pub fn start(dir: &Path, country: &str, vhost: &Vhost, retry: &Retry) -> Server {
        fix_key_modes();
        let port = free_port();
        let config = write_config(dir, country, &vhost.url(), port, retry);
        Server::spawn(dir, country, config, port)
    }

    pub fn spawn(dir: &Path, country: &str, config: PathBuf, port: u16) -> Server {
        Server::spawn_env(dir, country, config, port, &[])
    }

    /// `spawn`, with extra environment variables for the process.
    pub fn spawn_env(
        dir: &Path,
        country: &str,
        config: PathBuf,
        port: u16,
        env: &[(&str, &str)],
    ) -> Server {
        fix_key_modes();
        let log =
            std::fs::File::create(dir.join(format!("{}.log", country.to_lowercase()))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_eessi-switch"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("EESSI_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn eessi-switch");
        let s = Server {
            country: country.into(),
            base: format!("http://127.0.0.1:{port}"),
            config,
            child,
            dir: dir.to_owned(),
        };
        s.wait_healthy();
        s
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((200, _)) = try_get(&format!("{}/health", self.base)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "switch {} did not become healthy; log:\n{}",
            self.country,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(
            self.dir
                .join(format!("{}.log", self.country.to_lowercase())),
        )
        .unwrap_or_default()
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (status, body) = try_get(&format!("{}{path}", self.base)).unwrap();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn case(&self, case_id: &str) -> Option<serde_json::Value> {
        let (status, body) = try_get(&format!("{}/api/v1/cases/{case_id}", self.base)).unwrap();
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    }

    /// Wait until the case is in `state` here.
    pub fn wait_state(&self, case_id: &str, state: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.case(case_id)
                && c["state"] == state
            {
                return c;
            }
            if Instant::now() > deadline {
                panic!(
                    "case {case_id} never reached {state} at {}: {:?}\nlog:\n{}",
                    self.country,
                    self.case(case_id),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until `check` holds for the case.
    pub fn wait_for(
        &self,
        case: &str,
        what: &str,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.case(case)
                && check(&c)
            {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened at {}: {:?}",
                self.country,
                self.case(case)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the outbound SED message reaches `status`.
    pub fn wait_message(&self, case_id: &str, message_id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.case(case_id)
                && c["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["messageId"] == message_id && m["status"] == status)
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "message {message_id} never became {status} at {}: {:?}",
                    self.country,
                    self.case(case_id)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let (status, text) = post(
            &format!("{}{path}", self.base),
            "application/json",
            body.to_string().as_bytes(),
        );
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Submit a SED from a fixture; returns the 202 answer.
    pub fn send(
        &self,
        from: &str,
        to: &str,
        buc: &str,
        sed: &str,
        case_id: Option<&str>,
        related: Option<&str>,
    ) -> serde_json::Value {
        let body =
            std::fs::read_to_string(root().join(format!("fixtures/sed/4.2/{sed}.xml"))).unwrap();
        let mut req =
            serde_json::json!({"from": from, "to": to, "buc": buc, "sed": sed, "body": body});
        if let Some(c) = case_id {
            req["caseId"] = c.into();
        }
        if let Some(r) = related {
            req["relatedDocumentId"] = r.into();
        }
        let (status, answer) = self.post_json("/api/v1/documents", &req);
        assert_eq!(status, 202, "submit {sed}: {answer}");
        answer
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub fn try_get(url: &str) -> Result<(u16, String), String> {
    let mut r = agent().get(url).call().map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok((status, body))
}

pub fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("content-type", content_type)
        .send(body)
        .expect("POST");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// A foreign access point played by the test: it declares its own queues and
/// consumes its inbox, as the contract says.
pub struct Peer {
    pub country: String,
    pub transport: Arc<AmqpTransport>,
    pub inbox: tokio::sync::mpsc::Receiver<Delivery>,
    /// Answers received while waiting for another one (answers to different
    /// cases may arrive in any order).
    pub pending: Vec<eessi_switch::transport::WireMessage>,
}

impl Peer {
    pub async fn new(vhost: &Vhost, country: &str) -> Peer {
        let transport = Arc::new(AmqpTransport::connect(&vhost.url()).await.unwrap());
        transport.declare_access_point(country).await.unwrap();
        let inbox = transport
            .consume(&eessi_switch::transport::inbox_queue(country), 32)
            .await
            .unwrap();
        Peer {
            country: country.into(),
            transport,
            inbox,
            pending: Vec::new(),
        }
    }

    /// The next message in this peer's inbox, acked.
    pub async fn next(&mut self) -> eessi_switch::transport::WireMessage {
        let d = tokio::time::timeout(Duration::from_secs(20), self.inbox.recv())
            .await
            .expect("no answer within 20 s")
            .expect("inbox closed");
        d.acker.ack().await.unwrap();
        d.message
    }

    /// The next answer to `message_id`, skipping others.
    pub async fn answer_to(&mut self, message_id: &str) -> eessi_switch::transport::WireMessage {
        let is_answer = |m: &eessi_switch::transport::WireMessage| {
            m.headers.get("eessi-ref-to-message-id").map(String::as_str) == Some(message_id)
        };
        if let Some(i) = self.pending.iter().position(is_answer) {
            return self.pending.remove(i);
        }
        loop {
            let m = self.next().await;
            if is_answer(&m) {
                return m;
            }
            self.pending.push(m);
        }
    }
}

pub fn signer(name: &str) -> eessi_switch::signing::Signer {
    eessi_switch::signing::Signer::from_files(
        &root().join(format!("fixtures/pki/{name}.key.pem")),
        &root().join(format!("fixtures/pki/{name}.crt.pem")),
    )
    .unwrap()
}

pub fn fixture(sed: &str) -> Vec<u8> {
    std::fs::read(root().join(format!("fixtures/sed/4.2/{sed}.xml"))).unwrap()
}

/// Run an external tool and return (success, stdout+stderr).
pub fn tool(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} must be installed (see README): {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A fresh PostgreSQL database on the local server, dropped on drop.
pub struct PgDb {
    pub name: String,
}

impl PgDb {
    pub fn new() -> PgDb {
        let name = format!("eessi_it_{}", uuid::Uuid::new_v4().simple());
        let mut c = postgres::Client::connect(
            "postgres://postgres@127.0.0.1:5432/postgres",
            postgres::NoTls,
        )
        .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/setup)");
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        PgDb { name }
    }
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(
            "postgres://postgres@127.0.0.1:5432/postgres",
            postgres::NoTls,
        ) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Point a written configuration at another store URL.
pub fn use_store(config: &Path, url: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let start = text.find("[store]\nurl = \"").unwrap() + "[store]\nurl = \"".len();
    let end = start + text[start..].find('"').unwrap();
    std::fs::write(config, format!("{}{url}{}", &text[..start], &text[end..])).unwrap();
}

/// An HTTP answer with its headers (names lower-case).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Assert a refusal: this status, as application/problem+json with that status.
    pub fn assert_problem(&self, status: u16) -> serde_json::Value {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body));
        assert_eq!(v["status"], status, "{v}");
        assert!(
            v["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:problem-type:")),
            "{v}"
        );
        v
    }
}

/// Any request, redirects not followed.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    try_request(method, url, headers, body).expect("HTTP request")
}

/// `request`, or None when no answer came (the server died on it).
pub fn try_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Option<Answer> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let mut r = agent
        .run(b.body(body.unwrap_or_default().to_vec()).ok()?)
        .ok()?;
    Some(Answer {
        status: r.status().as_u16(),
        headers: r
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    })
}

/// Write `request` on a raw connection and read one answer (status, lower-case
/// head, body); None when the server closed the connection without answering.
pub fn raw_exchange(
    stream: &mut std::net::TcpStream,
    request: &str,
) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    Some((status, head, body))
}

/// Does the server close this connection within `within` (reading nothing more)?
pub fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 256];
    loop {
        match stream.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

/// Insert `lines` right after the `[http]` table's `listen` line.
pub fn http_settings(config: &Path, lines: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let at = text.find("[http]\n").unwrap() + "[http]\n".len();
    let at = at + text[at..].find('\n').unwrap() + 1;
    std::fs::write(config, format!("{}{lines}{}", &text[..at], &text[at..])).unwrap();
}

impl Server {
    /// GET with a bearer token; 200 expected.
    pub fn get_json_as(&self, path: &str, token: &str) -> serde_json::Value {
        let a = request(
            "GET",
            &format!("{}{path}", self.base),
            &[("authorization", &format!("Bearer {token}"))],
            None,
        );
        assert_eq!(a.status, 200, "GET {path}: {a:?}");
        serde_json::from_str(&a.body).unwrap()
    }
}
