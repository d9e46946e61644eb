//! `GET /api/v1/cases`: the case list with its filters, sorts and keyset cursor
//! (issue 12, item 2). `filter` turns the query (`dto::CaseQuery`) into the
//! store's `CaseFilter`, every bad parameter its own issue; `eessi-switch case
//! list --config` uses the same function, so the CLI and the API agree.
//!
//! The body stays the JSON array of case summaries it always was; the next page
//! is the `Link: <…>; rel="next"` header (RFC 8288), present when the page is
//! full, whose `cursor` names where this page ended.

use std::sync::Arc;

use axum::extract::{Extension, RawQuery, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};

use super::auth::Caller;
use super::dto::{CaseQuery, CaseSummary};
use super::edge::ApiQuery;
use super::problem::Problem;
use crate::ids::{BucType, Country, InstitutionId};
use crate::sed::person::{is_date, normalise_name, normalise_pin};
use crate::store::{CaseCursor, CaseFilter, CaseSort, CaseStatus};
use crate::switch::Switch;
use crate::switch::outbound::Issue;

/// The sectors a BUC name starts with.
pub const SECTORS: &[&str] = &["LA", "P", "S", "UB", "FB", "H", "AW", "R", "M"];

/// Cases per page when the query does not say.
pub const PAGE_DEFAULT: u32 = 100;

fn issue(name: &str, value: Option<&str>, detail: impl Into<String>) -> Issue {
    Issue {
        location: "query".into(),
        name: name.into(),
        value: value.map(|v| v.chars().take(64).collect()),
        detail: detail.into(),
        line: None,
    }
}

/// A time bound: `YYYY-MM-DD` (the day's start, UTC; with `end`, the next day's,
/// so that the day is included) or an RFC 3339 time, as the store writes times.
fn time_bound(text: &str, end: bool) -> Result<String, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let day = if end {
            day.succ_opt().ok_or("a date out of range")?
        } else {
            day
        };
        let at = day.and_hms_opt(0, 0, 0).ok_or("a date out of range")?;
        return Ok(at
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .map_err(|_| "a date (YYYY-MM-DD) or an RFC 3339 time".to_owned())
}

fn flag(name: &str, v: &Option<String>, issues: &mut Vec<Issue>) -> bool {
    match v.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            issues.push(issue(name, Some(other), "true or false"));
            false
        }
    }
}

/// The store's filter for a query, at `now` (for `overdue`), with pages of at
/// most `page_max`; every bad parameter is an issue. Person values (name, birth
/// date, PIN) are never echoed in an issue.
pub fn filter(q: &CaseQuery, page_max: u32, now: DateTime<Utc>) -> Result<CaseFilter, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut f = CaseFilter::default();
    if let Some(v) = &q.institution {
        match InstitutionId::parse(v) {
            Ok(i) => f.institution = Some(i),
            Err(e) => issues.push(issue("institution", Some(v), e.to_string())),
        }
    }
    if let Some(v) = &q.status {
        match v.parse::<CaseStatus>() {
            Ok(s) => f.status = Some(s),
            Err(_) => issues.push(issue("status", Some(v), "open or closed")),
        }
    }
    if let Some(v) = &q.name {
        let n = normalise_name(v);
        if n.is_empty() {
            issues.push(issue("name", None, "a name needs a letter or a digit"));
        } else {
            f.person_name = Some(n);
        }
    }
    if let Some(v) = &q.birth_date {
        if is_date(v) {
            f.birth_date = Some(v.clone());
        } else {
            issues.push(issue("birthDate", None, "a date, YYYY-MM-DD"));
        }
    }
    if let Some(v) = &q.pin {
        let p = normalise_pin(v);
        if p.is_empty() {
            issues.push(issue("pin", None, "a PIN needs a letter or a digit"));
        } else {
            f.pin = Some(p);
        }
    }
    if let Some(v) = &q.buc {
        match BucType::parse(v) {
            Ok(b) => f.buc = Some(b),
            Err(e) => issues.push(issue("buc", Some(v), e.to_string())),
        }
    }
    if let Some(v) = &q.sector {
        if SECTORS.contains(&v.as_str()) {
            f.sector = Some(v.clone());
        } else {
            issues.push(issue(
                "sector",
                Some(v),
                format!("one of {}", SECTORS.join(", ")),
            ));
        }
    }
    if let Some(v) = &q.state {
        let ok = (1..=64).contains(&v.len())
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            f.state = Some(v.clone());
        } else {
            issues.push(issue(
                "state",
                Some(v),
                "a state name: letters, digits and _",
            ));
        }
    }
    if let Some(v) = &q.counterpart_country {
        match Country::parse(v) {
            Ok(c) => f.counterpart_country = Some(c),
            Err(e) => issues.push(issue("counterpartCountry", Some(v), e.to_string())),
        }
    }
    if let Some(v) = &q.counterpart_institution {
        match InstitutionId::parse(v) {
            Ok(i) => f.counterpart_institution = Some(i),
            Err(e) => issues.push(issue("counterpartInstitution", Some(v), e.to_string())),
        }
    }
    if flag("overdue", &q.overdue, &mut issues) {
        f.overdue_at = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    f.has_failed = flag("hasFailed", &q.has_failed, &mut issues);
    f.has_parked = flag("hasParked", &q.has_parked, &mut issues);
    for (name, v, end, slot) in [
        ("createdFrom", &q.created_from, false, &mut f.created_from),
        ("createdTo", &q.created_to, true, &mut f.created_to),
        ("updatedFrom", &q.updated_from, false, &mut f.updated_from),
        ("updatedTo", &q.updated_to, true, &mut f.updated_to),
    ] {
        if let Some(v) = v {
            match time_bound(v, end) {
                Ok(t) => *slot = Some(t),
                Err(e) => issues.push(issue(name, Some(v), e)),
            }
        }
    }
    if let Some(v) = &q.sort {
        match v.parse::<CaseSort>() {
            Ok(s) => f.sort = s,
            Err(_) => issues.push(issue("sort", Some(v), "updated, created or id")),
        }
    }
    if let Some(v) = &q.cursor {
        match CaseCursor::decode(v) {
            Ok(c) if c.sort == f.sort => f.after = Some(c),
            Ok(c) => issues.push(issue(
                "cursor",
                Some(v),
                format!("a cursor of the sort {}, not {}", c.sort, f.sort),
            )),
            Err(e) => issues.push(issue("cursor", Some(v), e)),
        }
    }
    f.limit = match &q.limit {
        None => PAGE_DEFAULT.min(page_max),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=page_max).contains(&n) => n,
            _ => {
                issues.push(issue("limit", Some(v), format!("1 to {page_max}")));
                0
            }
        },
    };
    if let (Some(from), Some(to)) = (&f.created_from, &f.created_to)
        && from >= to
    {
        issues.push(issue(
            "createdTo",
            q.created_to.as_deref(),
            "before createdFrom",
        ));
    }
    if let (Some(from), Some(to)) = (&f.updated_from, &f.updated_to)
        && from >= to
    {
        issues.push(issue(
            "updatedTo",
            q.updated_to.as_deref(),
            "before updatedFrom",
        ));
    }
    if issues.is_empty() {
        Ok(f)
    } else {
        Err(issues)
    }
}

/// The query string of the next page: this one's parameters without its cursor,
/// and the cursor after `last`.
pub fn next_query(raw: Option<&str>, last: &crate::store::CaseRecord, sort: CaseSort) -> String {
    let mut parts: Vec<&str> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let cursor = format!("cursor={}", CaseCursor::after(last, sort).encode());
    parts.push(&cursor);
    parts.join("&")
}

#[utoipa::path(
    get,
    path = "/api/v1/cases",
    operation_id = "listCases",
    tag = "cases",
    summary = "Find cases: by person, BUC, sector, state, status, counterpart, deadlines, failures, parking and dates",
    description = "Every filter given must hold. A handler sees its own institution's cases; asking for another institution's is refused (403). A full page carries `Link: <...&cursor=...>; rel=\"next\"`; a bad or unknown parameter is a 400 naming each one (person values are never echoed).",
    params(CaseQuery),
    responses(
        (status = 200, description = "One page of cases in the order asked", body = Vec<CaseSummary>,
            headers(("Link" = String, description = "The next page (RFC 8288 `rel=\"next\"`), when this one is full"))),
        (status = 400, description = "A bad or unknown query parameter (`badRequest`, an issue per parameter)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token does not allow reading that institution's cases (`missingPermission`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The case store is unavailable, or too many requests are in hand (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["read"]))
)]
pub async fn list_cases(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
    ApiQuery(q): ApiQuery<CaseQuery>,
) -> Response {
    let mut f = match filter(&q, sw.bounds.case_page_max, Utc::now()) {
        Ok(f) => f,
        Err(issues) => return Problem::bad_request(issues).into_response(),
    };
    f.institution = match super::scoped_institution(&caller, f.institution.take()) {
        Ok(i) => i,
        Err(r) => return *r,
    };
    let limit = f.limit as usize;
    let sort = f.sort;
    // One more than the page: whether there is a next page, without a count.
    f.limit += 1;
    let store = sw.store.clone();
    match tokio::task::spawn_blocking(move || store.cases(&f)).await {
        Ok(Ok(mut cases)) => {
            let more = cases.len() > limit;
            cases.truncate(limit);
            let body: Vec<CaseSummary> =
                cases.iter().map(|(c, p)| CaseSummary::new(c, p)).collect();
            let mut resp = axum::Json(body).into_response();
            if more && let Some((last, _)) = cases.last() {
                let link = format!(
                    "</api/v1/cases?{}>; rel=\"next\"",
                    next_query(raw.as_deref(), last, sort)
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
                    resp.headers_mut().insert(axum::http::header::LINK, v);
                }
            }
            resp
        }
        Ok(Err(e)) => Problem::unavailable(e.to_string()).into_response(),
        Err(_) => Problem::internal().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> CaseQuery {
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        serde_json::from_value(serde_json::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
                .collect(),
        ))
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn every_bad_filter_is_its_own_issue_and_person_values_are_not_echoed() {
        let now = Utc::now();
        let err = filter(
            &q(&[
                ("status", "half"),
                ("name", "--"),
                ("birthDate", "1985-02-30"),
                ("pin", "..."),
                ("sector", "XX"),
                ("counterpartCountry", "nl"),
                ("overdue", "yes"),
                ("createdFrom", "yesterday"),
                ("sort", "name"),
                ("limit", "0"),
            ]),
            500,
            now,
        )
        .unwrap_err();
        let names: Vec<&str> = err.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "status",
                "name",
                "birthDate",
                "pin",
                "sector",
                "counterpartCountry",
                "overdue",
                "createdFrom",
                "sort",
                "limit"
            ]
        );
        for i in &err {
            if ["name", "birthDate", "pin"].contains(&i.name.as_str()) {
                assert_eq!(i.value, None, "{i:?}");
            }
        }
        // A limit past the configured page is refused, not cut.
        assert!(filter(&q(&[("limit", "501")]), 500, now).is_err());
    }

    #[test]
    fn filters_are_normalised_as_the_index_keeps_them() {
        let now = Utc::now();
        let f = filter(
            &q(&[
                ("name", "Brüggen"),
                ("pin", "85.07.30-033.61"),
                ("createdFrom", "2026-01-01"),
                ("createdTo", "2026-01-31"),
                ("overdue", "true"),
                ("sort", "created"),
            ]),
            500,
            now,
        )
        .unwrap();
        assert_eq!(f.person_name.as_deref(), Some("bruggen"));
        assert_eq!(f.pin.as_deref(), Some("85073003361"));
        assert_eq!(f.created_from.as_deref(), Some("2026-01-01T00:00:00.000Z"));
        // The whole last day is included.
        assert_eq!(f.created_to.as_deref(), Some("2026-02-01T00:00:00.000Z"));
        assert!(f.overdue_at.is_some());
        assert_eq!(f.sort, CaseSort::Created);
        assert_eq!(f.limit, PAGE_DEFAULT);
    }

    #[test]
    fn a_cursor_comes_back_as_it_went_and_only_for_its_sort() {
        let c = crate::store::CaseRecord {
            case_id: crate::ids::CaseId::random(),
            buc: BucType::parse("LA_BUC_02").unwrap(),
            sed_version: crate::ids::SedVersion::parse("4.2").unwrap(),
            state: "awaiting_reply".into(),
            status: CaseStatus::Open,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            updated_at: "2026-01-02T00:00:00.000Z".into(),
            previous_state: None,
        };
        let next = next_query(
            Some("status=open&cursor=old&limit=5"),
            &c,
            CaseSort::Updated,
        );
        assert!(next.starts_with("status=open&limit=5&cursor="), "{next}");
        let cursor = next.rsplit_once("cursor=").unwrap().1;
        let back = CaseCursor::decode(cursor).unwrap();
        assert_eq!(back, CaseCursor::after(&c, CaseSort::Updated));
        assert_eq!(back.key, c.updated_at);
        let now = Utc::now();
        assert!(filter(&q(&[("cursor", cursor)]), 500, now).is_ok());
        let err = filter(&q(&[("cursor", cursor), ("sort", "id")]), 500, now).unwrap_err();
        assert_eq!(err[0].name, "cursor");
        for bad in ["", "x", "bm9wZQ", &"A".repeat(600)] {
            assert!(CaseCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
