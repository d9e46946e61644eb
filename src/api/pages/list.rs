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
use crate::api::dto::CaseQuery;
use crate::store::CaseFilter;
use crate::switch::Switch;

/// The control a filter shows.
pub enum Control {
    /// Free text (`placeholder` from the label).
    Text,
    /// A date (`YYYY-MM-DD`).
    Date,
    /// One of fixed values, each with its words' key; the first option is "any".
    Choice(&'static [(&'static str, &'static str)]),
}

/// One filter of the case list: its query parameter (a field of the API's
/// `CaseQuery`: the page and `GET /api/v1/cases` read the same parameters through
/// the same `api::cases::filter`, so they find the same cases and refuse the same
/// values), its label and its control.
pub struct FilterDef {
    pub name: &'static str,
    pub label: &'static str,
    pub control: Control,
}

const YES: &[(&str, &str)] = &[("true", "list.yes")];

/// The filters of the case list. A new `CaseQuery` field is one entry here.
pub const FILTERS: &[FilterDef] = &[
    FilterDef {
        name: "name",
        label: "filter.name",
        control: Control::Text,
    },
    FilterDef {
        name: "birthDate",
        label: "filter.birth_date",
        control: Control::Date,
    },
    FilterDef {
        name: "pin",
        label: "filter.pin",
        control: Control::Text,
    },
    FilterDef {
        name: "sector",
        label: "filter.sector",
        control: Control::Choice(&[
            ("LA", "sector.LA"),
            ("P", "sector.P"),
            ("S", "sector.S"),
            ("UB", "sector.UB"),
            ("FB", "sector.FB"),
            ("H", "sector.H"),
            ("AW", "sector.AW"),
            ("R", "sector.R"),
            ("M", "sector.M"),
        ]),
    },
    FilterDef {
        name: "buc",
        label: "filter.buc",
        control: Control::Text,
    },
    FilterDef {
        name: "state",
        label: "filter.state",
        control: Control::Text,
    },
    FilterDef {
        name: "status",
        label: "filter.status",
        control: Control::Choice(&[("open", "status.open"), ("closed", "status.closed")]),
    },
    FilterDef {
        name: "counterpartCountry",
        label: "filter.counterpart_country",
        control: Control::Text,
    },
    FilterDef {
        name: "counterpartInstitution",
        label: "filter.counterpart_institution",
        control: Control::Text,
    },
    FilterDef {
        name: "institution",
        label: "filter.institution",
        control: Control::Text,
    },
    FilterDef {
        name: "overdue",
        label: "filter.overdue",
        control: Control::Choice(YES),
    },
    FilterDef {
        name: "hasFailed",
        label: "filter.has_failed",
        control: Control::Choice(YES),
    },
    FilterDef {
        name: "hasParked",
        label: "filter.has_parked",
        control: Control::Choice(YES),
    },
    FilterDef {
        name: "createdFrom",
        label: "filter.created_from",
        control: Control::Date,
    },
    FilterDef {
        name: "createdTo",
        label: "filter.created_to",
        control: Control::Date,
    },
    FilterDef {
        name: "sort",
        label: "filter.sort",
        control: Control::Choice(&[
            ("updated", "sort.updated"),
            ("created", "sort.created"),
            ("id", "sort.id"),
        ]),
    },
];

/// The API's query of what the form asked (the filters', page size and cursor
/// parameters; anything else is ignored).
fn case_query(query: &BTreeMap<String, String>, limit: u32) -> Result<CaseQuery, String> {
    let mut fields = serde_json::Map::new();
    for f in FILTERS {
        if let Some(v) = query.get(f.name) {
            fields.insert(f.name.to_owned(), serde_json::Value::String(v.clone()));
        }
    }
    if let Some(c) = query.get("cursor") {
        fields.insert("cursor".into(), serde_json::Value::String(c.clone()));
    }
    fields.insert("limit".into(), serde_json::Value::String(limit.to_string()));
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| e.to_string())
}

/// The page size.
const PAGE: u32 = 50;

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
    let mut errors: BTreeMap<&str, String> = BTreeMap::new();
    // The filter as the API reads the same parameters; a refusal is shown next to
    // its field (a cursor or page size the form did not write, at the top).
    let field = |name: &str| {
        FILTERS
            .iter()
            .find(|f| f.name == name)
            .map_or("query", |f| f.name)
    };
    let read = case_query(&query, PAGE)
        .map_err(|e| vec![("query", e)])
        .and_then(|q| {
            crate::api::cases::filter(&q, PAGE, chrono::Utc::now()).map_err(|issues| {
                issues
                    .into_iter()
                    .map(|i| (field(&i.name), i.detail))
                    .collect()
            })
        });
    let mut filter = match read {
        Ok(f) => f,
        Err(issues) => {
            errors.extend(issues);
            CaseFilter::default()
        }
    };
    // The caller's own institution unless it operates (asking for another's is
    // refused as the API refuses it).
    match crate::api::scoped_institution(&caller, filter.institution.clone()) {
        Ok(i) => filter.institution = i,
        Err(_) => {
            errors.insert("institution", t(lang, "error.403").to_owned());
            filter.institution = caller.institution.clone();
        }
    }
    let sort = filter.sort;
    // One more than the page: whether there is a next page.
    filter.limit = PAGE + 1;
    let (mut cases, failed) = if errors.is_empty() {
        let store = sw.store.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<_, crate::store::StoreError> {
            let cases = store.cases(&filter)?;
            // Which of this page's cases has a failed message (asked of exactly
            // these cases, through the status index).
            let ids: Vec<_> = cases.iter().map(|(c, _)| c.case_id.clone()).collect();
            let failed: HashSet<String> = store
                .cases_with_failed(&ids)?
                .into_iter()
                .map(|c| c.to_string())
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
    let more = if cases.len() > PAGE as usize {
        cases.truncate(PAGE as usize);
        cases.last().map(|(last, _)| {
            let mut q: Vec<String> = query
                .iter()
                .filter(|(k, _)| k.as_str() != "cursor")
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            q.push(format!(
                "cursor={}",
                crate::store::CaseCursor::after(last, sort).encode()
            ));
            format!("/?{}", q.join("&"))
        })
    } else {
        None
    };
    let first_page = query.contains_key("cursor").then(|| {
        let q: Vec<String> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("/?{}", q.join("&"))
    });
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
            @if more.is_some() || first_page.is_some() {
                nav aria-label=(t(lang, "list.pages")) { p {
                    @if let Some(href) = &first_page { a href=(href) { (t(lang, "list.first")) } " " }
                    @if let Some(href) = &more { a href=(href) rel="next" { (t(lang, "list.more")) } }
                } }
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
            @if let Some(e) = errors.get("query") {
                p class="error" role="alert" { (tf(lang, "filter.invalid", &[("why", e)])) }
            }
            fieldset class="filters" {
                legend { (t(lang, "list.filters")) }
                @for f in FILTERS {
                    @let id = format!("f-{}", f.name);
                    @let err = errors.get(f.name);
                    @let err_id = format!("{id}-error");
                    div {
                        label for=(id) { (t(lang, f.label)) }
                        @match f.control {
                            Control::Date => {
                                input type="date" id=(id) name=(f.name)
                                    value=[query.get(f.name)]
                                    aria-invalid=[err.map(|_| "true")]
                                    aria-describedby=[err.map(|_| err_id.as_str())];
                            }
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
    use crate::store::CaseStatus;

    #[test]
    fn the_query_decodes_and_the_filters_read_as_the_api_reads_them() {
        let q = parse_query(Some(
            "institution=BE%3AONSS&status=open&name=Verh%C3%B6ven&hasFailed=true&x=+&bad=%zz&other=1",
        ));
        assert_eq!(q.get("institution").map(String::as_str), Some("BE:ONSS"));
        assert!(!q.contains_key("x"), "an empty value is no filter");
        assert!(!q.contains_key("bad"), "a malformed escape is dropped");
        let cq = case_query(&q, PAGE).unwrap();
        let f = crate::api::cases::filter(&cq, PAGE, chrono::Utc::now()).unwrap();
        assert_eq!(f.institution.as_ref().map(|i| i.as_str()), Some("BE:ONSS"));
        assert_eq!(f.status, Some(CaseStatus::Open));
        assert_eq!(f.person_name.as_deref(), Some("verhoven"));
        assert!(f.has_failed);
        // A bad value is the API's own refusal, by the filter's name.
        let mut bad = q.clone();
        bad.insert("status".into(), "half-open".into());
        let issues =
            crate::api::cases::filter(&case_query(&bad, PAGE).unwrap(), PAGE, chrono::Utc::now())
                .unwrap_err();
        assert!(issues.iter().any(|i| i.name == "status"), "{issues:?}");
        // Every filter is a parameter the API knows.
        for d in FILTERS {
            let one = BTreeMap::from([(d.name.to_owned(), "x".to_owned())]);
            assert!(
                case_query(&one, PAGE).is_ok(),
                "{} is not a CaseQuery field",
                d.name
            );
        }
        assert_eq!(encode("BE:ONSS x"), "BE:ONSS%20x");
    }
}
