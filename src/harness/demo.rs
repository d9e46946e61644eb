//! `eessi-harness demo`: a scripted cross-border exchange between the Belgian
//! switch and foreign access points (NL, DE), each a full switch with its own
//! store, over RabbitMQ (`--amqp`) or an in-process transport. It prints each
//! case's timeline as both sides see it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, RetryPolicy};
use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, SedType};
use crate::store::{OutboxKind, OutboxStatus};
use crate::switch::Switch;
use crate::switch::outbound::{Submission, Submitted, submit};
use crate::transport::Transport;

/// Where the project's data lives: the current directory if it has the
/// definitions, else the source tree this binary was built from.
pub fn project_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if cwd.join("buc-definitions").is_dir() {
        return cwd;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A configuration for one demo access point, its store under `dir`.
pub fn demo_config(
    root: &Path,
    country: &str,
    dir: &Path,
    amqp: Option<&str>,
) -> Result<Config, String> {
    let text = format!(
        "country = \"{country}\"\nregistry = \"{root}/fixtures/registry.toml\"\nbuc_definitions = \"{root}/buc-definitions\"\nsed_schemas = \"{root}/sed-schemas\"\nadapters = \"{root}/adapters\"\nkeys_dir = \"{root}/fixtures/pki\"\nsed_versions = [\"4.2\", \"4.3\"]\n{routing}[store]\nurl = \"sqlite://{db}\"\n{amqp}",
        root = root.display(),
        db = dir.join(format!("{}.db", country.to_lowercase())).display(),
        // Belgium routes what it receives by the real rules.
        routing = if country == "BE" {
            format!("routing = \"{}/routing/belgium.toml\"\n", root.display())
        } else {
            String::new()
        },
        amqp = amqp
            .map(|u| format!("[amqp]\nurl = \"{u}\"\n"))
            .unwrap_or_default(),
    );
    let mut c = Config::parse(&text, &dir.join("demo.toml")).map_err(|e| e.to_string())?;
    c.retry = RetryPolicy {
        interval_ms: 5_000,
        attempts_max: 5,
        window_ms: 60_000,
        ..RetryPolicy::default()
    };
    Ok(c)
}

struct Party {
    sw: Arc<Switch>,
}

fn inst(s: &str) -> InstitutionId {
    // invariant: demo constants are valid ids
    InstitutionId::parse(s).unwrap_or_else(|e| panic!("demo constant: {e}"))
}

fn body(root: &Path, sed: &str) -> Result<Vec<u8>, String> {
    std::fs::read(root.join(format!("fixtures/sed/4.2/{sed}.xml")))
        .map_err(|e| format!("fixture {sed}: {e}"))
}

async fn send(p: &Party, s: Submission) -> Result<Submitted, String> {
    let sw = p.sw.clone();
    tokio::task::spawn_blocking(move || submit(&sw, s))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| match e {
            crate::switch::outbound::SubmitError::Invalid(issues) => format!("invalid: {issues:?}"),
            other => other.to_string(),
        })
}

#[allow(clippy::too_many_arguments)]
fn submission(
    from: &str,
    to: &str,
    buc: &str,
    sed: &str,
    case: Option<&CaseId>,
    related: Option<&DocumentId>,
    root: &Path,
) -> Result<Submission, String> {
    Ok(Submission {
        from: inst(from),
        to: inst(to),
        buc: BucType::parse(buc).map_err(|e| e.to_string())?,
        sed: SedType::parse(sed).map_err(|e| e.to_string())?,
        version: None,
        case_id: case.cloned(),
        document_id: None,
        related: related.cloned(),
        body: body(root, sed)?,
        reference: None,
    })
}

/// Wait until a received SED of `case` is delivered to a national queue here; the
/// institution(s) it went to.
async fn delivered_to(p: &Party, case: &CaseId) -> Result<String, String> {
    for _ in 0..200 {
        let to: Vec<String> =
            p.sw.store
                .messages(None, 1000)
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|m| {
                    m.kind == OutboxKind::National
                        && m.case_id.as_ref() == Some(case)
                        && m.status == crate::store::OutboxStatus::Sent
                })
                .map(|m| m.routing_key)
                .collect();
        if !to.is_empty() {
            return Ok(to.join(", "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("nothing of case {case} reached a national queue"))
}

/// Wait until the SED message reaches a final status at its sender.
async fn settled(p: &Party, message_id: &str) -> Result<String, String> {
    for _ in 0..200 {
        let ms = p.sw.store.messages(None, 1000).map_err(|e| e.to_string())?;
        if let Some(m) = ms
            .iter()
            .find(|m| m.message_id == message_id && m.kind == OutboxKind::Sed)
            && [
                OutboxStatus::Delivered,
                OutboxStatus::Rejected,
                OutboxStatus::Failed,
            ]
            .contains(&m.status)
        {
            return Ok(m.status.to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("message {message_id} did not settle within 20 s"))
}

/// Wait until the peer holds the case in `state`.
async fn reaches(p: &Party, case: &CaseId, state: &str) -> Result<(), String> {
    for _ in 0..200 {
        if let Some(d) = p.sw.store.case_detail(case).map_err(|e| e.to_string())?
            && d.case.state == state
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "case {case} did not reach {state} at {}",
        p.sw.country
    ))
}

fn print_case(title: &str, parties: &[&Party], case: &CaseId) {
    println!("\n=== {title}");
    for p in parties {
        match p.sw.store.case_detail(case) {
            Ok(Some(d)) => print!(
                "--- as seen by access point {}\n{}",
                p.sw.country,
                crate::report::timeline(&d)
            ),
            Ok(None) => println!("--- access point {} does not hold this case", p.sw.country),
            Err(e) => println!("--- access point {}: {e}", p.sw.country),
        }
    }
}

/// Run the demo; returns an error text if any step did not go as scripted.
pub async fn run(amqp: Option<String>, serve: Option<String>) -> Result<(), String> {
    let root = project_root();
    let dir = tempfile::Builder::new()
        .prefix("eessi-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let mut parties = Vec::new();
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let memory = crate::transport::memory::MemoryBroker::new();
    let mut tasks = Vec::new();
    for country in ["BE", "NL", "DE"] {
        let config = demo_config(&root, country, dir.path(), amqp.as_deref())?;
        let transport: Arc<dyn Transport> = match &amqp {
            Some(url) => Arc::new(
                crate::transport::amqp::AmqpTransport::connect(url)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            None => Arc::new(memory.clone()),
        };
        let sw = Arc::new(Switch::build(&config, transport).map_err(|e| e.to_string())?);
        sw.declare().await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(sw.clone().run(64, shutdown_rx.clone())));
        parties.push(Party { sw });
    }
    println!(
        "eessi-harness demo: access points BE, NL and DE over the {}",
        parties[0].sw.transport.describe()
    );
    println!("stores in {}", dir.path().display());
    let (be, nl, de) = (&parties[0], &parties[1], &parties[2]);

    // 1. A Belgian posting notification in ONSS's own format becomes an A009 (LA_BUC_04).
    let case1 = match be.sw.adapters.get("onss-posting") {
        Some(a) => {
            let national = std::fs::read(root.join("fixtures/national/onss-posting.xml"))
                .map_err(|e| e.to_string())?;
            let t = a
                .translate(&national, &be.sw.limits, &be.sw.versions[0])
                .map_err(|e| e.to_string())?;
            send(be, Submission::national("onss-posting", t, &national)).await?
        }
        None => {
            send(
                be,
                submission("BE:ONSS", "NL:SVB", "LA_BUC_04", "A009", None, None, &root)?,
            )
            .await?
        }
    };
    println!(
        "\nBE:ONSS notified a posting to NL:SVB (A009): {}",
        settled(be, &case1.message_id).await?
    );
    reaches(nl, &case1.case_id, "notified").await?;

    // 2. LA_BUC_02 started by BE:INASTI, approved by NL:SVB (A012), then closed (X001).
    let a003 = send(
        be,
        submission(
            "BE:INASTI",
            "NL:SVB",
            "LA_BUC_02",
            "A003",
            None,
            None,
            &root,
        )?,
    )
    .await?;
    println!(
        "BE:INASTI sent its decision A003 to NL:SVB: {}",
        settled(be, &a003.message_id).await?
    );
    reaches(nl, &a003.case_id, "awaiting_reply").await?;
    let a012 = send(
        nl,
        submission(
            "NL:SVB",
            "BE:INASTI",
            "LA_BUC_02",
            "A012",
            Some(&a003.case_id),
            Some(&a003.document_id),
            &root,
        )?,
    )
    .await?;
    println!(
        "NL:SVB approved it with A012: {}",
        settled(nl, &a012.message_id).await?
    );
    reaches(be, &a003.case_id, "agreed").await?;
    // A refusal: NL:SVB's A004 is no longer allowed once it approved... except as a
    // withdrawal of the approval; a second A003 from the counterparty is never allowed.
    let refused = send(
        nl,
        submission(
            "NL:SVB",
            "BE:INASTI",
            "LA_BUC_02",
            "A003",
            Some(&a003.case_id),
            None,
            &root,
        )?,
    )
    .await;
    println!(
        "NL:SVB tried to send an A003 as counterparty: {}",
        match &refused {
            Ok(_) => "accepted (unexpected)".to_owned(),
            Err(e) => format!("refused by NL's own switch ({e})"),
        }
    );
    if refused.is_ok() {
        return Err("the protocol violation was accepted".into());
    }
    let x001 = send(
        be,
        submission(
            "BE:INASTI",
            "NL:SVB",
            "LA_BUC_02",
            "X001",
            Some(&a003.case_id),
            None,
            &root,
        )?,
    )
    .await?;
    println!(
        "BE:INASTI closed the case with X001: {}",
        settled(be, &x001.message_id).await?
    );
    reaches(nl, &a003.case_id, "closed").await?;

    // 3. LA_BUC_02 started abroad: NL:SVB to BE:ONSS, which disagrees (A004).
    let nl_a003 = send(
        nl,
        submission("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None, &root)?,
    )
    .await?;
    println!(
        "NL:SVB sent an A003 to BE:ONSS: {}",
        settled(nl, &nl_a003.message_id).await?
    );
    reaches(be, &nl_a003.case_id, "awaiting_reply").await?;
    let a004 = send(
        be,
        submission(
            "BE:ONSS",
            "NL:SVB",
            "LA_BUC_02",
            "A004",
            Some(&nl_a003.case_id),
            Some(&nl_a003.document_id),
            &root,
        )?,
    )
    .await?;
    println!(
        "BE:ONSS disagreed with A004: {}",
        settled(be, &a004.message_id).await?
    );
    reaches(nl, &nl_a003.case_id, "disagreed").await?;

    // 4. H_BUC_01 between BE:INAMI and DE:TK.
    let h001 = send(
        be,
        submission("BE:INAMI", "DE:TK", "H_BUC_01", "H001", None, None, &root)?,
    )
    .await?;
    println!(
        "BE:INAMI asked DE:TK for information (H001): {}",
        settled(be, &h001.message_id).await?
    );
    reaches(de, &h001.case_id, "awaiting_reply").await?;
    let h002 = send(
        de,
        submission(
            "DE:TK",
            "BE:INAMI",
            "H_BUC_01",
            "H002",
            Some(&h001.case_id),
            Some(&h001.document_id),
            &root,
        )?,
    )
    .await?;
    println!(
        "DE:TK answered with H002: {}",
        settled(de, &h002.message_id).await?
    );
    reaches(be, &h001.case_id, "answered").await?;

    // 5. A refusal over the wire: DE:TK's switch is bypassed and an A004 is sent
    // straight onto the broker in the H_BUC_01 case; BE answers PROTOCOL_VIOLATION.
    let rogue = crate::harness::peer::craft_sed(
        &de.sw,
        &crate::harness::peer::Craft::new(
            "DE:TK",
            "BE:INAMI",
            "H_BUC_01",
            "H002",
            &h001.case_id,
            &body(&root, "H002")?,
        )
        .roles(crate::ids::Role::Counterparty, crate::ids::Role::CaseOwner)
        .action(crate::ids::CaseAction::New),
    )?;
    let rogue_id = rogue.message_id.clone();
    de.sw
        .transport
        .publish(&rogue)
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..200 {
        if be
            .sw
            .store
            .case_detail(&h001.case_id)
            .map_err(|e| e.to_string())?
            .is_some_and(|d| d.history.iter().any(|h| h.event == "sed-refused"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "a second H002 sent straight onto the broker (message {rogue_id}) was refused by BE with PROTOCOL_VIOLATION"
    );

    // 6. Routing: NL:SVB asks Family Benefits Belgium, the liaison body, about a
    // child living in Namur; BE's rules deliver it to the Walloon body. DE:TK asks
    // the CBSS, which is no competent institution: the SED is accepted and waits in
    // triage until an operator assigns it to ONSS.
    let mut f001 = submission("NL:SVB", "BE:FBB", "FB_BUC_01", "F001", None, None, &root)?;
    f001.body = String::from_utf8(f001.body)
        .map_err(|e| e.to_string())?
        .replace(
            "<sed:PostalCode>9000</sed:PostalCode>",
            "<sed:PostalCode>5000</sed:PostalCode>",
        )
        .into_bytes();
    let f001 = send(nl, f001).await?;
    println!(
        "NL:SVB asked BE:FBB to determine the competent institution (F001, child in 5000 Namur): {}",
        settled(nl, &f001.message_id).await?
    );
    let routed = delivered_to(be, &f001.case_id).await?;
    println!("  BE's routing rules delivered it to {routed}");
    let h001_cbss = send(
        de,
        submission("DE:TK", "BE:CBSS", "H_BUC_01", "H001", None, None, &root)?,
    )
    .await?;
    println!(
        "DE:TK asked BE:CBSS for information (H001): {}",
        settled(de, &h001_cbss.message_id).await?
    );
    let entry = be
        .sw
        .store
        .triage_list(Some(crate::store::TriageStatus::Waiting), 10)
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|e| e.case_id == h001_cbss.case_id)
        .ok_or("the H001 to the CBSS is not in triage")?;
    println!(
        "  it waits in triage (entry {}): {}",
        entry.id, entry.reason
    );
    let operator = crate::store::AuditEntry {
        at: crate::store::now_rfc3339(),
        subject: "demo-operator".into(),
        institution: None,
        action: String::new(),
        target: String::new(),
        remote: None,
    };
    let sw = be.sw.clone();
    let id = entry.id;
    tokio::task::spawn_blocking(move || {
        crate::switch::triage::assign(&sw, id, &inst("BE:ONSS"), &operator)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    println!(
        "  an operator assigned it to BE:ONSS: delivered to {}",
        delivered_to(be, &h001_cbss.case_id).await?
    );

    print_case(
        "LA_BUC_04 posting notification (BE:ONSS -> NL:SVB)",
        &[be, nl],
        &case1.case_id,
    );
    print_case(
        "LA_BUC_02 started by BE:INASTI, approved, closed",
        &[be, nl],
        &a003.case_id,
    );
    print_case(
        "LA_BUC_02 started by NL:SVB, disagreed by BE:ONSS",
        &[be, nl],
        &nl_a003.case_id,
    );
    print_case(
        "H_BUC_01 BE:INAMI <-> DE:TK, with a refused duplicate answer",
        &[be, de],
        &h001.case_id,
    );

    if let Some(addr) = serve {
        serve_pages(be, nl, &root, &addr, shutdown_rx.clone()).await?;
    }
    let _ = shutdown_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    println!("\ndemo finished: every step went as scripted");
    Ok(())
}

/// `--serve`: one more A003 from NL:SVB left waiting for BE:ONSS's answer, then
/// BE's pages and API (authentication off, as `serve` without `[auth]`) at `addr`
/// until Ctrl-C.
async fn serve_pages(
    be: &Party,
    nl: &Party,
    root: &Path,
    addr: &str,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let waiting = send(
        nl,
        submission("NL:SVB", "BE:ONSS", "LA_BUC_02", "A003", None, None, root)?,
    )
    .await?;
    reaches(be, &waiting.case_id, "awaiting_reply").await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("binding {addr}: {e}"))?;
    let edge = Arc::new(crate::api::edge::HttpEdge::new(
        crate::config::HttpConfig::default(),
        be.sw.limits.body_bytes_max,
    ));
    let app = crate::api::router(be.sw.clone(), None, edge.clone());
    let server = tokio::spawn(crate::api::server::serve(
        listener, app, edge, None, shutdown,
    ));
    println!(
        "\nBE's pages: http://{addr}/ (no sign-in: development only). NL:SVB's A003 to BE:ONSS \
         waits for an answer: http://{addr}/cases/{}\nCtrl-C to end.",
        waiting.case_id
    );
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        r = server => return Err(format!("the HTTP server ended: {r:?}")),
    }
    Ok(())
}
