//! `GET /cases/{caseId}`: one case as a case handler needs it: what it is (BUC
//! title, participants and roles in words), where it stands (the BUC diagram with
//! each conversation's state), what needs attention (failed deliveries, overdue
//! replies), what can be done now (only what `buc::actions::allowed` offers), the
//! documents with each SED rendered readably, every message's delivery, and the
//! timeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::fmt::{lateness, short_id, time, time_utc};
use super::i18n::{Lang, t, tf, word};
use super::list::institution_name;
use super::{Ctx, html_response, page};
use crate::api::auth::Caller;
use crate::buc::deadline::Deadline;
use crate::store::{CaseDetail, OutboxKind, OutboxMessage, OutboxStatus};
use crate::switch::Switch;

/// Documents whose SED is rendered on the page (the newest ones); the others are
/// linked to their stored envelope.
const RENDERED_MAX: usize = 30;
/// The raw XML shown behind a `<details>`, at most this many bytes.
const RAW_MAX: usize = 64 * 1024;

pub async fn case(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let path = super::case_path(&case_id);
    let ctx = Ctx::new(&headers, Some(&caller), sw.country.as_str(), &path);
    let lang = ctx.lang;
    let d = match super::visible_case(&sw, &caller, &case_id, &ctx).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    // The newest version of the newest documents, read for rendering.
    let wanted: Vec<_> = d
        .documents
        .iter()
        .rev()
        .take(RENDERED_MAX)
        .map(|(doc, _)| (doc.document_id.clone(), doc.latest_version))
        .collect();
    let store = sw.store.clone();
    let case_id = d.case.case_id.clone();
    let (envelopes, drafts) = tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for (id, v) in wanted {
            if let Ok(Some(e)) = store.document_envelope(&id, v) {
                out.insert(id.to_string(), e);
            }
        }
        // The drafts are a convenience: unreadable, the page goes without them.
        (out, store.drafts_of_case(&case_id).unwrap_or_default())
    })
    .await
    .unwrap_or_default();
    // What the deadlines will do, read with the case (one snapshot).
    let timers = &d.timers;
    let now = chrono::Utc::now();
    let deadlines = crate::api::deadlines_of(&sw, &d, now);
    let actions = crate::api::actions::actions_of(&sw, &caller, &d);
    let done = raw
        .as_deref()
        .and_then(|q| q.strip_prefix("done="))
        .map(str::to_owned);
    let title = format!(
        "{} · {}",
        sw.catalogue
            .get(&d.case.buc)
            .map_or(d.case.buc.as_str(), |def| def.title.as_str()),
        tf(
            lang,
            "case.title",
            &[("id", &super::fmt::short(d.case.case_id.as_str()))]
        )
    );
    let body = html! {
        @if let Some(done) = done.as_deref() {
            @match done {
                "reminder" => p class="notice" role="status" { (t(lang, "case.reminder_done")) },
                "resend" => p class="notice" role="status" { (t(lang, "case.resend_done")) },
                "sent" => p class="notice" role="status" { (t(lang, "case.sent_done")) },
                "closed" => p class="notice" role="status" { (t(lang, "case.local_close_done")) },
                "discarded" => p class="notice" role="status" { (t(lang, "write.discarded")) },
                _ => {},
            }
        }
        (attention(lang, &d, &deadlines))
        (summary(&sw, lang, &d))
        (diagram(&sw, lang, &d))
        (participants(&sw, lang, &d))
        (pending(lang, &d, &deadlines, now))
        (timers_section(lang, timers))
        (actions_section(&sw, &ctx, &d, &actions, &drafts))
        (documents(&sw, lang, &d, &envelopes))
        (messages(lang, &ctx, &d))
        (timeline(lang, &d))
    };
    html_response(StatusCode::OK, page(&ctx, &title, body))
}

/// What the case's timers will do and when, and what the fired ones did.
fn timers_section(lang: Lang, timers: &[crate::store::Timer]) -> Markup {
    html! {
        section aria-labelledby="timers" {
            h2 id="timers" { (t(lang, "case.timers")) }
            @if timers.is_empty() {
                p { (t(lang, "case.no_timers")) }
            } @else {
                ul {
                    @for x in timers.iter().rev() {
                        li class=[(x.status == crate::store::TimerStatus::Failed).then_some("failed")] {
                            (word(lang, "timer", x.what.as_str())) " — "
                            @if let Some(due) = chrono::DateTime::from_timestamp_millis(x.due_ms) {
                                (t(lang, "case.due")) " " (time_utc(lang, due)) " — "
                            }
                            strong { (word(lang, "timerstatus", x.status.as_str())) }
                            @if x.status == crate::store::TimerStatus::Failed {
                                @if let Some(why) = &x.outcome { ": " (why) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn failed(m: &OutboxMessage) -> bool {
    matches!(m.status, OutboxStatus::Failed | OutboxStatus::Rejected)
}

fn attention(lang: Lang, d: &CaseDetail, deadlines: &[Deadline]) -> Markup {
    let failed_n = d.messages.iter().filter(|m| failed(m)).count();
    let overdue_n = deadlines
        .iter()
        .filter(|x| matches!(x, Deadline::Reply { overdue: true, .. }))
        .count();
    html! {
        @if failed_n > 0 || overdue_n > 0 {
            section class="alert" aria-labelledby="attention" role="alert" {
                h2 id="attention" { (t(lang, "case.attention")) }
                ul {
                    @if failed_n > 0 { li { a href="#messages" { (tf(lang, "case.attention_failed", &[("n", &failed_n.to_string())])) } } }
                    @if overdue_n > 0 { li { a href="#deadlines" { (tf(lang, "case.attention_overdue", &[("n", &overdue_n.to_string())])) } } }
                }
            }
        }
    }
}

fn summary(sw: &Switch, lang: Lang, d: &CaseDetail) -> Markup {
    let c = &d.case;
    html! {
        section aria-labelledby="summary" {
            h2 id="summary" { (t(lang, "case.summary")) }
            dl class="summary" {
                dt { label for="case-id" { (t(lang, "case.copy_id")) } }
                dd { input id="case-id" class="copy" type="text" readonly value=(c.case_id); }
                dt { (t(lang, "case.buc")) }
                dd { (sw.catalogue.get(&c.buc).map_or("", |def| def.title.as_str())) " (" (c.buc) ")" }
                dt { (t(lang, "case.state")) }
                dd { strong { (word(lang, "state", &c.state)) } }
                dt { (t(lang, "case.status")) }
                dd { (word(lang, "status", c.status.as_str())) }
                dt { (t(lang, "case.version")) }
                dd { (c.sed_version) }
                dt { (t(lang, "case.created")) }
                dd { (time(lang, &c.created_at)) }
                dt { (t(lang, "case.updated")) }
                dd { (time(lang, &c.updated_at)) }
            }
        }
    }
}

fn diagram(sw: &Switch, lang: Lang, d: &CaseDetail) -> Markup {
    let Some(def) = sw.catalogue.get(&d.case.buc) else {
        return html! {};
    };
    let mut current: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &d.conversations {
        current
            .entry(c.state.clone())
            .or_default()
            .push(c.counterparty.to_string());
    }
    if current.is_empty() {
        current.insert(d.case.state.clone(), Vec::new());
    }
    html! {
        section aria-labelledby="diagram" {
            h2 id="diagram" { (t(lang, "case.diagram")) }
            (super::diagram::render(lang, def, &current))
        }
    }
}

fn participants(sw: &Switch, lang: Lang, d: &CaseDetail) -> Markup {
    html! {
        section aria-labelledby="participants" {
            h2 id="participants" { (t(lang, "case.participants")) }
            div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "case.participants")) { table {
                caption { (t(lang, "case.participants")) }
                thead { tr {
                    th scope="col" { (t(lang, "case.institution")) }
                    th scope="col" { (t(lang, "case.role")) }
                    th scope="col" { (t(lang, "case.conversation_state")) }
                } }
                tbody {
                    @for p in &d.participants {
                        @let conv = d.conversations.iter().find(|c| c.counterparty == p.institution);
                        tr {
                            th scope="row" { (institution_name(sw, &p.institution)) }
                            td { (word(lang, "role", &p.role.to_string())) }
                            td { @if let Some(c) = conv { (word(lang, "state", &c.state)) } }
                        }
                    }
                }
            } }
        }
    }
}

fn pending(
    lang: Lang,
    d: &CaseDetail,
    deadlines: &[Deadline],
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    html! {
        section aria-labelledby="deadlines" {
            h2 id="deadlines" { (t(lang, "case.deadlines")) }
            @if deadlines.is_empty() {
                p { (t(lang, "case.none_pending")) }
            } @else {
                ul {
                    @for x in deadlines {
                        @match x {
                            Deadline::Reply { document_id, sed, due, overdue, .. } => {
                                li class=[overdue.then_some("overdue")] {
                                    (tf(lang, "case.deadline_reply", &[("sed", sed.as_str()), ("doc", &super::fmt::short(document_id.as_str()))]))
                                    " — " (t(lang, "case.due")) " " (time_utc(lang, *due)) " — "
                                    strong { (lateness(lang, *due, now)) }
                                }
                            }
                            Deadline::AutoClose { due, overdue, .. } => {
                                li class=[overdue.then_some("overdue")] {
                                    (t(lang, "case.deadline_close")) " — " (time_utc(lang, *due)) " — " (lateness(lang, *due, now))
                                }
                            }
                        }
                    }
                }
            }
            @let _ = d;
        }
    }
}

fn actions_section(
    sw: &Switch,
    ctx: &Ctx,
    d: &CaseDetail,
    actions: &crate::api::dto::CaseActionsDto,
    drafts: &[crate::store::Draft],
) -> Markup {
    let lang = ctx.lang;
    let has_draft = |from: &str, a: &crate::buc::actions::Allowed| {
        drafts.iter().any(|dr| {
            dr.key.sender.as_str() == from
                && dr.key.sed == a.sed
                && dr.key.receiver == a.to
                && dr.key.related.as_ref() == a.related.as_ref()
        })
    };
    let sed_of = |id: &crate::ids::DocumentId| {
        d.documents
            .iter()
            .find(|(doc, _)| &doc.document_id == id)
            .map(|(doc, _)| doc.sed.to_string())
            .unwrap_or_default()
    };
    let any = actions.participants.iter().any(|p| !p.actions.is_empty());
    html! {
        section aria-labelledby="actions" class="actions" {
            h2 id="actions" { (t(lang, "case.actions")) }
            @if !any {
                p { (t(lang, "case.no_actions")) }
            }
            @if d.case.status == crate::store::CaseStatus::Open && !actions.participants.is_empty() {
                form method="post" action={ "/cases/" (d.case.case_id) "/local-close" } {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    button type="submit" class="secondary" { (t(lang, "case.local_close")) }
                }
            }
            @for p in &actions.participants {
                @if !p.actions.is_empty() {
                    h3 { (tf(lang, "case.as", &[("who", &p.institution)])) }
                    ul {
                        @for a in p.actions.iter().filter(|a| a.sed.as_str() == "X009") {
                            @if let Some(related) = &a.related {
                                li {
                                    form method="post" action={ "/cases/" (d.case.case_id) "/reminder" } {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        input type="hidden" name="from" value=(p.institution);
                                        input type="hidden" name="to" value=(a.to);
                                        input type="hidden" name="related" value=(related);
                                        button type="submit" {
                                            (tf(lang, "case.reminder", &[("sed", &sed_of(related)), ("to", &institution_name(sw, &a.to))]))
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @for (n, a) in p.actions.iter().enumerate() {
                        @if let Some(form) = super::xsed::form_of(a.sed.as_str()) {
                            (super::xsed::render(
                                lang, ctx, &d.case.case_id, n, form, &p.institution, a.to.as_str(),
                                &institution_name(sw, &a.to),
                                a.related.as_ref().map(|r| (r, sed_of(r))).as_ref().map(|(r, s)| (*r, s.as_str())),
                            ))
                        }
                    }
                    // A new version of a sent document (`Update`) is not written here.
                    @let others: Vec<_> = p.actions.iter().filter(|a| a.sed.as_str() != "X009" && a.document_id.is_none() && super::xsed::form_of(a.sed.as_str()).is_none()).collect();
                    @if !others.is_empty() {
                        details open {
                            summary { (t(lang, "case.other_actions")) }
                            ul {
                                @for a in others {
                                    li {
                                        a href=(super::write::link(&d.case.case_id, &p.institution, a.to.as_str(), a.sed.as_str(), a.related.as_ref())) {
                                            (tf(lang, "write.link", &[("sed", a.sed.as_str()), ("to", &institution_name(sw, &a.to))]))
                                        }
                                        @if let Some(title) = sw.catalogue.seds.get(&a.sed) { " — " (title.title) }
                                        @if has_draft(&p.institution, a) { " " span class="badge" { (t(lang, "case.draft")) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn documents(
    sw: &Switch,
    lang: Lang,
    d: &CaseDetail,
    envelopes: &BTreeMap<String, Vec<u8>>,
) -> Markup {
    html! {
        section aria-labelledby="documents" {
            h2 id="documents" { (t(lang, "case.documents")) }
            div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "case.documents")) { table id="documents-table" {
                caption { (t(lang, "case.documents")) }
                thead { tr {
                    th scope="col" { (t(lang, "case.sed")) }
                    th scope="col" { (t(lang, "case.from_to")) }
                    th scope="col" { (t(lang, "case.direction")) }
                    th scope="col" { (t(lang, "case.delivery")) }
                    th scope="col" { (t(lang, "case.versions")) }
                } }
                tbody {
                    @for (doc, versions) in &d.documents {
                        @let msgs: Vec<&OutboxMessage> = d.messages.iter().filter(|m| m.document_id.as_ref() == Some(&doc.document_id) && m.kind == OutboxKind::Sed).collect();
                        @let bad = msgs.iter().any(|m| failed(m));
                        tr class=[bad.then_some("failed")] {
                            th scope="row" {
                                a href={ "#doc-" (doc.document_id) } { (doc.sed) }
                                " " (sw.catalogue.seds.get(&doc.sed).map_or("", |s| s.title.as_str()))
                                " " (short_id(doc.document_id.as_str()))
                            }
                            td { (institution_name(sw, &doc.sender)) " → " (institution_name(sw, &doc.receiver)) }
                            td { (word(lang, "direction", doc.direction.as_str())) ", " (word(lang, "docstatus", doc.status.as_str())) }
                            td {
                                @for m in &msgs {
                                    span class=(m.status.as_str()) { (word(lang, "msgstatus", m.status.as_str())) } " "
                                }
                            }
                            td {
                                @for v in versions {
                                    a href={ "/api/v1/cases/" (d.case.case_id) "/documents/" (doc.document_id) "/versions/" (v.version) } { "v" (v.version) }
                                    " (" (time(lang, &v.created_at)) ") "
                                }
                            }
                        }
                    }
                }
            } }
            @for (doc, _) in d.documents.iter().rev() {
                @if let Some(env) = envelopes.get(doc.document_id.as_str()) {
                    section id={ "doc-" (doc.document_id) } aria-label=(tf(lang, "case.read_sed", &[("sed", doc.sed.as_str()), ("v", &doc.latest_version.to_string())])) {
                        h3 { (doc.sed) " — " (sw.catalogue.seds.get(&doc.sed).map_or("", |s| s.title.as_str())) " (v" (doc.latest_version) ")" }
                        (super::sed_view::render(lang, env, doc.sed.as_str()))
                        details {
                            summary { (t(lang, "case.raw_xml")) }
                            pre { code { (String::from_utf8_lossy(&env[..env.len().min(RAW_MAX)])) } }
                        }
                    }
                }
            }
        }
    }
}

fn messages(lang: Lang, ctx: &Ctx, d: &CaseDetail) -> Markup {
    html! {
        section aria-labelledby="messages" {
            h2 id="messages" { (t(lang, "case.messages")) }
            div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "case.messages")) { table id="messages-table" {
                caption { (t(lang, "case.messages")) }
                thead { tr {
                    th scope="col" { (t(lang, "case.message")) }
                    th scope="col" { (t(lang, "case.kind")) }
                    th scope="col" { (t(lang, "case.to")) }
                    th scope="col" { (t(lang, "case.delivery")) }
                    th scope="col" { (t(lang, "case.attempts")) }
                    th scope="col" { (t(lang, "case.last_error")) }
                } }
                tbody {
                    @for m in &d.messages {
                        tr class=[failed(m).then_some("failed")] {
                            th scope="row" { (short_id(&m.message_id)) }
                            td { (word(lang, "kind", m.kind.as_str())) }
                            td { (m.routing_key) }
                            td class=(m.status.as_str()) {
                                @if m.kind != OutboxKind::Sed && m.status == OutboxStatus::Sent {
                                    // Only a SED abroad waits for a receipt.
                                    (t(lang, "msgstatus.published"))
                                } @else {
                                    (word(lang, "msgstatus", m.status.as_str()))
                                }
                                @if m.status == OutboxStatus::Failed {
                                    form method="post" action={ "/messages/" (m.message_id) "/resend" } {
                                        input type="hidden" name="csrf" value=(ctx.csrf);
                                        input type="hidden" name="case" value=(d.case.case_id);
                                        button type="submit" aria-label={ (t(lang, "case.resend")) " " (super::fmt::short(&m.message_id)) } { (t(lang, "case.resend")) }
                                    }
                                }
                            }
                            td { (m.attempts) }
                            td { (m.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            } }
        }
    }
}

fn timeline(lang: Lang, d: &CaseDetail) -> Markup {
    html! {
        section aria-labelledby="timeline" {
            h2 id="timeline" { (t(lang, "case.timeline")) }
            div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "case.timeline")) { table id="history" {
                caption { (t(lang, "case.timeline")) }
                thead { tr {
                    th scope="col" { (t(lang, "case.at")) }
                    th scope="col" { (t(lang, "case.event")) }
                    th scope="col" { (t(lang, "case.state")) }
                    th scope="col" { (t(lang, "case.detail")) }
                } }
                tbody {
                    @for h in &d.history {
                        tr class=[(h.event == "failed").then_some("failed")] {
                            th scope="row" { (time(lang, &h.at)) }
                            td data-event=(h.event) { (word(lang, "event", &h.event)) }
                            td {
                                @match (&h.from_state, &h.to_state) {
                                    (Some(a), Some(b)) => { (word(lang, "state", a)) " → " (word(lang, "state", b)) }
                                    (None, Some(b)) => { "→ " (word(lang, "state", b)) }
                                    _ => {}
                                }
                            }
                            td { (h.detail) }
                        }
                    }
                }
            } }
        }
    }
}
