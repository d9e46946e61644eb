//! `eessi-switch submit --batch FILE`: send a file of national messages to the
//! batch channel (`POST /api/v1/national/{adapter}/batch`), a chunk at a time, and
//! write what became of each item.
//!
//! Resumable and idempotent because every item goes under an idempotency key that
//! a rerun of the same file repeats: the item's own `key`, else
//! `<batch id>-<index>`, the batch id derived from the file's content. A rerun
//! after a crash (of this command or of the switch) gets the ids of the items that
//! committed again (`replayed`) and submits only the others; nothing is accepted
//! twice. The journal beside the file (`FILE.progress`) only spares sending again
//! what an earlier run saw accepted: nothing rests on it, and without it the keys
//! give the same outcome.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use serde_json::{Value, json};

use eessi_switch::api::dto::BatchItem;
use eessi_switch::api::problem::Problem;
use eessi_switch::switch::outbound::Issue;

/// How long to wait for a TCP (and TLS) connection to the switch.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one batch request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// Attempts of one request that met a connection failure or a 5xx (safe: every
/// item has its key); after them the run stops and says so.
const SEND_ATTEMPTS: u32 = 4;
/// Rounds of sending again the items refused with a 503 (the switch's submission
/// queue was full, or its store unavailable), before they are reported refused.
const TRANSIENT_ROUNDS: u32 = 5;
/// The longest `Retry-After` honoured, in seconds.
const RETRY_AFTER_MAX_S: u64 = 30;

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The batch file: NDJSON, one `{"key": "<optional>", "message": "<national
    /// XML>"}` object per line (blank lines are not items).
    #[arg(long)]
    batch: PathBuf,
    /// Build the batch file from this directory's `*.xml` files (sorted by name),
    /// unless it exists already: then it is sent as it is, so that a rerun sends
    /// the same items under the same keys.
    #[arg(long)]
    from_dir: Option<PathBuf>,
    /// The national adapter, as in `POST /api/v1/national/{adapter}`.
    #[arg(long)]
    adapter: String,
    /// The switch, e.g. `http://127.0.0.1:8080` (`https://` needs `--ca-file`).
    #[arg(long)]
    url: String,
    /// The bearer token; default: the environment variable `EESSI_TOKEN`.
    #[arg(long)]
    token: Option<String>,
    /// Items per request (at most the switch's `[limits] batch_items_max`; a
    /// request the switch finds too large is split).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    chunk: u32,
    /// Where the per-item results go (NDJSON, one line per item in file order);
    /// default: standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The CA (PEM) the switch's HTTPS certificate must chain to.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The batch id the default keys start with; default: the first 16 hex digits
    /// of the file's SHA-256. Give the id of an earlier run to resend a file whose
    /// refused items were corrected in place.
    #[arg(long)]
    batch_id: Option<String>,
}

/// One item of the file.
struct Item {
    /// From 0, over the file's non-blank lines.
    index: usize,
    /// From 1.
    line: usize,
    key: String,
    message: String,
}

/// Run the command; the exit code: 0 every item accepted or replayed, 1 some
/// refused, 2 (an error) when the run could not finish.
pub async fn run(args: SubmitArgs) -> anyhow::Result<i32> {
    if !args
        .adapter
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!("--adapter {:?} is not an adapter name", args.adapter);
    }
    if let Some(dir) = &args.from_dir {
        build_from_dir(dir, &args.batch)?;
    }
    let bytes =
        std::fs::read(&args.batch).with_context(|| format!("reading {}", args.batch.display()))?;
    let file_sha256 = hex::encode(openssl::sha::sha256(&bytes));
    let batch_id = match &args.batch_id {
        Some(id) => {
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
                bail!("--batch-id must be 1 to 64 visible ASCII characters");
            }
            id.clone()
        }
        None => file_sha256[..16].to_owned(),
    };
    let (items, bad) = read_batch(&bytes, &batch_id);
    let total = items.len() + bad.len();
    let endpoint = Endpoint::parse(&args.url, args.ca_file.as_deref())?;
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("EESSI_TOKEN").ok());
    let mut client = Client {
        endpoint,
        authorization: token.map(|t| format!("Bearer {t}")),
        sender: None,
    };
    let header = json!({
        "batchId": batch_id, "fileSha256": file_sha256, "adapter": args.adapter,
    });
    let journal_path = journal_path(&args.batch);
    let (mut journal, earlier) =
        Journal::open(&journal_path, &header, args.batch_id.is_some(), &items)?;

    let mut results: Vec<Option<Value>> = vec![None; total];
    for (index, v) in bad {
        results[index] = Some(v);
    }
    for (index, mut v) in earlier {
        v["fromJournal"] = Value::Bool(true);
        results[index] = Some(v);
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut tally = Tally::default();
    for v in results.iter().flatten() {
        tally.count(v);
    }
    let bar = progress_bar(total as u64);
    bar.set_position(results.iter().flatten().count() as u64);
    bar.set_message(tally.short());

    let pending: Vec<&Item> = items
        .iter()
        .filter(|i| results[i.index].is_none())
        .collect();
    let path = format!(
        "{}/api/v1/national/{}/batch",
        client.endpoint.prefix, args.adapter
    );
    let mut written = 0;
    let mut stopped = None;
    for chunk in pending.chunks(args.chunk as usize) {
        match answer_chunk(&mut client, &path, chunk).await {
            Ok(answered) => {
                for (index, v) in answered {
                    if matches!(v["status"].as_str(), Some("accepted" | "replayed")) {
                        journal.record(&v);
                    }
                    tally.count(&v);
                    results[index] = Some(v);
                    bar.inc(1);
                }
                journal.flush();
                bar.set_message(tally.short());
                written = write_ready(&mut out, &results, written)?;
            }
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    bar.finish_and_clear();
    // What is left: every item gets its line, those never answered too.
    for (index, r) in results.iter().enumerate().skip(written) {
        let v = match r {
            Some(v) => v.clone(),
            None => {
                tally.unanswered += 1;
                let item = items
                    .binary_search_by_key(&index, |i| i.index)
                    .ok()
                    .map(|at| &items[at]);
                json!({
                    "index": index,
                    "line": item.map(|i| i.line),
                    "key": item.map(|i| i.key.as_str()),
                    "status": "unanswered",
                })
            }
        };
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    eprintln!(
        "batch {batch_id}: {total} items: {} (journal {})",
        tally.long(),
        journal_path.display()
    );
    if let Some(e) = stopped {
        return Err(e.context(format!(
            "{} items unanswered; run the same command again to send them (the items already accepted are not submitted twice)",
            tally.unanswered
        )));
    }
    Ok(if tally.refused > 0 { 1 } else { 0 })
}

/// Counts of answers, for the progress bar and the summary.
#[derive(Default)]
struct Tally {
    accepted: usize,
    replayed: usize,
    refused: usize,
    earlier: usize,
    unanswered: usize,
}

impl Tally {
    fn count(&mut self, v: &Value) {
        if v["fromJournal"] == Value::Bool(true) {
            self.earlier += 1;
            return;
        }
        match v["status"].as_str() {
            Some("accepted") => self.accepted += 1,
            Some("replayed") => self.replayed += 1,
            _ => self.refused += 1,
        }
    }
    fn short(&self) -> String {
        format!(
            "{} accepted, {} replayed, {} refused",
            self.accepted, self.replayed, self.refused
        )
    }
    fn long(&self) -> String {
        format!(
            "{}, {} accepted in an earlier run (journal), {} unanswered",
            self.short(),
            self.earlier,
            self.unanswered
        )
    }
}

fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} items, {msg} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Write the results that are ready from `from` on, in file order, up to the
/// first one not answered yet; returns where the next write starts.
fn write_ready(
    out: &mut dyn Write,
    results: &[Option<Value>],
    from: usize,
) -> anyhow::Result<usize> {
    let mut at = from;
    while let Some(Some(v)) = results.get(at) {
        writeln!(out, "{v}")?;
        at += 1;
    }
    out.flush()?;
    Ok(at)
}

/// The file's items, each with its key, and the lines that are not items (answered
/// as the switch answers a malformed line: refused, with the line).
fn read_batch(bytes: &[u8], batch_id: &str) -> (Vec<Item>, Vec<(usize, Value)>) {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    let mut index = 0;
    for (n, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = n + 1;
        match serde_json::from_slice::<BatchItem>(raw) {
            Ok(item) => items.push(Item {
                index,
                line,
                key: item.key.unwrap_or_else(|| format!("{batch_id}-{index}")),
                message: item.message,
            }),
            Err(e) => {
                let problem = Problem::bad_request(vec![Issue {
                    location: "body".into(),
                    name: "line".into(),
                    value: None,
                    detail: format!("not a batch item {{\"key\", \"message\"}}: {e}"),
                    line: u32::try_from(line).ok(),
                }]);
                bad.push((
                    index,
                    json!({
                        "index": index, "line": line, "key": null, "status": "refused",
                        "problem": serde_json::to_value(&problem).unwrap_or(Value::Null),
                    }),
                ));
            }
        }
        index += 1;
    }
    (items, bad)
}

/// Build the batch file from a directory's `*.xml` files, unless it exists: a
/// batch file is frozen once written, so that a rerun sends the same items under
/// the same keys even if the directory has changed since (which is said).
fn build_from_dir(dir: &Path, batch: &Path) -> anyhow::Result<()> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml") && p.is_file())
        .collect();
    names.sort();
    let mut text = String::new();
    for p in &names {
        let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let message = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8", p.display()))?;
        text.push_str(&json!({ "message": message }).to_string());
        text.push('\n');
    }
    if batch.exists() {
        if std::fs::read(batch).ok().as_deref() != Some(text.as_bytes()) {
            eprintln!(
                "note: {} exists and is sent as it is; {} has changed since it was built (a new batch needs a new file)",
                batch.display(),
                dir.display()
            );
        }
        return Ok(());
    }
    let tmp = batch.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, batch).with_context(|| format!("writing {}", batch.display()))?;
    eprintln!(
        "{}: {} messages from {}",
        batch.display(),
        names.len(),
        dir.display()
    );
    Ok(())
}

fn journal_path(batch: &Path) -> PathBuf {
    let mut name = batch.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// `FILE.progress`: a header line (batch id, the file's digest, the adapter), then
/// the answer of every item accepted or replayed, one line each. A run of the
/// same file, batch id and adapter skips those items; nothing else is trusted to
/// it (a lost or torn journal costs only their replay).
struct Journal {
    path: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

impl Journal {
    /// Open (or start) the journal and read what it says was accepted. A journal of
    /// another content of the file under the derived batch id is refused: the
    /// edited file's items would get new keys and be submitted again.
    fn open(
        path: &Path,
        header: &Value,
        explicit_id: bool,
        items: &[Item],
    ) -> anyhow::Result<(Journal, HashMap<usize, Value>)> {
        let mut earlier = HashMap::new();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let mut lines = text.as_deref().unwrap_or("").lines();
        let old: Option<Value> = lines.next().and_then(|l| serde_json::from_str(l).ok());
        let same = old.as_ref() == Some(header);
        if let Some(old) = &old
            && !same
            && !explicit_id
            && old["fileSha256"] != header["fileSha256"]
            && old["adapter"] == header["adapter"]
        {
            bail!(
                "{} changed since the run that wrote {} (batch id {}): its items would get new keys and be submitted again. \
                 To resend only what was not accepted, keep the items in place and pass --batch-id {}; \
                 to send it as a new batch, remove {}",
                path.with_extension("").display(),
                path.display(),
                old["batchId"].as_str().unwrap_or("?"),
                old["batchId"].as_str().unwrap_or("?"),
                path.display()
            );
        }
        if same {
            let keys: HashMap<usize, &str> =
                items.iter().map(|i| (i.index, i.key.as_str())).collect();
            for l in lines {
                // A torn last line (a crash while writing) is skipped.
                let Ok(v) = serde_json::from_str::<Value>(l) else {
                    continue;
                };
                let Some(index) = v["index"].as_u64().map(|i| i as usize) else {
                    continue;
                };
                if keys.get(&index).is_some_and(|k| v["key"] == *k)
                    && matches!(v["status"].as_str(), Some("accepted" | "replayed"))
                {
                    earlier.insert(index, v);
                }
            }
        }
        let file = if same {
            std::fs::OpenOptions::new().append(true).open(path)
        } else {
            std::fs::File::create(path).and_then(|mut f| {
                writeln!(f, "{header}")?;
                Ok(f)
            })
        }
        .with_context(|| format!("writing {}", path.display()))?;
        Ok((
            Journal {
                path: path.to_owned(),
                file: Some(std::io::BufWriter::new(file)),
            },
            earlier,
        ))
    }

    /// Record an accepted or replayed item. A journal that cannot be written is
    /// given up with a warning: the keys, not the journal, keep the run correct.
    fn record(&mut self, v: &Value) {
        if let Some(f) = &mut self.file
            && writeln!(f, "{v}").is_err()
        {
            self.give_up();
        }
    }

    fn flush(&mut self) {
        if let Some(f) = &mut self.file
            && f.flush().is_err()
        {
            self.give_up();
        }
    }

    fn give_up(&mut self) {
        eprintln!(
            "warning: cannot write {}; going on without it",
            self.path.display()
        );
        self.file = None;
    }
}

/// Send one chunk and return each item's answer (file index, answer with the
/// file's index and line), in order. A request the switch finds too large is
/// split in two; items refused with a 503 are sent again a few times. Err only
/// when the switch cannot be reached or refuses the batch itself (401, 403,
/// 404...): the run stops there.
async fn answer_chunk(
    client: &mut Client,
    path: &str,
    chunk: &[&Item],
) -> anyhow::Result<Vec<(usize, Value)>> {
    let mut answers: HashMap<usize, Value> = answer_split(client, path, chunk).await?;
    for round in 1..=TRANSIENT_ROUNDS {
        let again: Vec<&Item> = chunk
            .iter()
            .copied()
            .filter(|i| answers.get(&i.index).is_some_and(transient))
            .collect();
        if again.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(round))).await;
        answers.extend(answer_split(client, path, &again).await?);
    }
    Ok(chunk
        .iter()
        .filter_map(|i| answers.remove(&i.index).map(|v| (i.index, v)))
        .collect())
}

/// A refusal that may pass: the switch's queue was full or its store unavailable.
fn transient(v: &Value) -> bool {
    v["status"] == "refused" && v["problem"]["status"] == 503
}

/// `request`, splitting a part the switch answers 413 until it fits; a single
/// item still too large is refused with that problem.
async fn answer_split(
    client: &mut Client,
    path: &str,
    items: &[&Item],
) -> anyhow::Result<HashMap<usize, Value>> {
    let mut out = HashMap::new();
    let mut todo: VecDeque<&[&Item]> = VecDeque::from([items]);
    while let Some(part) = todo.pop_front() {
        match request(client, path, part).await? {
            Reply::Answers(vs) => out.extend(vs),
            Reply::TooLarge(problem) => match part {
                [one] => {
                    out.insert(
                        one.index,
                        json!({
                            "index": one.index, "line": one.line, "key": one.key,
                            "status": "refused", "problem": problem,
                        }),
                    );
                }
                _ => {
                    let (a, b) = part.split_at(part.len() / 2);
                    todo.push_front(b);
                    todo.push_front(a);
                }
            },
        }
    }
    Ok(out)
}

enum Reply {
    Answers(Vec<(usize, Value)>),
    TooLarge(Value),
}

/// One batch request, sent again on a connection failure or a 5xx (every item has
/// its key, so a request that did commit is replayed, not repeated).
async fn request(client: &mut Client, path: &str, items: &[&Item]) -> anyhow::Result<Reply> {
    let mut body = String::new();
    for i in items {
        body.push_str(&json!({ "key": i.key, "message": i.message }).to_string());
        body.push('\n');
    }
    let body = Bytes::from(body);
    let mut last = String::new();
    for attempt in 1..=SEND_ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 2))).await;
        }
        let a = match client.post(path, body.clone()).await {
            Ok(a) => a,
            Err(e) => {
                last = e;
                continue;
            }
        };
        match a.status {
            200 => return parse_answers(&a.body, items).map(Reply::Answers),
            413 => return Ok(Reply::TooLarge(problem_json(&a.body))),
            s if s >= 500 => {
                last = format!("{s} {}", problem_detail(&a.body));
                if let Some(wait) = a.retry_after {
                    tokio::time::sleep(Duration::from_secs(wait.min(RETRY_AFTER_MAX_S))).await;
                }
            }
            s => bail!(
                "the switch refused the batch: {s} {}",
                problem_detail(&a.body)
            ),
        }
    }
    bail!(
        "the switch at {} could not take the batch: {last}",
        client.endpoint.url
    )
}

/// The switch's answer lines, one per item in order, given the file's index and line.
fn parse_answers(body: &[u8], items: &[&Item]) -> anyhow::Result<Vec<(usize, Value)>> {
    let mut out = Vec::with_capacity(items.len());
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let mut v: Value = serde_json::from_slice(line).context("the switch's answer")?;
        let item = v["index"]
            .as_u64()
            .and_then(|i| items.get(usize::try_from(i).ok()?))
            .context("the switch answered an item that was not sent")?;
        v["index"] = json!(item.index);
        v["line"] = json!(item.line);
        out.push((item.index, v));
    }
    if out.len() != items.len() {
        bail!(
            "the switch answered {} of the {} items sent",
            out.len(),
            items.len()
        );
    }
    Ok(out)
}

pub(crate) fn problem_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

pub(crate) fn problem_detail(body: &[u8]) -> String {
    let p = problem_json(body);
    let text = |k: &str| p[k].as_str().unwrap_or("").to_owned();
    match (text("title"), text("detail")) {
        (t, d) if t.is_empty() && d.is_empty() => String::new(),
        (t, d) if d.is_empty() => t,
        (t, d) => format!("{t}: {d}"),
    }
}

/// Where the switch is: `http://host:port[/prefix]`, or `https://` with the CA to
/// trust.
pub(crate) struct Endpoint {
    pub(crate) url: String,
    host: String,
    port: u16,
    /// The Host header.
    authority: String,
    /// A path the API is mounted under (a reverse proxy's), without trailing `/`.
    pub(crate) prefix: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl Endpoint {
    pub(crate) fn parse(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Endpoint> {
        let uri: hyper::Uri = url.parse().with_context(|| format!("--url {url:?}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => bail!("--url must start with http:// or https://"),
        };
        if uri.query().is_some() {
            bail!("--url takes no query");
        }
        let authority = uri
            .authority()
            .context("--url names no host")?
            .as_str()
            .to_owned();
        let host = uri
            .host()
            .context("--url names no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match (https, ca_file) {
            (true, Some(ca)) => Some(tls_connector(ca)?),
            (true, None) => bail!("an https:// URL needs --ca-file"),
            (false, Some(_)) => bail!("--ca-file is for https:// URLs"),
            (false, None) => None,
        };
        Ok(Endpoint {
            url: url.to_owned(),
            host,
            port,
            authority,
            prefix: uri.path().trim_end_matches('/').to_owned(),
            tls,
        })
    }
}

/// TLS to the switch trusting `ca` alone, with the host name checked (rustls).
fn tls_connector(ca: &Path) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).with_context(|| format!("{}", ca.display()))? {
        roots
            .add(cert.with_context(|| format!("{}", ca.display()))?)
            .with_context(|| format!("{}", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("{}: no certificate", ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One keep-alive HTTP/1.1 connection to the switch, made again after a failure.
pub(crate) struct Client {
    pub(crate) endpoint: Endpoint,
    pub(crate) authorization: Option<String>,
    pub(crate) sender: Option<SendRequest<Full<Bytes>>>,
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    /// The `Link` header (`rel="next"` of a paged list).
    pub(crate) link: Option<String>,
    pub(crate) body: Bytes,
}

impl Client {
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let e = &self.endpoint;
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((e.host.as_str(), e.port)),
        )
        .await
        .map_err(|_| format!("connecting to {}: timed out", e.authority))?
        .map_err(|err| format!("connecting to {}: {err}", e.authority))?;
        let _ = tcp.set_nodelay(true);
        match &e.tls {
            None => handshake(tcp).await,
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(e.host.clone())
                    .map_err(|err| format!("{}: {err}", e.host))?;
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
                    .await
                    .map_err(|_| format!("TLS with {}: timed out", e.authority))?
                    .map_err(|err| format!("TLS with {}: {err}", e.authority))?;
                handshake(stream).await
            }
        }
    }

    /// POST an NDJSON body; a failed connection is dropped (the next call makes
    /// a new one).
    async fn post(&mut self, path: &str, body: Bytes) -> Result<Answer, String> {
        self.request(
            "POST",
            path,
            Some(("application/x-ndjson", body)),
            "application/x-ndjson",
        )
        .await
    }

    /// One request (`path` below the endpoint's prefix is the caller's), with
    /// the bearer token; a failed connection is dropped (the next call makes a
    /// new one).
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<(&str, Bytes)>,
        accept: &str,
    ) -> Result<Answer, String> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.endpoint.authority)
            .header(hyper::header::ACCEPT, accept);
        if let Some((content_type, _)) = &body {
            req = req.header(hyper::header::CONTENT_TYPE, *content_type);
        }
        if let Some(a) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(body.map(|(_, b)| b).unwrap_or_default()))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let status = resp.status().as_u16();
            let header = |name| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after =
                header(hyper::header::RETRY_AFTER).and_then(|v| v.trim().parse().ok());
            let link = header(hyper::header::LINK);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>(Answer {
                status,
                retry_after,
                link,
                body,
            })
        };
        let a = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{}{path}: no answer in time", self.endpoint.url))?
            .map_err(|e| format!("{}{path}: {e}", self.endpoint.url))?;
        self.sender = Some(sender);
        Ok(a)
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_default_to_the_batch_id_and_the_index_and_bad_lines_keep_their_place() {
        let file = b"{\"message\":\"<a/>\"}\n\n{\"key\":\"own\",\"message\":\"<b/>\"}\nnot json\n{\"message\":\"<c/>\"}\n";
        let (items, bad) = read_batch(file, "b1");
        let keys: Vec<(usize, usize, &str)> = items
            .iter()
            .map(|i| (i.index, i.line, i.key.as_str()))
            .collect();
        assert_eq!(keys, vec![(0, 1, "b1-0"), (1, 3, "own"), (3, 5, "b1-3")]);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].0, 2);
        assert_eq!(bad[0].1["status"], "refused");
        assert_eq!(bad[0].1["problem"]["issues"][0]["line"], 4);
    }

    #[test]
    fn the_journal_is_trusted_only_for_the_same_file_and_refuses_an_edited_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.ndjson.progress");
        let (items, _) = read_batch(b"{\"message\":\"<a/>\"}\n{\"message\":\"<b/>\"}\n", "id1");
        let header = json!({"batchId": "id1", "fileSha256": "f1", "adapter": "x"});
        let (mut j, earlier) = Journal::open(&path, &header, false, &items).unwrap();
        assert!(earlier.is_empty());
        j.record(&json!({"index": 1, "key": "id1-1", "status": "accepted", "caseId": "c"}));
        j.flush();
        drop(j);
        // A torn line is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"index\": 0, \"key\"")
            .unwrap();
        let (_, earlier) = Journal::open(&path, &header, false, &items).unwrap();
        assert_eq!(earlier.keys().copied().collect::<Vec<_>>(), vec![1]);
        // The file changed, under its derived id: refused.
        let edited = json!({"batchId": "id2", "fileSha256": "f2", "adapter": "x"});
        assert!(Journal::open(&path, &edited, false, &items).is_err());
        // Under an explicit batch id it is a fresh journal: nothing skipped.
        let explicit = json!({"batchId": "id1", "fileSha256": "f2", "adapter": "x"});
        let (_, earlier) = Journal::open(&path, &explicit, true, &items).unwrap();
        assert!(earlier.is_empty());
    }
}
