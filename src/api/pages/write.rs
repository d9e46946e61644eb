//! `/cases/{caseId}/write`: write any SED the BUC allows now (a reply, a
//! participant's X005/X006, ...) in a form generated from the SED's own schema
//! (`sed::form`), with a draft kept until it is sent.
//!
//! - `GET` shows the form, only for a SED `act::offered` lets the caller's
//!   institution send now: the draft's values if there is one, else the person
//!   block of the document it answers.
//! - `POST` saves the draft (`op=save`), adds or removes an instance of a
//!   repeating element (`op=add:<path>`, `op=remove:<path>`, saved too), discards
//!   it (`op=discard`), or sends it (`op=send`): the body built from the values
//!   goes through the national submission path like `POST /api/v1/documents`
//!   (the BUC machine decides; the schema validates), with the draft's token as
//!   its idempotency key, so the same draft sent twice is one SED. A body the
//!   schema refuses comes back as the form with each issue next to its field.
//! - `POST /cases/{caseId}/write/check` (the page's script, `write.js`, as the
//!   user types): the same schema check, as JSON `{issues, saved}`; it saves the
//!   draft too.
//!
//! Each post goes through `act::page_caller` (Origin, session cookie, form token,
//! the submit scope) and sees the case as `load_case_for` lets the caller see it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, has, t, tf};
use super::list::institution_name;
use super::{Ctx, error_page, html_response, page, see_other_to};
use crate::api::auth::{Auth, Caller, Scope};
use crate::api::edge::HttpEdge;
use crate::ids::{CaseId, DocumentId, InstitutionId, SedType};
use crate::sed::form::{self, Base, Element, FieldIssue, Kind, Model, Values};
use crate::store::{CaseDetail, Draft, DraftKey};
use crate::switch::Switch;
use crate::switch::outbound::{IdempotencyKey, Submission, SubmitError, submit_keyed};

/// The page's script: checks the form as the user types (`GET /write.js`).
const SCRIPT: &str = include_str!("write.js");

/// Which SED is written: the query of the form page and hidden fields of its posts.
#[derive(Debug, Deserialize)]
pub struct Which {
    from: String,
    to: String,
    sed: String,
    #[serde(default)]
    related: String,
}

impl Which {
    fn key(&self, case_id: &CaseId) -> Option<DraftKey> {
        Some(DraftKey {
            case_id: case_id.clone(),
            sender: InstitutionId::parse(&self.from).ok()?,
            sed: SedType::parse(&self.sed).ok()?,
            receiver: InstitutionId::parse(&self.to).ok()?,
            related: if self.related.is_empty() {
                None
            } else {
                Some(DocumentId::parse(&self.related).ok()?)
            },
        })
    }
}

/// The link to the form of one allowed SED (the case page's actions).
pub fn link(
    case_id: &CaseId,
    from: &str,
    to: &str,
    sed: &str,
    related: Option<&DocumentId>,
) -> String {
    // Institution ids, SED types and document ids are letters, digits, `:`, `_`
    // and `-` (their parsers say so): nothing in them needs escaping in a query.
    let mut q = format!("/cases/{case_id}/write?from={from}&to={to}&sed={sed}");
    if let Some(r) = related {
        q.push_str("&related=");
        q.push_str(r.as_str());
    }
    q
}

/// A stored time (RFC 3339) as Brussels local time in words.
fn at_words(lang: Lang, stored: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(stored)
        .map(|at| super::fmt::local_words(lang, at.with_timezone(&chrono::Utc)))
        .unwrap_or_else(|_| stored.to_owned())
}

/// `GET /write.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// `GET /cases/{caseId}/write?from=&to=&sed=&related=`.
pub async fn form_page(
    State(sw): State<Arc<Switch>>,
    Extension(caller): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    which: Result<Query<Which>, QueryRejection>,
) -> Response {
    let path = super::case_path(&case_id);
    let ctx = Ctx::new(&headers, Some(&caller), sw.country.as_str(), &path);
    let d = match super::visible_case(&sw, &caller, &case_id, &ctx).await {
        Ok(d) => d,
        Err(page) => return page,
    };
    let Some(key) = which.ok().and_then(|Query(w)| w.key(&d.case.case_id)) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    if !caller.has(Scope::Submit) {
        return error_page(&ctx, StatusCode::FORBIDDEN, None);
    }
    if !offered(&sw, &caller, &d, &key) {
        return not_offered(&sw, &ctx, &caller, &d);
    }
    let Some(model) = model_of(&sw, &d, &key.sed).await else {
        return error_page(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(t(ctx.lang, "write.no_form")),
        );
    };
    let store = sw.store.clone();
    let k = key.clone();
    let draft = match tokio::task::spawn_blocking(move || store.draft_get(&k)).await {
        Ok(Ok(d)) => d,
        _ => return error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None),
    };
    let (values, token, saved) = match draft {
        Some(dr) => (
            serde_json::from_str(&dr.field_values).unwrap_or_default(),
            dr.token,
            Some(dr.updated_at),
        ),
        None => (prefill(&sw, &d, &key, &model).await, new_token(), None),
    };
    let state = FormState {
        key: &key,
        model: &model,
        values: &values,
        token: &token,
        issues: &[],
        note: saved.map(|at| {
            tf(
                ctx.lang,
                "write.draft_from",
                &[("at", &at_words(ctx.lang, &at))],
            )
        }),
    };
    html_response(StatusCode::OK, render(&sw, &ctx, &d, &state))
}

/// The values of a new form: the person block of the document it answers (paths
/// under a top-level element whose type is a person's), nothing else.
async fn prefill(sw: &Switch, d: &CaseDetail, key: &DraftKey, model: &Arc<Model>) -> Values {
    let Some(related) = &key.related else {
        return Values::new();
    };
    let Some((doc, _)) = d
        .documents
        .iter()
        .find(|(doc, _)| &doc.document_id == related)
    else {
        return Values::new();
    };
    let Some(envelope) = super::act::stored_envelope(sw, doc).await else {
        return Values::new();
    };
    let persons: Vec<&str> = model
        .children
        .iter()
        .filter(|n| n.type_name.as_deref().is_some_and(|t| t.contains("Person")))
        .map(|n| n.name.as_str())
        .collect();
    form::values_of(model, &envelope, doc.sed.as_str(), 2000)
        .into_iter()
        .filter(|(k, _)| {
            let first = k
                .trim_start_matches('#')
                .split(['/', '[', '@'])
                .next()
                .unwrap_or("");
            persons.contains(&first)
        })
        .collect()
}

async fn model_of(sw: &Switch, d: &CaseDetail, sed: &SedType) -> Option<Arc<Model>> {
    let dir = sw.schemas.clone();
    let version = d.case.sed_version.clone();
    let sed = sed.clone();
    tokio::task::spawn_blocking(move || form::model(&dir, &version, &sed).ok())
        .await
        .ok()
        .flatten()
}

fn new_token() -> String {
    crate::ids::DocumentId::random().to_string()
}

fn offered(sw: &Switch, caller: &Caller, d: &CaseDetail, key: &DraftKey) -> bool {
    super::act::offered(
        sw,
        caller,
        d,
        &key.sender,
        &key.sed,
        &key.receiver,
        key.related.as_ref(),
    )
}

/// A SED the BUC does not allow now: refused, with what it allows.
fn not_offered(sw: &Switch, ctx: &Ctx, caller: &Caller, d: &CaseDetail) -> Response {
    let allowed: Vec<String> = crate::api::actions::actions_of(sw, caller, d)
        .participants
        .iter()
        .flat_map(|p| p.actions.iter().map(|a| format!("{} → {}", a.sed, a.to)))
        .collect();
    let why = if allowed.is_empty() {
        t(ctx.lang, "case.no_actions").to_owned()
    } else {
        tf(
            ctx.lang,
            "write.not_offered",
            &[("allowed", &allowed.join(", "))],
        )
    };
    error_page(ctx, StatusCode::CONFLICT, Some(&why))
}

/// What the form shows.
struct FormState<'a> {
    key: &'a DraftKey,
    model: &'a Model,
    values: &'a Values,
    token: &'a str,
    issues: &'a [FieldIssue],
    /// A line above the form ("draft saved at ...").
    note: Option<String>,
}

fn render(sw: &Switch, ctx: &Ctx, d: &CaseDetail, s: &FormState) -> Markup {
    let lang = ctx.lang;
    let key = s.key;
    let title = sw
        .catalogue
        .seds
        .get(&key.sed)
        .map_or(String::new(), |x| x.title.clone());
    let heading = tf(
        lang,
        "write.title",
        &[
            ("sed", key.sed.as_str()),
            ("to", &institution_name(sw, &key.receiver)),
        ],
    );
    let action = format!("/cases/{}/write", d.case.case_id);
    let mut by_field: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for i in s.issues {
        by_field
            .entry(i.field.as_str())
            .or_default()
            .push(issue_text(lang, i));
    }
    let r = Renderer {
        lang,
        values: s.values,
        issues: &by_field,
        budget: std::cell::Cell::new(form::FIELDS_MAX),
    };
    let fields = r.group(&s.model.children, "", true);
    let cut = r.budget.get() == 0;
    let body = html! {
        p { a href={ "/cases/" (d.case.case_id) "#actions" } { (t(lang, "write.back")) } }
        @if !title.is_empty() { p class="lead" { (key.sed) " — " (title) } }
        @if let Some(related) = &key.related {
            p { (tf(lang, "write.answers", &[("doc", &super::fmt::short(related.as_str()))])) }
        }
        @if let Some(note) = &s.note { p class="note" role="status" { (note) } }
        @if !s.issues.is_empty() {
            div class="issues" role="alert" tabindex="-1" id="issues" {
                h2 { (tf(lang, "write.issues", &[("n", &s.issues.len().to_string())])) }
                ul {
                    @for i in s.issues {
                        li {
                            @if i.field.is_empty() {
                                (issue_text(lang, i))
                            } @else {
                                a href={ "#" (field_id(&i.field)) } { (field_words(lang, &i.field)) } ": " (issue_text(lang, i))
                            }
                        }
                    }
                }
            }
        }
        form id="sed-form" method="post" action=(action) class="stack sed-form"
            data-check={ (action) "/check" } novalidate {
            input type="hidden" name="csrf" value=(ctx.csrf);
            input type="hidden" name="from" value=(key.sender);
            input type="hidden" name="to" value=(key.receiver);
            input type="hidden" name="sed" value=(key.sed);
            input type="hidden" name="related" value=(key.related.as_ref().map_or("", |r| r.as_str()));
            input type="hidden" name="token" value=(s.token);
            p class="hint" { (t(lang, "write.required_hint")) }
            @if cut { p class="issue" role="alert" { (t(lang, "write.cut")) } }
            (fields)
            p id="check-status" class="note" role="status" aria-live="polite" {}
            div class="buttons" {
                button type="submit" name="op" value="send" { (t(lang, "act.send")) }
                button type="submit" name="op" value="save" class="secondary" { (t(lang, "write.save")) }
                button type="submit" name="op" value="discard" class="secondary" formnovalidate { (t(lang, "write.discard")) }
            }
        }
        script src="/write.js" defer {}
    };
    page(ctx, &heading, body)
}

fn issue_text(lang: Lang, i: &FieldIssue) -> String {
    if i.missing {
        t(lang, "write.required").to_owned()
    } else {
        i.detail.clone()
    }
}

/// A field's id in the page: its path with every other character than letters
/// and digits as `-` (paths differ in their letters and digits).
fn field_id(path: &str) -> String {
    let mut id = String::from("f-");
    id.extend(
        path.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
    );
    id
}

/// A path in words: `InsuredPerson/Address[2]/Town` → "Insured person › Address 2 › Town".
fn field_words(lang: Lang, path: &str) -> String {
    path.split('/')
        .map(|seg| {
            let (name, attr) = seg
                .split_once('@')
                .map_or((seg, None), |(a, b)| (a, Some(b)));
            let mut w = match name.split_once('[') {
                Some((n, i)) => format!(
                    "{} {}",
                    super::i18n::field_label(lang, n),
                    i.trim_end_matches(']')
                ),
                None => super::i18n::field_label(lang, name),
            };
            if let Some(a) = attr {
                w.push_str(" › ");
                w.push_str(&super::i18n::field_label(lang, a));
            }
            w
        })
        .collect::<Vec<_>>()
        .join(" › ")
}

struct Renderer<'a> {
    lang: Lang,
    values: &'a Values,
    issues: &'a BTreeMap<&'a str, Vec<String>>,
    /// Elements still to show (`form::FIELDS_MAX` in all).
    budget: std::cell::Cell<usize>,
}

impl Renderer<'_> {
    fn group(&self, children: &[Element], parent: &str, required: bool) -> Markup {
        html! {
            @for n in children {
                @let count = form::instances(self.values, parent, n);
                @let cap = n.max.min(form::REPEAT_MAX);
                @if n.repeats() {
                    input type="hidden" name={ "v:" (form::count_key(&form::repeat_path(parent, n))) } value=(count);
                }
                @for i in 1..=count {
                    @if self.spend() {
                    @let path = form::child_path(parent, n, i);
                    @let req = required && i <= n.min;
                    @match &n.kind {
                        Kind::Group(inner) => {
                            fieldset id=(field_id(&path)) class="group" {
                                legend {
                                    (super::i18n::field_label(self.lang, &n.name))
                                    @if n.repeats() { " " (i) }
                                    @if !req { " " span class="optional" { (t(self.lang, "act.optional")) } }
                                }
                                (self.issues_of(&path))
                                (self.group(inner, &path, req))
                                (self.repeat_buttons(parent, n, i, count, cap))
                            }
                        }
                        Kind::Field(simple, attrs) => {
                            div class="field" {
                                (self.input(&path, &n.name, n.repeats().then_some(i), simple, req, n.doc.as_deref()))
                                @for a in attrs {
                                    (self.input(&format!("{path}@{}", a.name), &a.name, None, &a.simple, req && a.required, None))
                                }
                                (self.repeat_buttons(parent, n, i, count, cap))
                            }
                        }
                    }
                    }
                }
            }
        }
    }

    /// Take one element from the budget; false when it is spent.
    fn spend(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    fn repeat_buttons(&self, parent: &str, n: &Element, i: u32, count: u32, cap: u32) -> Markup {
        let rp = form::repeat_path(parent, n);
        html! {
            @if n.repeats() && i == count {
                div class="buttons" {
                    @if count < cap {
                        button type="submit" name="op" value={ "add:" (rp) } class="secondary" formnovalidate {
                            (tf(self.lang, "write.add", &[("what", &super::i18n::field_label(self.lang, &n.name))]))
                        }
                    }
                    @if count > n.min.max(1) {
                        button type="submit" name="op" value={ "remove:" (rp) } class="secondary" formnovalidate {
                            (tf(self.lang, "write.remove", &[("what", &format!("{} {i}", super::i18n::field_label(self.lang, &n.name)))]))
                        }
                    }
                }
            }
        }
    }

    fn issues_of(&self, path: &str) -> Markup {
        let id = format!("e{}", &field_id(path)[1..]);
        html! {
            p class="issue" id=(id) data-issue-for=(path) {
                @if let Some(list) = self.issues.get(path) {
                    @for (k, m) in list.iter().enumerate() {
                        @if k > 0 { " " }
                        (m)
                    }
                }
            }
        }
    }

    fn input(
        &self,
        path: &str,
        name: &str,
        index: Option<u32>,
        s: &form::Simple,
        required: bool,
        doc: Option<&str>,
    ) -> Markup {
        let id = field_id(path);
        let err = format!("e{}", &id[1..]);
        let hint = format!("h{}", &id[1..]);
        let value = self.values.get(path).map(String::as_str).unwrap_or("");
        let invalid = self.issues.contains_key(path);
        // A hint where the format is not obvious: a code with a pattern (an
        // institution id, an IBAN), not free text's "no blank at either end".
        let help = doc.or(s.doc.as_deref()).filter(|_| {
            s.base == Base::Text && s.pattern.as_deref().is_some_and(|p| p != r"\S(.*\S)?")
        });
        let described = if help.is_some() {
            format!("{err} {hint}")
        } else {
            err.clone()
        };
        let lang = self.lang;
        let long = s.max_len.is_some_and(|m| m > 255);
        html! {
            label for=(id) {
                (super::i18n::field_label(lang, name))
                @if let Some(i) = index { " " (i) }
                @if !required { " " span class="optional" { (t(lang, "act.optional")) } }
            }
            @if let Some(h) = help { p class="hint" id=(hint) { (h) } }
            @if !s.choices.is_empty() || s.base == Base::Boolean {
                @let choices: Vec<String> = if s.choices.is_empty() { vec!["true".into(), "false".into()] } else { s.choices.clone() };
                select id=(id) name={ "v:" (path) } required[required] aria-invalid=(invalid) aria-describedby=(described) {
                    option value="" selected[value.is_empty()] { (t(lang, "write.choose")) }
                    @for c in &choices {
                        option value=(c) selected[value == c] { (choice_words(lang, name, c)) }
                    }
                }
            } @else if long {
                textarea id=(id) name={ "v:" (path) } rows="4" required[required] aria-invalid=(invalid)
                    aria-describedby=(described) maxlength=[s.max_len] { (value) }
            } @else {
                input id=(id) name={ "v:" (path) } value=(value)
                    type=(if s.base == Base::Date { "date" } else { "text" })
                    inputmode=[match s.base { Base::Decimal => Some("decimal"), Base::Integer => Some("numeric"), _ => None }]
                    required[required] aria-invalid=(invalid) aria-describedby=(described)
                    maxlength=[s.max_len] minlength=[s.min_len.filter(|m| *m > 1)]
                    pattern=[s.pattern.as_deref().filter(|_| s.base == Base::Text)];
            }
            (self.issues_of(path))
        }
    }
}

/// An enumerated value in words: a country's name in an element naming one,
/// else a word from the catalogue (`code.<value>`), else the code itself.
fn choice_words(lang: Lang, name: &str, code: &str) -> String {
    let country = format!("country.{code}");
    if (name.contains("Country") || name.contains("MemberState")) && has(&country) {
        return format!("{} ({code})", t(lang, &country));
    }
    code.replace('_', " ")
}

/// The form's post: its hidden fields, the button pressed and the values (`v:`).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct Posted(Vec<(String, String)>);

impl Posted {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    fn which(&self) -> Which {
        Which {
            from: self.get("from").to_owned(),
            to: self.get("to").to_owned(),
            sed: self.get("sed").to_owned(),
            related: self.get("related").to_owned(),
        }
    }
    fn values(&self) -> Values {
        self.0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("v:")?.to_owned(), v.clone())))
            .collect()
    }
}

/// The start of both posts: caller, case, draft key (offered now) and model.
#[allow(clippy::result_large_err)]
async fn prelude(
    sw: &Arc<Switch>,
    auth: &Option<Arc<Auth>>,
    remote: &Caller,
    case_id: &str,
    headers: &HeaderMap,
    form: Result<Form<Posted>, FormRejection>,
) -> Result<(Posted, Caller, Ctx, CaseDetail, DraftKey, Arc<Model>), Response> {
    let (p, caller, ctx, _path, d) =
        super::act::case_form(sw, auth, remote, case_id, headers, form, |p: &Posted| {
            p.get("csrf")
        })
        .await?;
    let Some(key) = p.which().key(&d.case.case_id) else {
        return Err(error_page(&ctx, StatusCode::BAD_REQUEST, None));
    };
    if !offered(sw, &caller, &d, &key) {
        return Err(not_offered(sw, &ctx, &caller, &d));
    }
    let Some(model) = model_of(sw, &d, &key.sed).await else {
        return Err(error_page(
            &ctx,
            StatusCode::SERVICE_UNAVAILABLE,
            Some(t(ctx.lang, "write.no_form")),
        ));
    };
    Ok((p, caller, ctx, d, key, model))
}

/// Why a draft was not kept. (`save` answers when it was kept, and the token the
/// draft has.)
enum NotKept {
    TooLarge,
    TooMany,
    Store,
}

async fn save(
    sw: &Switch,
    caller: &Caller,
    key: &DraftKey,
    token: &str,
    values: &Values,
) -> Result<(String, String), NotKept> {
    let json = serde_json::to_string(values).map_err(|_| NotKept::Store)?;
    if json.len() > sw.bounds.draft_bytes_max as usize {
        return Err(NotKept::TooLarge);
    }
    let at = crate::store::now_rfc3339();
    // A new draft gets its token here.
    let token = if token.is_empty() {
        new_token()
    } else {
        token.to_owned()
    };
    let draft = Draft {
        key: key.clone(),
        token: token.clone(),
        field_values: json,
        updated_at: at.clone(),
        updated_by: caller.subject.clone(),
    };
    let store = sw.store.clone();
    let max = sw.bounds.drafts_per_case_max;
    let r = tokio::task::spawn_blocking(move || {
        let mut tx = store.begin()?;
        let kept = tx.draft_put(&draft, max)?;
        tx.commit()?;
        Ok::<_, crate::store::StoreError>(kept)
    })
    .await;
    match r {
        Ok(Ok(true)) => Ok((at, token)),
        Ok(Ok(false)) => Err(NotKept::TooMany),
        _ => Err(NotKept::Store),
    }
}

fn not_kept_page(ctx: &Ctx, why: NotKept) -> Response {
    match why {
        NotKept::TooLarge => error_page(
            ctx,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(t(ctx.lang, "write.too_large")),
        ),
        NotKept::TooMany => error_page(
            ctx,
            StatusCode::CONFLICT,
            Some(t(ctx.lang, "write.too_many")),
        ),
        NotKept::Store => error_page(ctx, StatusCode::SERVICE_UNAVAILABLE, None),
    }
}

/// `POST /cases/{caseId}/write`.
#[allow(clippy::too_many_arguments)]
pub async fn post(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Extension(remote): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let (p, caller, ctx, d, key, model) =
        match prelude(&sw, &auth, &remote, &case_id, &headers, form).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let mut values = p.values();
    let token = p.get("token").to_owned();
    let op = p.get("op").to_owned();
    let back = format!("/cases/{}", d.case.case_id);
    if op == "discard" {
        return match forget(&sw, &key).await {
            Ok(()) => see_other_to(&format!("{back}?done=discarded#actions"), None),
            Err(()) => error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None),
        };
    }
    if let Some(rp) = op.strip_prefix("add:") {
        change_count(&model, &mut values, rp, 1);
    } else if let Some(rp) = op.strip_prefix("remove:") {
        change_count(&model, &mut values, rp, -1);
    }
    let (saved, token) = match save(&sw, &caller, &key, &token, &values).await {
        Ok(kept) => kept,
        Err(why) => return not_kept_page(&ctx, why),
    };
    let saved_note = Some(tf(
        ctx.lang,
        "write.saved",
        &[("at", &at_words(ctx.lang, &saved))],
    ));
    // The form again, as it now is, with `issues` at their fields.
    let again = |status: StatusCode, issues: &[FieldIssue]| {
        let state = FormState {
            key: &key,
            model: &model,
            values: &values,
            token: &token,
            issues,
            note: saved_note.clone(),
        };
        html_response(status, render(&sw, &ctx, &d, &state))
    };
    if op != "send" {
        return again(StatusCode::OK, &[]);
    }
    // Checked first against the schema, so that every issue is at its field.
    let (dir, version, sed, m, vs, limits) = (
        sw.schemas.clone(),
        d.case.sed_version.clone(),
        key.sed.clone(),
        model.clone(),
        values.clone(),
        sw.limits,
    );
    let Ok((built, issues)) =
        tokio::task::spawn_blocking(move || form::check(&dir, &version, &sed, &m, &vs, &limits))
            .await
    else {
        return error_page(&ctx, StatusCode::INTERNAL_SERVER_ERROR, None);
    };
    if !issues.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, &issues);
    }
    let body = built.xml.clone().into_bytes();
    let submission = Submission {
        from: key.sender.clone(),
        to: key.receiver.clone(),
        buc: d.case.buc.clone(),
        sed: key.sed.clone(),
        version: Some(d.case.sed_version.clone()),
        case_id: Some(d.case.case_id.clone()),
        document_id: None,
        related: key.related.clone(),
        body: body.clone(),
        reference: None,
    };
    let idem = IdempotencyKey {
        scope: format!("page:{}", key.sender),
        key: format!("draft:{token}"),
        request_sha256: hex::encode(openssl::sha::sha256(&body)),
    };
    let entry = crate::api::audit_entry(
        &caller,
        "submit",
        format!("page {} {}", key.sed, d.case.case_id),
    );
    let sw2 = sw.clone();
    let r = tokio::task::spawn_blocking(move || {
        submit_keyed(&sw2, submission, Some(entry), Some(idem))
    })
    .await;
    match r {
        Ok(Ok(_)) => {
            // Sent: the draft goes (a failure here leaves a draft whose token
            // replays this very submission, never a second SED).
            let _ = forget(&sw, &key).await;
            see_other_to(&format!("{back}?done=sent#documents"), None)
        }
        Ok(Err(SubmitError::Invalid(list))) => {
            // The engine's own check refused what the form's check let through:
            // its issues, located by line as the form's are.
            let violations: Vec<_> = list.iter().map(|i| (i.line, i.detail.clone())).collect();
            again(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form::locate(&built, &violations),
            )
        }
        Ok(Err(e)) => {
            let resp = crate::api::submit_failed(&edge, e);
            let status = resp.status();
            let why = super::problem_detail(resp).await;
            error_page(&ctx, status, why.as_deref())
        }
        Err(_) => error_page(&ctx, StatusCode::INTERNAL_SERVER_ERROR, None),
    }
}

/// Delete a draft (sent or discarded).
async fn forget(sw: &Switch, key: &DraftKey) -> Result<(), ()> {
    let store = sw.store.clone();
    let k = key.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut tx = store.begin()?;
        tx.draft_delete(&k)?;
        tx.commit()
    })
    .await;
    match r {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// One more or one fewer instance of the repeating element at `rp` (the last one's
/// values go with it), within what the schema allows.
fn change_count(model: &Model, values: &mut Values, rp: &str, by: i32) {
    let Some((parent, node)) = find_repeating(&model.children, "", rp, values) else {
        return;
    };
    let now = form::instances(values, &parent, node);
    let cap = node.max.min(form::REPEAT_MAX);
    let next = if by > 0 {
        (now + 1).min(cap)
    } else {
        now.saturating_sub(1).max(node.min.max(1))
    };
    if next < now {
        let last = form::child_path(&parent, node, now);
        values.retain(|k, _| {
            let k = k.trim_start_matches('#');
            !(k == last || k.starts_with(&format!("{last}/")) || k.starts_with(&format!("{last}@")))
        });
    }
    values.insert(form::count_key(rp), next.to_string());
}

/// The repeating element whose count is kept at `rp`, and its parent's path.
fn find_repeating<'m>(
    children: &'m [Element],
    parent: &str,
    rp: &str,
    values: &Values,
) -> Option<(String, &'m Element)> {
    for n in children {
        if n.repeats() && form::repeat_path(parent, n) == rp {
            return Some((parent.to_owned(), n));
        }
        if let Kind::Group(inner) = &n.kind {
            for i in 1..=form::instances(values, parent, n) {
                let path = form::child_path(parent, n, i);
                if rp.starts_with(&path)
                    && let Some(found) = find_repeating(inner, &path, rp, values)
                {
                    return Some(found);
                }
            }
        }
    }
    None
}

/// `POST /cases/{caseId}/write/check`: the form's issues as JSON, the draft saved.
pub async fn check(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(remote): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Posted>, FormRejection>,
) -> Response {
    let (p, caller, ctx, d, key, model) =
        match prelude(&sw, &auth, &remote, &case_id, &headers, form).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let values = p.values();
    let saved = save(&sw, &caller, &key, p.get("token"), &values).await;
    let (dir, version, sed, limits) = (
        sw.schemas.clone(),
        d.case.sed_version.clone(),
        key.sed.clone(),
        sw.limits,
    );
    let Ok((_, issues)) = tokio::task::spawn_blocking(move || {
        form::check(&dir, &version, &sed, &model, &values, &limits)
    })
    .await
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let issues: Vec<serde_json::Value> = issues
        .iter()
        .map(|i| {
            serde_json::json!({
                "field": i.field,
                "id": field_id(&i.field),
                "detail": issue_text(ctx.lang, i),
            })
        })
        .collect();
    let saved = match saved {
        Ok((at, _)) => Some(tf(
            ctx.lang,
            "write.saved",
            &[("at", &at_words(ctx.lang, &at))],
        )),
        Err(NotKept::TooLarge) => Some(t(ctx.lang, "write.too_large").to_owned()),
        Err(NotKept::TooMany) => Some(t(ctx.lang, "write.too_many").to_owned()),
        Err(NotKept::Store) => None,
    };
    axum::Json(serde_json::json!({ "issues": issues, "saved": saved })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ids_and_words_come_from_the_path() {
        assert_eq!(
            field_id("InsuredPerson/Address[2]/Town"),
            "f-InsuredPerson-Address-2--Town"
        );
        assert_eq!(
            field_words(Lang::En, "InsuredPerson/Address[2]/Town"),
            "Insured person › Address 2 › Town"
        );
        assert_eq!(
            field_words(Lang::En, "Amount@currency"),
            "Amount › currency"
        );
    }

    #[test]
    fn a_repeating_element_grows_and_shrinks_within_its_bounds() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sed-schemas");
        let m = form::model(
            &dir,
            &crate::ids::SedVersion::parse("4.2").unwrap(),
            &SedType::parse("A004").unwrap(),
        )
        .unwrap();
        let mut v = Values::new();
        change_count(&m, &mut v, "InsuredPerson/Address", 1);
        assert_eq!(v["#InsuredPerson/Address"], "2");
        v.insert("InsuredPerson/Address[2]/Town".into(), "Gent".into());
        change_count(&m, &mut v, "InsuredPerson/Address", -1);
        assert_eq!(v["#InsuredPerson/Address"], "1");
        assert!(!v.contains_key("InsuredPerson/Address[2]/Town"), "{v:?}");
        // Never below one shown instance, and an unknown path changes nothing.
        change_count(&m, &mut v, "InsuredPerson/Address", -1);
        assert_eq!(v["#InsuredPerson/Address"], "1");
        change_count(&m, &mut v, "Nowhere/Else", 1);
        assert!(!v.contains_key("#Nowhere/Else"));
    }
}
