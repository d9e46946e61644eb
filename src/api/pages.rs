//! Web pages for case handlers: the list of cases and one case's timeline, server
//! rendered (no script), every value escaped.

use std::sync::Arc;

use axum::extract::{Extension, Path, Query, State};

use super::auth::Caller;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::sed::xml::escape;
use crate::store::CaseFilter;
use crate::switch::Switch;

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
th{{background:#eee}}.failed,.rejected{{color:#b00}}.delivered{{color:#070}}code{{font-size:90%}}</style></head>\
<body><p><a href=\"/\">cases</a> · <a href=\"/api/v1/openapi.json\">API</a></p><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    ))
}

#[derive(Debug, Deserialize)]
pub struct IndexQuery {
    institution: Option<String>,
    status: Option<String>,
}

pub async fn index(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<IndexQuery>,
) -> Response {
    let asked = q
        .institution
        .as_deref()
        .and_then(|i| crate::ids::InstitutionId::parse(i).ok());
    let institution = match super::scoped_institution(&caller, asked) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let filter = CaseFilter {
        institution,
        status: q.status.clone(),
        limit: 200,
    };
    let store = sw.store.clone();
    let cases = match tokio::task::spawn_blocking(move || store.cases(&filter)).await {
        Ok(Ok(c)) => c,
        _ => return page("Cases", "<p>The case store is unavailable.</p>").into_response(),
    };
    let mut rows = String::new();
    for (c, parts) in &cases {
        let who: Vec<String> = parts
            .iter()
            .map(|p| format!("{} ({})", escape(p.institution.as_str()), p.role))
            .collect();
        rows.push_str(&format!(
            "<tr><td><a href=\"/cases/{id}\"><code>{id}</code></a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(c.buc.as_str()),
            escape(&c.state),
            escape(&c.status),
            who.join(", "),
            escape(&c.updated_at),
            id = escape(c.case_id.as_str()),
        ));
    }
    let body = format!(
        "<p>Access point {} · {} case(s)</p><table id=\"cases\"><tr><th>case</th><th>BUC</th><th>state</th><th>status</th><th>participants</th><th>updated</th></tr>{rows}</table>",
        escape(sw.country.as_str()),
        cases.len()
    );
    page("Cases", &body).into_response()
}

pub async fn case(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
) -> Response {
    let d = match super::load_case_for(&sw, &caller, &case_id, "read-case-page").await {
        Ok(d) => d,
        Err(r) => return *r,
    };
    let mut body = format!(
        "<p>{} · state <b>{}</b> · {} · data model {}</p><h2>Participants</h2><ul>",
        escape(d.case.buc.as_str()),
        escape(&d.case.state),
        escape(&d.case.status),
        escape(d.case.sed_version.as_str())
    );
    for p in &d.participants {
        body.push_str(&format!(
            "<li>{} ({})</li>",
            escape(p.institution.as_str()),
            p.role
        ));
    }
    body.push_str("</ul><h2>Documents</h2><table id=\"documents\"><tr><th>document</th><th>SED</th><th>from → to</th><th>direction</th><th>status</th><th>versions</th></tr>");
    for (doc, versions) in &d.documents {
        let links: Vec<String> = versions
            .iter()
            .map(|v| {
                format!(
                    "<a href=\"/api/v1/cases/{}/documents/{}/versions/{}\">v{}</a>",
                    escape(d.case.case_id.as_str()),
                    escape(doc.document_id.as_str()),
                    v.version,
                    v.version
                )
            })
            .collect();
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(doc.document_id.as_str()),
            escape(doc.sed.as_str()),
            escape(doc.sender.as_str()),
            escape(doc.receiver.as_str()),
            escape(&doc.direction),
            escape(&doc.status),
            links.join(" ")
        ));
    }
    body.push_str("</table><h2>Messages</h2><table id=\"messages\"><tr><th>message</th><th>kind</th><th>to</th><th>status</th><th>attempts</th><th>last error</th></tr>");
    for m in &d.messages {
        body.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"{st}\">{st}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.message_id),
            escape(&m.kind),
            escape(&m.routing_key),
            m.attempts,
            escape(m.last_error.as_deref().unwrap_or("")),
            st = escape(&m.status),
        ));
    }
    body.push_str("</table><h2>History</h2><table id=\"history\"><tr><th>at</th><th>event</th><th>state</th><th>detail</th></tr>");
    for h in &d.history {
        let states = match (&h.from_state, &h.to_state) {
            (Some(a), Some(b)) => format!("{} → {}", escape(a), escape(b)),
            (None, Some(b)) => format!("→ {}", escape(b)),
            _ => String::new(),
        };
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{states}</td><td>{}</td></tr>",
            escape(&h.at),
            escape(&h.event),
            escape(&h.detail)
        ));
    }
    body.push_str("</table>");
    page(&format!("Case {}", d.case.case_id), &body).into_response()
}
