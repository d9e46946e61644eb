//! `eessi-harness bench --search --cases N`: the case list at N stored cases
//! (issue 12, item 2). The store is preloaded (`preload.rs`, varied copies), then
//! each main filter is listed `ROUNDS` times through `Store::cases` (what `GET
//! /api/v1/cases` runs, without HTTP), first page and a page deep behind a cursor,
//! and its p50/p99 printed; the filters' values are the preload's own, so each
//! selects what it would in a real store. Then the same store is served by a real
//! `serve` process and the case handlers' pages and the API's list are fetched
//! over HTTP (`measure_pages`): what a user waits for, serialisation and
//! rendering included.

use std::time::{Duration, Instant};

use crate::ids::{BucType, Country, InstitutionId};
use crate::store::{CaseCursor, CaseFilter, CaseSort, CaseStatus, Store};

/// Lists per filter and page.
const ROUNDS: usize = 40;
/// Cases per page (the API's default).
const PAGE: u32 = 100;
/// How deep the "deep page" is: this many pages followed by their cursors.
const DEEP_PAGES: usize = 20;

/// One filter of the benchmark.
fn filters() -> Vec<(&'static str, CaseFilter)> {
    let f = |g: &dyn Fn(&mut CaseFilter)| {
        let mut f = CaseFilter {
            limit: PAGE,
            ..Default::default()
        };
        g(&mut f);
        f
    };
    let ok = |s: &str| s.to_owned();
    vec![
        ("all", f(&|_| {})),
        (
            "institution (handler's scope)",
            f(&|f| f.institution = InstitutionId::parse("BE:ONSS").ok()),
        ),
        ("status open", f(&|f| f.status = Some(CaseStatus::Open))),
        ("buc", f(&|f| f.buc = BucType::parse("P_BUC_01").ok())),
        ("sector", f(&|f| f.sector = Some(ok("H")))),
        ("state", f(&|f| f.state = Some(ok("agreed")))),
        (
            "counterpart country",
            f(&|f| f.counterpart_country = Country::parse("PL").ok()),
        ),
        (
            "counterpart institution",
            f(&|f| f.counterpart_institution = InstitutionId::parse("DE:DRV").ok()),
        ),
        (
            "overdue",
            f(&|f| f.overdue_at = Some(crate::store::now_rfc3339())),
        ),
        ("has failed", f(&|f| f.has_failed = true)),
        ("person name", f(&|f| f.person_name = Some(ok("verhoe")))),
        (
            "person name + birth date",
            f(&|f| {
                f.person_name = Some(ok("peeters"));
                f.birth_date = Some(ok("1953-09-09"));
            }),
        ),
        ("PIN", f(&|f| f.pin = Some(ok("00000123457")))),
        (
            "created in a month, by creation",
            f(&|f| {
                f.sort = CaseSort::Created;
                f.created_from = Some(ok("2025-03-01T00:00:00.000Z"));
                f.created_to = Some(ok("2025-04-01T00:00:00.000Z"));
            }),
        ),
        (
            "sector + state + country",
            f(&|f| {
                f.sector = Some(ok("LA"));
                f.state = Some(ok("awaiting_reply"));
                f.counterpart_country = Country::parse("NL").ok();
            }),
        ),
    ]
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    (at(0.5), at(0.99))
}

/// One measured row: filter, page, rows on the page, p50 and p99 in ms.
pub struct Measured {
    pub filter: &'static str,
    pub page: &'static str,
    pub rows: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Measure every filter's first page and a deep page (blocking).
pub fn measure(store: &dyn Store) -> Result<Vec<Measured>, String> {
    let mut out = Vec::new();
    for (name, filter) in filters() {
        // The deep page's cursor: DEEP_PAGES pages followed from the first.
        let mut deep = filter.clone();
        let mut reached = 0;
        for _ in 0..DEEP_PAGES {
            let rows = store.cases(&deep).map_err(|e| e.to_string())?;
            let Some((last, _)) = rows.last() else { break };
            deep.after = Some(CaseCursor::after(last, deep.sort));
            reached += 1;
            if rows.len() < PAGE as usize {
                break;
            }
        }
        let mut pages = vec![("first", filter.clone())];
        if reached == DEEP_PAGES {
            pages.push(("deep", deep));
        }
        for (page, f) in pages {
            let mut times = Vec::with_capacity(ROUNDS);
            let mut rows = 0;
            for _ in 0..ROUNDS {
                let t = Instant::now();
                rows = store.cases(&f).map_err(|e| e.to_string())?.len();
                times.push(t.elapsed());
            }
            let (p50_ms, p99_ms) = percentiles(times);
            println!(
                "  {name:<34} {page:<5} {rows:>4} rows  p50 {p50_ms:>8.2} ms  p99 {p99_ms:>8.2} ms"
            );
            out.push(Measured {
                filter: name,
                page,
                rows,
                p50_ms,
                p99_ms,
            });
        }
    }
    Ok(out)
}

/// The pages (and the API's list) measured over HTTP: name and path.
fn pages(case_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("page: case list", "/".to_owned()),
        ("page: person name", "/?name=verhoe".to_owned()),
        (
            "page: person name + birth date",
            "/?name=peeters&birthDate=1953-09-09".to_owned(),
        ),
        ("page: overdue", "/?overdue=true".to_owned()),
        ("page: has failed", "/?hasFailed=true".to_owned()),
        (
            "page: sector + state + country",
            "/?sector=LA&state=awaiting_reply&counterpartCountry=NL".to_owned(),
        ),
        ("page: one case", format!("/cases/{case_id}")),
        ("api: person name", "/api/v1/cases?name=verhoe".to_owned()),
        ("api: overdue", "/api/v1/cases?overdue=true".to_owned()),
    ]
}

/// Fetch each page `ROUNDS` times on one keep-alive connection (after one
/// unmeasured fetch) and print its p50/p99; a page that does not answer 200 is an
/// error.
pub async fn measure_pages(addr: &str, case_id: &str) -> Result<Vec<Measured>, String> {
    let mut client = super::load::Client::connect(addr).await?;
    let mut out = Vec::new();
    for (name, path) in pages(case_id) {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut bytes = 0;
        for round in 0..=ROUNDS {
            let t = Instant::now();
            let (status, body) = client
                .call(hyper::Method::GET, &path, None, hyper::body::Bytes::new())
                .await?;
            if status != 200 {
                return Err(format!("{path}: {status}"));
            }
            if round > 0 {
                times.push(t.elapsed());
            }
            bytes = body.len();
        }
        let (p50_ms, p99_ms) = percentiles(times);
        println!("  {name:<34} {bytes:>7} B   p50 {p50_ms:>8.2} ms  p99 {p99_ms:>8.2} ms");
        out.push(Measured {
            filter: name,
            page: "http",
            rows: bytes,
            p50_ms,
            p99_ms,
        });
    }
    Ok(out)
}
