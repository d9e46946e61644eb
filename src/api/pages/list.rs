//! `GET /`: the case list, with a filter form (GET, labelled controls) built from
//! one declarative table (`FILTERS`): each filter is an entry saying its query
//! name, its label's key, its control, and how it sets `store::CaseFilter`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};

use super::fmt::{short_id, time};
use super::i18n::{Lang, t, tf, word};
use super::{Ctx, html_response, page};
use crate::api::auth::Caller;
use crate::store::{CaseFilter, CaseStatus, OutboxStatus};
use crate::switch::Switch;

/// The control a filter shows.
pub enum Control {
    /// Free text (`placeholder` from the label).
    Text,
    /// One of fixed values, each with its words' key; the first option is "any".
    Choice(&'static [(&'static str, &'static str)]),
}

/// One filter of the case list: its query parameter, label, control, and what it
/// does to the store's filter (an error is shown next to the field).
pub struct FilterDef {
    pub name: &'static str,
    pub label: &'static str,
    pub control: Control,
    pub apply: fn(&mut CaseFilter, &str) -> Result<(), String>,
}

/// The filters the store offers. A new `CaseFilter` field is one entry here.
pub const FILTERS: &[FilterDef] = &[
    FilterDef {
        name: "institution",
        label: "filter.institution",
        control: Control::Text,
        apply: |f, v| {
            f.institution = Some(crate::ids::InstitutionId::parse(v).map_err(|e| e.to_string())?);
            Ok(())
        },
    },
    FilterDef {
        name: "status",
        label: "filter.status",
        control: Control::Choice(&[("open", "status.open"), ("closed", "status.closed")]),
        apply: |f, v| {
            f.status = Some(v.parse::<CaseStatus>().map_err(|e| e.to_string())?);
            Ok(())
        },
    },
];

/// The page size, and the most the "show more" link grows it to.
const PAGE: u32 = 50;
const MAX: u32 = 999;

fn parse_query(raw: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded(raw.unwrap_or("")) {
        if !v.trim().is_empty() {
            out.insert(k, v.trim().to_owned());
        }
    }
    out
}

/// `application/x-www-form-urlencoded` pairs (bounded: 32 pairs of 256 bytes).
fn form_urlencoded(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .take(32)
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            Some((decode(k)?, decode(v)?))
        })
        .filter(|(k, v)| k.len() <= 64 && v.len() <= 256)
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn index(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = parse_query(raw.as_deref());
    let ctx = Ctx::new(&headers, Some(&caller), sw.country.as_str(), "/");
    let lang = ctx.lang;
    let mut filter = CaseFilter::default();
    let mut errors: BTreeMap<&str, String> = BTreeMap::new();
    for f in FILTERS {
        if let Some(v) = query.get(f.name)
            && let Err(e) = (f.apply)(&mut filter, v)
        {
            errors.insert(f.name, e);
        }
    }
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<u32>().ok())
        .unwrap_or(PAGE)
        .clamp(1, MAX);
    filter.limit = limit;
    // The caller's own institution unless it operates (asking for another's is
    // refused as the API refuses it).
    match crate::api::scoped_institution(&caller, filter.institution.clone()) {
        Ok(i) => filter.institution = i,
        Err(_) => {
            errors.insert("institution", t(lang, "error.403").to_owned());
            filter.institution = caller.institution.clone();
        }
    }
    let (cases, failed) = if errors.is_empty() {
        let store = sw.store.clone();
        let institution = filter.institution.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            let cases = store.cases(&filter)?;
            // The cases with a failed message: the most recent 1,000 failures.
            let failed: HashSet<String> = store
                .messages_page(Some(OutboxStatus::Failed), institution.as_ref(), None, 1000)?
                .into_iter()
                .filter_map(|m| m.case_id.map(|c| c.to_string()))
                .collect();
            Ok((cases, failed))
        })
        .await;
        match read {
            Ok(Ok(r)) => r,
            _ => {
                return super::error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None);
            }
        }
    } else {
        (Vec::new(), HashSet::new())
    };
    let more = if cases.len() as u32 >= limit && limit < MAX {
        let mut q: Vec<String> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "limit")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        q.push(format!("limit={}", (limit + PAGE).min(MAX)));
        Some(format!("/?{}", q.join("&")))
    } else {
        None
    };
    let body = html! {
        (filter_form(lang, &query, &errors))
        @if cases.is_empty() {
            p { (t(lang, "list.none")) }
        } @else {
            p { (tf(lang, "list.count", &[("n", &cases.len().to_string())])) }
            div class="table-wrap" tabindex="0" role="region" aria-label=(t(lang, "list.caption")) {
                table id="cases" {
                    caption { (t(lang, "list.caption")) }
                    thead { tr {
                        th scope="col" { (t(lang, "list.case")) }
                        th scope="col" { (t(lang, "list.buc")) }
                        th scope="col" { (t(lang, "list.state")) }
                        th scope="col" { (t(lang, "list.status")) }
                        th scope="col" { (t(lang, "list.counterparts")) }
                        th scope="col" { (t(lang, "list.updated")) }
                    } }
                    tbody {
                        @for (c, parts) in &cases {
                            @let is_failed = failed.contains(c.case_id.as_str());
                            tr class=[is_failed.then_some("failed")] {
                                th scope="row" {
                                    a href={ "/cases/" (c.case_id) } { (short_id(c.case_id.as_str())) }
                                    @if is_failed {
                                        " " span class="marker" { (t(lang, "list.failed_marker")) }
                                    }
                                }
                                td {
                                    (sw.catalogue.get(&c.buc).map_or(c.buc.as_str(), |d| d.title.as_str()))
                                    " (" (c.buc) ")"
                                }
                                td { (word(lang, "state", &c.state)) }
                                td { (word(lang, "status", c.status.as_str())) }
                                td { (participants(&sw, lang, parts)) }
                                td { (time(lang, &c.updated_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(href) = more {
                nav aria-label=(t(lang, "list.pages")) { p { a href=(href) { (t(lang, "list.more")) } } }
            }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html_response(status, page(&ctx, t(lang, "list.title"), body))
}

/// An institution in words: its registry name, and its id.
pub fn institution_name(sw: &Switch, id: &crate::ids::InstitutionId) -> String {
    match sw.registry.institution(id) {
        Some(i) if !i.name.is_empty() => format!("{} ({id})", i.name),
        _ => id.to_string(),
    }
}

fn participants(sw: &Switch, lang: Lang, parts: &[crate::store::Participant]) -> Markup {
    html! {
        ul class="plain" {
            @for p in parts {
                li { (institution_name(sw, &p.institution)) ", " (word(lang, "role", &p.role.to_string())) }
            }
        }
    }
}

fn filter_form(
    lang: Lang,
    query: &BTreeMap<String, String>,
    errors: &BTreeMap<&str, String>,
) -> Markup {
    html! {
        form method="get" action="/" role="search" {
            fieldset class="filters" {
                legend { (t(lang, "list.filters")) }
                @for f in FILTERS {
                    @let id = format!("f-{}", f.name);
                    @let err = errors.get(f.name);
                    @let err_id = format!("{id}-error");
                    div {
                        label for=(id) { (t(lang, f.label)) }
                        @match f.control {
                            Control::Text => {
                                input type="text" id=(id) name=(f.name)
                                    value=[query.get(f.name)]
                                    aria-invalid=[err.map(|_| "true")]
                                    aria-describedby=[err.map(|_| err_id.as_str())];
                            }
                            Control::Choice(options) => {
                                select id=(id) name=(f.name)
                                    aria-invalid=[err.map(|_| "true")]
                                    aria-describedby=[err.map(|_| err_id.as_str())] {
                                    option value="" { (t(lang, "list.any")) }
                                    @for (value, key) in options {
                                        option value=(value) selected[query.get(f.name).map(String::as_str) == Some(*value)] { (t(lang, key)) }
                                    }
                                }
                            }
                        }
                        @if let Some(e) = err {
                            span class="error" id=(err_id) { (tf(lang, "filter.invalid", &[("why", e)])) }
                        }
                    }
                }
                div class="buttons" {
                    button type="submit" { (t(lang, "list.apply")) }
                    a href="/" { (t(lang, "list.reset")) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_decodes_and_each_filter_sets_the_store_filter_or_says_why_not() {
        let q = parse_query(Some("institution=BE%3AONSS&status=open&x=+&bad=%zz"));
        assert_eq!(q.get("institution").map(String::as_str), Some("BE:ONSS"));
        assert!(!q.contains_key("x"), "an empty value is no filter");
        assert!(!q.contains_key("bad"), "a malformed escape is dropped");
        let mut f = CaseFilter::default();
        for d in FILTERS {
            if let Some(v) = q.get(d.name) {
                (d.apply)(&mut f, v).unwrap();
            }
        }
        assert_eq!(f.institution.as_ref().map(|i| i.as_str()), Some("BE:ONSS"));
        assert_eq!(f.status, Some(CaseStatus::Open));
        let status = FILTERS.iter().find(|d| d.name == "status").unwrap();
        assert!((status.apply)(&mut f, "half-open").is_err());
        assert_eq!(encode("BE:ONSS x"), "BE:ONSS%20x");
    }
}
