//! The administrative SEDs a case handler sends from the case page, each one
//! declarative entry (`FORMS`): which SED, its form's fields (a reason from the
//! schema's enumeration, free text), and how its block is written. The person block
//! comes from a SED of the case (the one the X-SED names, else the case's first),
//! so the handler types only what the SED asks of a person. The body goes through
//! the same submission path as `POST /api/v1/documents`, which validates it against
//! the SED's XSD and puts it to the BUC machine.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::i18n::{Lang, t, tf};
use super::{Ctx, error_page};
use crate::api::auth::{Auth, Caller};
use crate::api::edge::HttpEdge;
use crate::ids::{CaseId, DocumentId, InstitutionId, SedType};
use crate::switch::Switch;
use crate::switch::outbound::Submission;

/// One field of an X-SED form.
pub enum Field {
    /// `ReasonType`: one of the schema's enumeration, each with its words.
    Reason(&'static [&'static str]),
    /// Free text (`ReasonText`, `Reason`); required or not.
    Text { required: bool },
    /// The part of the document a clarification is about.
    Part,
}

/// What the form posted, checked.
pub struct Input<'a> {
    pub related_sed: &'a str,
    pub related_id: &'a str,
    pub related_date: &'a str,
    pub today: &'a str,
    pub reason: &'a str,
    pub text: &'a str,
    pub part: &'a str,
}

pub struct XsedForm {
    pub sed: &'static str,
    /// The words of its button (`{sed}`: the SED it names).
    pub label: &'static str,
    pub fields: &'static [Field],
    /// The SED's own block (after ContextPerson), values escaped.
    pub block: fn(&Input) -> String,
}

fn e(s: &str) -> String {
    crate::sed::xml::escape(s).into_owned()
}

fn opt(name: &str, v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else {
        format!("<sed:{name}>{}</sed:{name}>", e(v))
    }
}

fn referenced(name: &str, i: &Input) -> String {
    format!(
        "<sed:{name}><sed:SedType>{}</sed:SedType><sed:DocumentID>{}</sed:DocumentID></sed:{name}>",
        e(i.related_sed),
        e(i.related_id)
    )
}

pub const FORMS: &[XsedForm] = &[
    XsedForm {
        sed: "X011",
        label: "act.X011",
        fields: &[
            Field::Reason(&[
                "not_competent",
                "incomplete",
                "wrong_person",
                "wrong_buc",
                "other",
            ]),
            Field::Text { required: true },
        ],
        block: |i| {
            format!(
                "<sed:Rejection>{}<sed:ReasonType>{}</sed:ReasonType><sed:ReasonText>{}</sed:ReasonText></sed:Rejection>",
                referenced("RejectedDocument", i),
                e(i.reason),
                e(i.text)
            )
        },
    },
    XsedForm {
        sed: "X012",
        label: "act.X012",
        fields: &[Field::Part, Field::Text { required: true }],
        block: |i| {
            format!(
                "<sed:Clarification>{}<sed:Part>{}</sed:Part><sed:Reason>{}</sed:Reason></sed:Clarification>",
                referenced("Document", i),
                e(i.part),
                e(i.text)
            )
        },
    },
    XsedForm {
        sed: "X008",
        label: "act.X008",
        fields: &[
            Field::Reason(&[
                "sent_in_error",
                "wrong_person",
                "wrong_content",
                "duplicate",
                "other",
            ]),
            Field::Text { required: false },
        ],
        block: |i| {
            format!(
                "<sed:Invalidation><sed:InvalidatedSed>{}</sed:InvalidatedSed><sed:DocumentID>{}</sed:DocumentID>\
<sed:IssueDate>{}</sed:IssueDate><sed:ReasonType>{}</sed:ReasonType>{}</sed:Invalidation>",
                e(i.related_sed),
                e(i.related_id),
                e(i.related_date),
                e(i.reason),
                opt("ReasonText", i.text)
            )
        },
    },
    XsedForm {
        sed: "X001",
        label: "act.X001",
        fields: &[
            Field::Reason(&[
                "agreement_reached",
                "no_reply",
                "sent_in_error",
                "no_longer_relevant",
                "other",
            ]),
            Field::Text { required: false },
        ],
        block: |i| {
            format!(
                "<sed:Closure><sed:Date>{}</sed:Date><sed:ReasonType>{}</sed:ReasonType>{}<sed:Mode>manual</sed:Mode></sed:Closure>",
                e(i.today),
                e(i.reason),
                opt("ReasonText", i.text)
            )
        },
    },
    XsedForm {
        sed: "X002",
        label: "act.X002",
        fields: &[
            Field::Reason(&[
                "new_information_available",
                "incorrect_information_provided",
                "case_closed_by_mistake",
                "other",
            ]),
            Field::Text { required: true },
        ],
        block: |i| {
            format!(
                "<sed:ReopenRequest><sed:ReasonType>{}</sed:ReasonType><sed:Reason>{}</sed:Reason></sed:ReopenRequest>",
                e(i.reason),
                e(i.text)
            )
        },
    },
];

pub fn form_of(sed: &str) -> Option<&'static XsedForm> {
    FORMS.iter().find(|f| f.sed == sed)
}

/// Text fields are bounded as the schema bounds them (Text2000Type).
const TEXT_MAX: usize = 2000;

/// The form of one allowed X-SED, inside a disclosure.
#[allow(clippy::too_many_arguments)]
pub fn render(
    lang: Lang,
    ctx: &Ctx,
    case_id: &CaseId,
    n: usize,
    form: &XsedForm,
    from: &str,
    to: &str,
    to_words: &str,
    related: Option<(&DocumentId, &str)>,
) -> Markup {
    let id = |f: &str| format!("x{n}-{f}");
    let named = related.map_or(String::new(), |(_, sed)| sed.to_owned());
    html! {
        details class="xsed" {
            summary { (tf(lang, form.label, &[("sed", &named), ("to", to_words)])) }
            form method="post" action={ "/cases/" (case_id) "/xsed" } class="stack" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input type="hidden" name="sed" value=(form.sed);
                input type="hidden" name="from" value=(from);
                input type="hidden" name="to" value=(to);
                @if let Some((doc, _)) = related { input type="hidden" name="related" value=(doc); }
                @for f in form.fields {
                    @match f {
                        Field::Reason(values) => {
                            label for=(id("reason")) { (t(lang, "act.reason_type")) }
                            select id=(id("reason")) name="reason" required {
                                @for v in *values { option value=(v) { (t(lang, &format!("reason.{v}"))) } }
                            }
                        }
                        Field::Text { required } => {
                            label for=(id("text")) { (t(lang, "act.reason_text")) @if !required { " " (t(lang, "act.optional")) } }
                            textarea id=(id("text")) name="text" rows="3" maxlength="2000" required[*required] {}
                        }
                        Field::Part => {
                            label for=(id("part")) { (t(lang, "act.part")) }
                            input id=(id("part")) type="text" name="part" required maxlength="200";
                        }
                    }
                }
                button type="submit" { (t(lang, "act.send")) }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct XsedPost {
    csrf: String,
    sed: String,
    from: String,
    to: String,
    #[serde(default)]
    related: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    part: String,
}

/// `POST /cases/{caseId}/xsed`: one of `FORMS`, if the BUC allows it now.
#[allow(clippy::too_many_arguments)]
pub async fn post(
    State(sw): State<Arc<Switch>>,
    Extension(auth): Extension<Option<Arc<Auth>>>,
    Extension(edge): Extension<Arc<HttpEdge>>,
    Extension(remote): Extension<Caller>,
    Path(case_id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<XsedPost>, FormRejection>,
) -> Response {
    let (f, caller, ctx, path, d) = match super::act::case_form(
        &sw,
        &auth,
        &remote,
        &case_id,
        &headers,
        form,
        |f: &XsedPost| &f.csrf,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let lang = ctx.lang;
    let bad = |why: &str| error_page(&ctx, StatusCode::BAD_REQUEST, Some(why));
    let Some(form) = form_of(&f.sed) else {
        return bad(&f.sed);
    };
    let (Ok(from), Ok(to), Ok(sed)) = (
        InstitutionId::parse(&f.from),
        InstitutionId::parse(&f.to),
        SedType::parse(form.sed),
    ) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, None);
    };
    let related = if f.related.is_empty() {
        None
    } else {
        match DocumentId::parse(&f.related) {
            Ok(r) => Some(r),
            Err(_) => return error_page(&ctx, StatusCode::BAD_REQUEST, None),
        }
    };
    // The fields, checked as the schema would, so the page says which one is wrong.
    for field in form.fields {
        match field {
            Field::Reason(values) if !values.contains(&f.reason.as_str()) => {
                return bad(&format!(
                    "{}: {}",
                    t(lang, "act.reason_type"),
                    f.reason.chars().take(64).collect::<String>()
                ));
            }
            Field::Text { required }
                if (*required && f.text.trim().is_empty()) || f.text.len() > TEXT_MAX =>
            {
                return bad(t(lang, "act.reason_text"));
            }
            Field::Part if f.part.trim().is_empty() || f.part.len() > 200 => {
                return bad(t(lang, "act.part"));
            }
            _ => {}
        }
    }
    // Only what the BUC allows now (the engine checks again when it plans).
    if !super::act::offered(&sw, &caller, &d, &from, &sed, &to, related.as_ref()) {
        return error_page(&ctx, StatusCode::CONFLICT, Some(t(lang, "case.no_actions")));
    }
    // The person block: from the named document, else the case's first.
    let named = related
        .as_ref()
        .and_then(|r| d.documents.iter().find(|(doc, _)| &doc.document_id == r));
    let Some((source, _)) = named.or_else(|| d.documents.first()) else {
        return error_page(
            &ctx,
            StatusCode::CONFLICT,
            Some(t(lang, "case.sed_unreadable")),
        );
    };
    let Some(envelope) = super::act::stored_envelope(&sw, source).await else {
        return error_page(&ctx, StatusCode::SERVICE_UNAVAILABLE, None);
    };
    let Some(person) = super::act::context_person(&envelope, source.sed.as_str()) else {
        return error_page(
            &ctx,
            StatusCode::CONFLICT,
            Some(t(lang, "case.sed_unreadable")),
        );
    };
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (related_sed, related_id, related_date) = match named {
        Some((doc, _)) => (
            doc.sed.to_string(),
            doc.document_id.to_string(),
            doc.created_at.get(..10).unwrap_or(&today).to_owned(),
        ),
        None => (String::new(), String::new(), today.clone()),
    };
    let input = Input {
        related_sed: &related_sed,
        related_id: &related_id,
        related_date: &related_date,
        today: &today,
        reason: &f.reason,
        text: f.text.trim(),
        part: f.part.trim(),
    };
    let body = wrap(
        &d.case.sed_version,
        form.sed,
        &person,
        &(form.block)(&input),
    );
    let submission = Submission {
        from,
        to,
        buc: d.case.buc.clone(),
        sed,
        version: None,
        case_id: Some(d.case.case_id.clone()),
        document_id: None,
        related,
        body: body.into_bytes(),
        reference: None,
    };
    super::act::submit_from_page(
        &sw,
        &edge,
        &ctx,
        &caller,
        submission,
        format!("page {} {}", form.sed, d.case.case_id),
        format!("{path}?done=sent#actions"),
    )
    .await
}

/// The X-SED's root around the person block and its own block.
pub fn wrap(version: &crate::ids::SedVersion, sed: &str, person: &str, block: &str) -> String {
    let (g, v) = version.generation_and_version();
    format!(
        "<sed:{sed} xmlns:sed=\"{}\" sedGVer=\"{g}\" sedVer=\"{v}\"><sed:ContextPerson>{person}</sed:ContextPerson>{block}</sed:{sed}>",
        version.namespace()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_writes_a_sed_valid_against_its_schema_in_both_versions_and_escapes_input() {
        let a003 = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sed/4.2/A003.xml"
        ))
        .unwrap();
        let person = super::super::act::context_person(a003.as_bytes(), "A003").unwrap();
        let input = Input {
            related_sed: "A003",
            related_id: "3f2a9c4e8b1d4f6a9e7c2b5d8a0f1e3c",
            related_date: "2026-01-02",
            today: "2026-02-03",
            reason: "",
            text: "wrong <person> & \"data\"",
            part: "section 2",
        };
        for version in ["4.2", "4.3"] {
            let version = crate::ids::SedVersion::parse(version).unwrap();
            for form in FORMS {
                let reason = form
                    .fields
                    .iter()
                    .find_map(|f| match f {
                        Field::Reason(v) => Some(v[0]),
                        _ => None,
                    })
                    .unwrap_or("");
                let i = Input { reason, ..input };
                let body = wrap(&version, form.sed, &person, &(form.block)(&i));
                assert!(
                    body.contains("wrong &lt;person&gt; &amp;"),
                    "{}: {body}",
                    form.sed
                );
                let doc =
                    crate::sed::xml::parse(body.as_bytes(), &crate::sed::xml::XmlLimits::default())
                        .unwrap();
                let schema = crate::sed::validate::sed_schema_path(
                    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/sed-schemas")),
                    &version,
                    &SedType::parse(form.sed).unwrap(),
                );
                if let Err(err) = crate::sed::validate::validate_document(&schema, &doc) {
                    panic!("{} {version}: {err:?}\n{body}", form.sed);
                }
            }
        }
    }
}
