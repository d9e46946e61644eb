//! The case handler's and operator's commands against a running switch's API
//! (issue 12, item 7): `case list|show|actions|act`, `dead-letters list|reinject`,
//! `triage list|assign`, with `--url`/`EESSI_URL` and `--token`/`EESSI_TOKEN`; a
//! human table by default, `--json` for scripts. The HTTP client is the batch
//! channel's (`cli_batch::Client`: hyper's client connection, rustls for
//! `https://` with `--ca-file`). A refusal prints the problem's title, detail and
//! every issue, and exits 1.
//!
//! There is no `message resend`: the API has no route that sends a failed
//! message again (yet).

use std::path::PathBuf;

use anyhow::{Context, bail};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::cli_batch::{Client, Endpoint, problem_json};
use eessi_switch::api::dto::CaseQuery;

/// Where the switch is and who asks.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Remote {
    /// The switch's API, e.g. `http://127.0.0.1:8080`; default: `EESSI_URL`.
    #[arg(long)]
    pub url: Option<String>,
    /// The bearer token; default: `EESSI_TOKEN`.
    #[arg(long)]
    pub token: Option<String>,
    /// The CA (PEM) an `https://` switch's certificate must chain to.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The case list's filters, as `GET /api/v1/cases` takes them (`dto::CaseQuery`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CaseListArgs {
    /// Cases this institution takes part in (operators; a handler sees its own).
    #[arg(long)]
    pub institution: Option<String>,
    /// open or closed.
    #[arg(long)]
    pub status: Option<String>,
    /// A person's family name or forename (its beginning), or "family forename".
    #[arg(long)]
    pub name: Option<String>,
    /// The person's date of birth, YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: Option<String>,
    /// A personal identification number (SSIN or foreign PIN).
    #[arg(long)]
    pub pin: Option<String>,
    #[arg(long)]
    pub buc: Option<String>,
    /// LA, P, S, UB, FB, H, AW, R or M.
    #[arg(long)]
    pub sector: Option<String>,
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub counterpart_country: Option<String>,
    #[arg(long)]
    pub counterpart_institution: Option<String>,
    /// Only cases awaiting a reply past its deadline.
    #[arg(long)]
    pub overdue: bool,
    /// Only cases with a failed message.
    #[arg(long)]
    pub has_failed: bool,
    /// Only cases with a parked message.
    #[arg(long)]
    pub has_parked: bool,
    /// YYYY-MM-DD or an RFC 3339 time.
    #[arg(long)]
    pub created_from: Option<String>,
    #[arg(long)]
    pub created_to: Option<String>,
    #[arg(long)]
    pub updated_from: Option<String>,
    #[arg(long)]
    pub updated_to: Option<String>,
    /// updated (default), created or id.
    #[arg(long)]
    pub sort: Option<String>,
    /// Where the previous page ended (printed after a full page).
    #[arg(long)]
    pub cursor: Option<String>,
    #[arg(long)]
    pub limit: Option<u32>,
}

impl CaseListArgs {
    pub fn query(&self) -> CaseQuery {
        let yes = |b: bool| b.then(|| "true".to_owned());
        CaseQuery {
            institution: self.institution.clone(),
            status: self.status.clone(),
            name: self.name.clone(),
            birth_date: self.birth_date.clone(),
            pin: self.pin.clone(),
            buc: self.buc.clone(),
            sector: self.sector.clone(),
            state: self.state.clone(),
            counterpart_country: self.counterpart_country.clone(),
            counterpart_institution: self.counterpart_institution.clone(),
            overdue: yes(self.overdue),
            has_failed: yes(self.has_failed),
            has_parked: yes(self.has_parked),
            created_from: self.created_from.clone(),
            created_to: self.created_to.clone(),
            updated_from: self.updated_from.clone(),
            updated_to: self.updated_to.clone(),
            sort: self.sort.clone(),
            cursor: self.cursor.clone(),
            limit: self.limit.map(|l| l.to_string()),
        }
    }
}

/// `application/x-www-form-urlencoded` text of a value: unreserved characters
/// as they are, every other byte `%XX`.
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The query string of a `CaseQuery`, through its own serde names (camelCase).
pub fn query_string(q: &CaseQuery) -> anyhow::Result<String> {
    let Value::Object(map) = serde_json::to_value(q)? else {
        bail!("a query is an object");
    };
    Ok(map
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&"))
}

/// A connected client for `remote`.
fn client(remote: &Remote) -> anyhow::Result<Client> {
    let url = remote
        .url
        .clone()
        .or_else(|| std::env::var("EESSI_URL").ok())
        .context("no switch to ask: give --url or set EESSI_URL (or --config for the store)")?;
    let token = remote
        .token
        .clone()
        .or_else(|| std::env::var("EESSI_TOKEN").ok());
    Ok(Client {
        endpoint: Endpoint::parse(&url, remote.ca_file.as_deref())?,
        authorization: token.map(|t| format!("Bearer {t}")),
        sender: None,
    })
}

/// A refusal, as the switch said it: status, title, detail and each issue.
fn refusal(status: u16, body: &[u8]) -> anyhow::Error {
    let p = problem_json(body);
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_owned();
    let mut out = format!("{status} {}", text(&p, "title"));
    let detail = text(&p, "detail");
    if !detail.is_empty() {
        out.push_str(&format!(": {detail}"));
    }
    for i in p["issues"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {} {}: {}",
            text(i, "in"),
            text(i, "name"),
            text(i, "detail")
        ));
    }
    anyhow::Error::msg(out)
}

/// Call the API; a 2xx answer's JSON and its `Link` header, else the refusal.
async fn call(
    c: &mut Client,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(Value, Option<String>)> {
    let full = format!("{}{path}", c.endpoint.prefix);
    let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
    let a = c
        .request(method, &full, body, "application/json")
        .await
        .map_err(anyhow::Error::msg)?;
    if !(200..300).contains(&a.status) {
        return Err(refusal(a.status, &a.body));
    }
    let v = if a.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&a.body).context("the switch's answer is not JSON")?
    };
    Ok((v, a.link))
}

/// The cursor of a `Link: <…cursor=X…>; rel="next"` header.
fn next_cursor(link: Option<&str>) -> Option<String> {
    let link = link?;
    if !link.contains("rel=\"next\"") {
        return None;
    }
    let start = link.find("cursor=")? + "cursor=".len();
    let rest = &link[start..];
    let end = rest.find(['&', '>']).unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Rows as a table: each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

fn participants(v: &Value) -> String {
    v["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{} ({})", s(p, "institution"), s(p, "role")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `case list`: one page; after a full page, the cursor of the next.
pub async fn case_list(remote: &Remote, args: &CaseListArgs) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let q = query_string(&args.query())?;
    let path = if q.is_empty() {
        "/api/v1/cases".to_owned()
    } else {
        format!("/api/v1/cases?{q}")
    };
    let (cases, link) = call(&mut c, "GET", &path, None).await?;
    let next = next_cursor(link.as_deref());
    if remote.json {
        println!("{}", json!({ "cases": cases, "next": next }));
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = cases
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            vec![
                s(v, "caseId").to_owned(),
                s(v, "buc").to_owned(),
                s(v, "state").to_owned(),
                s(v, "status").to_owned(),
                s(v, "updatedAt").to_owned(),
                participants(v),
            ]
        })
        .collect();
    let mut out = table(
        &["CASE", "BUC", "STATE", "STATUS", "UPDATED", "PARTICIPANTS"],
        &rows,
    );
    if let Some(n) = next {
        out.push_str(&format!("more: --cursor {n}\n"));
    }
    crate::cli::print_out(&out)
}

/// `case show`: the case with its documents, messages and deadlines.
pub async fn case_show(remote: &Remote, case_id: &str) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let (v, _) = call(
        &mut c,
        "GET",
        &format!("/api/v1/cases/{}", encode(case_id)),
        None,
    )
    .await?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let mut out = format!(
        "case {}  {}  state {}  {}  (data model {})\ncreated {}  updated {}\nparticipants: {}\n",
        s(&v, "caseId"),
        s(&v, "buc"),
        s(&v, "state"),
        s(&v, "status"),
        s(&v, "sedVersion"),
        s(&v, "createdAt"),
        s(&v, "updatedAt"),
        participants(&v)
    );
    for conv in v["conversations"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "conversation with {}: {}\n",
            s(conv, "counterparty"),
            s(conv, "state")
        ));
    }
    let docs: Vec<Vec<String>> = v["documents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                s(d, "documentId").to_owned(),
                s(d, "sed").to_owned(),
                format!("v{}", d["latestVersion"]),
                s(d, "direction").to_owned(),
                s(d, "status").to_owned(),
                format!("{} -> {}", s(d, "sender"), s(d, "receiver")),
                s(d, "createdAt").to_owned(),
            ]
        })
        .collect();
    out.push_str("\nDOCUMENTS\n");
    out.push_str(&table(
        &[
            "DOCUMENT",
            "SED",
            "VERSION",
            "WAY",
            "STATUS",
            "FROM -> TO",
            "AT",
        ],
        &docs,
    ));
    let messages: Vec<Vec<String>> = v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            vec![
                s(m, "messageId").to_owned(),
                s(m, "kind").to_owned(),
                s(m, "routingKey").to_owned(),
                s(m, "status").to_owned(),
                m["attempts"].to_string(),
                s(m, "lastError").to_owned(),
            ]
        })
        .collect();
    out.push_str("\nMESSAGES\n");
    out.push_str(&table(
        &["MESSAGE", "KIND", "TO", "STATUS", "ATTEMPTS", "LAST ERROR"],
        &messages,
    ));
    let deadlines = v["deadlines"].as_array().cloned().unwrap_or_default();
    if !deadlines.is_empty() {
        out.push_str("\nDEADLINES\n");
        for d in &deadlines {
            out.push_str(&format!(
                "{} {} due {}{}\n",
                s(d, "kind"),
                d.get("sed")
                    .and_then(Value::as_str)
                    .unwrap_or(s(d, "reason")),
                s(d, "due"),
                if d["overdue"].as_bool() == Some(true) {
                    "  OVERDUE"
                } else {
                    ""
                }
            ));
        }
    }
    out.push_str("\nHISTORY\n");
    for h in v["history"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}  {}  {}\n",
            s(h, "at"),
            s(h, "event"),
            s(h, "detail")
        ));
    }
    crate::cli::print_out(&out)
}

/// `case actions`: what each Belgian participant may send now.
pub async fn case_actions(remote: &Remote, case_id: &str) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let path = format!("/api/v1/cases/{}/actions", encode(case_id));
    let (v, _) = call(&mut c, "GET", &path, None).await?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let mut rows = Vec::new();
    for p in v["participants"].as_array().into_iter().flatten() {
        for a in p["actions"].as_array().into_iter().flatten() {
            let opt = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            rows.push(vec![
                s(p, "institution").to_owned(),
                s(a, "sed").to_owned(),
                s(a, "action").to_owned(),
                s(a, "to").to_owned(),
                opt("related"),
                opt("documentId"),
            ]);
        }
    }
    crate::cli::print_out(&table(
        &["AS", "SED", "ACTION", "TO", "ANSWERS", "DOCUMENT"],
        &rows,
    ))
}

/// What `case act` sends.
#[derive(clap::Args, Clone, Debug)]
pub struct ActArgs {
    pub case_id: String,
    /// The sending Belgian institution (the token's, for a handler).
    #[arg(long)]
    pub from: String,
    /// The receiving institution.
    #[arg(long)]
    pub to: String,
    /// The SED type, e.g. A009 or X009.
    #[arg(long)]
    pub sed: String,
    /// A file with the SED element (XML).
    #[arg(long)]
    pub body: PathBuf,
    /// The document it answers or names (RelatedDocument).
    #[arg(long)]
    pub related: Option<String>,
    /// Send a new version of this document (an Update).
    #[arg(long)]
    pub document_id: Option<String>,
    /// The BUC; default: the case's.
    #[arg(long)]
    pub buc: Option<String>,
}

/// `case act`: a SED into the case through `POST /api/v1/documents`, under the
/// same BUC rules as every submission.
pub async fn case_act(remote: &Remote, a: &ActArgs) -> anyhow::Result<i32> {
    let body = std::fs::read_to_string(&a.body)
        .with_context(|| format!("reading {}", a.body.display()))?;
    let mut c = client(remote)?;
    let buc = match &a.buc {
        Some(b) => b.clone(),
        None => {
            let path = format!("/api/v1/cases/{}", encode(&a.case_id));
            let (case, _) = call(&mut c, "GET", &path, None).await?;
            s(&case, "buc").to_owned()
        }
    };
    let mut req = json!({
        "from": a.from, "to": a.to, "buc": buc, "sed": a.sed,
        "caseId": a.case_id, "body": body,
    });
    if let Some(r) = &a.related {
        req["relatedDocumentId"] = json!(r);
    }
    if let Some(d) = &a.document_id {
        req["documentId"] = json!(d);
    }
    let (v, _) = call(&mut c, "POST", "/api/v1/documents", Some(req)).await?;
    if remote.json {
        println!("{v}");
    } else {
        println!(
            "{} sent in case {}: document {} version {}, message {}",
            a.sed,
            s(&v, "caseId"),
            s(&v, "documentId"),
            v["documentVersion"],
            s(&v, "messageId")
        );
    }
    Ok(0)
}

/// `dead-letters list` through the API.
pub async fn dead_letters(remote: &Remote) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let (v, _) = call(&mut c, "GET", "/api/v1/dead-letters", None).await?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            vec![
                d["id"].to_string(),
                s(d, "deadAt").to_owned(),
                s(d, "queue").to_owned(),
                d.get("messageId")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message id)")
                    .to_owned(),
                d["bodyBytes"].to_string(),
                d.get("reinjectedAt")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ]
        })
        .collect();
    crate::cli::print_out(&table(
        &["ID", "DEAD AT", "QUEUE", "MESSAGE", "BYTES", "REINJECTED"],
        &rows,
    ))
}

/// `dead-letters reinject` through the API.
pub async fn reinject(remote: &Remote, id: i64) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let path = format!("/api/v1/dead-letters/{id}/reinject");
    let (v, _) = call(&mut c, "POST", &path, None).await?;
    if remote.json {
        println!("{v}");
    } else {
        println!("dead letter {id} re-injected");
    }
    Ok(0)
}

/// `triage list` through the API.
pub async fn triage_list(remote: &Remote, all: bool) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let path = if all {
        "/api/v1/triage"
    } else {
        "/api/v1/triage?status=waiting"
    };
    let (v, _) = call(&mut c, "GET", path, None).await?;
    if remote.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            vec![
                e["id"].to_string(),
                s(e, "createdAt").to_owned(),
                s(e, "status").to_owned(),
                format!("{} {} v{}", s(e, "buc"), s(e, "sed"), e["documentVersion"]),
                s(e, "caseId").to_owned(),
                format!("{} -> {}", s(e, "sender"), s(e, "addressed")),
                s(e, "reason").to_owned(),
                e.get("assignedTo")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ]
        })
        .collect();
    crate::cli::print_out(&table(
        &[
            "ID",
            "RECEIVED",
            "STATUS",
            "SED",
            "CASE",
            "FROM -> TO",
            "REASON",
            "ASSIGNED",
        ],
        &rows,
    ))
}

/// `triage assign` through the API (the operator is the token's subject).
pub async fn triage_assign(remote: &Remote, id: i64, to: &str) -> anyhow::Result<i32> {
    let mut c = client(remote)?;
    let path = format!("/api/v1/triage/{id}/assign");
    let (v, _) = call(&mut c, "POST", &path, Some(json!({ "institution": to }))).await?;
    if remote.json {
        println!("{v}");
    } else {
        println!(
            "triage entry {id} delivered to {to} (message {})",
            s(&v, "messageId")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_encoded_with_the_api_names() {
        let args = CaseListArgs {
            name: Some("Dupont Élodie".into()),
            overdue: true,
            limit: Some(5),
            ..Default::default()
        };
        assert_eq!(
            query_string(&args.query()).unwrap(),
            "limit=5&name=Dupont%20%C3%89lodie&overdue=true"
        );
    }

    #[test]
    fn the_next_cursor_is_read_from_the_link_header() {
        assert_eq!(
            next_cursor(Some(
                "</api/v1/cases?status=open&cursor=abc_-1>; rel=\"next\""
            )),
            Some("abc_-1".into())
        );
        assert_eq!(next_cursor(Some("</x>; rel=\"prev\"")), None);
        assert_eq!(next_cursor(None), None);
    }

    #[test]
    fn a_table_aligns_its_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
