//! Running a checked `Plan` over one validated national document: the values at
//! the national paths the definition names (checked at load to be plain child
//! paths, so they are walked, not evaluated as XPath), code tables and transforms, the tree of SED elements
//! the entries build, and its rendering as text. Every mapping issue is
//! collected so that the sender learns about all of them at once.

use libxml::readonly::RoNode;
use libxml::tree::Document;

use super::definition::{Each, Entry, Field, Leaf, Plan, Source, Transform};
use super::{MappingIssue, REFERENCE_LEN_MAX, Translated};
use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, SedType, SedVersion};
use crate::sed::xml::escape;

/// One SED element under construction.
#[derive(Debug)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<Element>,
    /// Whether a following entry may still add children. Leaves and the
    /// elements of a finished `each` match are closed: a later entry with the
    /// same name starts a sibling instead of writing into them.
    open: bool,
}

impl Element {
    fn container(name: &str) -> Element {
        Element {
            name: name.to_owned(),
            attributes: Vec::new(),
            text: None,
            children: Vec::new(),
            open: true,
        }
    }

    /// Walk `names` down the chain of open last children, opening (appending)
    /// what is missing: consecutive entries that share a path prefix thereby
    /// share its elements, and entries always append in definition order.
    fn open_path(&mut self, names: &[String]) -> &mut Element {
        let mut current = self;
        for name in names {
            let reuse = matches!(current.children.last(), Some(c) if c.open && c.name == *name);
            if !reuse {
                current.children.push(Element::container(name));
            }
            let last = current.children.len() - 1;
            current = &mut current.children[last];
        }
        current
    }

    fn render(&self, depth: usize, out: &mut String) {
        let indent = "  ".repeat(depth);
        out.push_str(&indent);
        out.push_str("<sed:");
        out.push_str(&self.name);
        for (k, v) in &self.attributes {
            out.push_str(&format!(" {k}=\"{}\"", escape(v)));
        }
        match &self.text {
            Some(text) => {
                out.push_str(&format!(">{}</sed:{}>\n", escape(text), self.name));
            }
            None if self.children.is_empty() => out.push_str("/>\n"),
            None => {
                out.push_str(">\n");
                for child in &self.children {
                    child.render(depth + 1, out);
                }
                out.push_str(&format!("{indent}</sed:{}>\n", self.name));
            }
        }
    }
}

/// The national location of a value, as the sender knows it: the `each`
/// matches that led there (`p:Workplace[2]`) followed by the field's XPath.
fn located(scope: &str, xpath: &str) -> String {
    if scope.is_empty() {
        xpath.to_owned()
    } else {
        format!("{scope}/{xpath}")
    }
}

fn issue(field: String, message: String, value: Option<String>) -> MappingIssue {
    MappingIssue {
        field,
        message,
        value,
    }
}

struct Run<'a> {
    plan: &'a Plan,
    issues: Vec<MappingIssue>,
}

impl Run<'_> {
    /// The elements at the national path `steps` below `node` (`node` itself for
    /// `.`), in document order: what the checked XPath (`p:A/p:B`, child steps in
    /// the national namespace, refused at load otherwise) selects. Walking the
    /// children does that without compiling and running an XPath per field, which
    /// cost about half of a translation.
    fn select(&self, steps: &[String], node: RoNode) -> Vec<RoNode> {
        let ns = self.plan.model.namespace.as_str();
        super::reverse::descend(
            node,
            steps,
            |n| n.get_child_elements(),
            |n| {
                if crate::sed::xml::ns(*n) == ns {
                    n.get_name()
                } else {
                    String::new()
                }
            },
        )
    }

    /// The one string a national path yields at `node`: `None` when it selects
    /// nothing or only whitespace. Whitespace around a value is dropped because no
    /// SED text type admits it.
    fn string(&mut self, steps: &[String], node: RoNode, field: &str) -> Option<String> {
        let mut found = self.select(steps, node);
        let value = match found.len() {
            0 => return None,
            1 => found.remove(0).get_content(),
            n => {
                self.issues.push(issue(
                    field.to_owned(),
                    format!("selects {n} nodes where one value is expected"),
                    None,
                ));
                return None;
            }
        };
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// The value of an envelope field, parsed: `None` when the adapter has no
    /// such field, the message leaves it out, or it does not parse (then an
    /// issue names it, with the value).
    fn field<T>(
        &mut self,
        field: Option<&Field>,
        root: RoNode,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let field = field?;
        let value = self.string(&field.national, root, &field.xpath)?;
        self.parsed(field, value, parse)
    }

    /// The sender's or receiver's institution id, which every message must have.
    fn institution(&mut self, field: &Field, root: RoNode) -> Option<InstitutionId> {
        let Some(value) = self.string(&field.national, root, &field.xpath) else {
            self.issues.push(issue(
                field.xpath.clone(),
                "required institution id is missing".to_owned(),
                None,
            ));
            return None;
        };
        self.parsed(field, value, |v| {
            InstitutionId::parse(v).map_err(|e| e.to_string())
        })
    }

    fn parsed<T>(
        &mut self,
        field: &Field,
        value: String,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&value) {
            Ok(v) => Some(v),
            Err(message) => {
                self.issues
                    .push(issue(field.xpath.clone(), message, Some(value)));
                None
            }
        }
    }

    fn entries(&mut self, entries: &[Entry], node: RoNode, scope: &str, into: &mut Element) {
        for entry in entries {
            match entry {
                Entry::Leaf(leaf) => self.leaf(leaf, node, scope, into),
                Entry::Each(each) => self.each(each, node, scope, into),
            }
        }
    }

    fn leaf(&mut self, leaf: &Leaf, node: RoNode, scope: &str, into: &mut Element) {
        let sed_path = leaf.path.join("/");
        let (field, value) = match &leaf.source {
            Source::XPath(x) => {
                let field = located(scope, x);
                let value = self.string(&leaf.national, node, &field);
                (field, value)
            }
            Source::Value(v) => (sed_path.clone(), Some(v.clone())),
        };
        let Some(mut value) = value else {
            if leaf.required {
                self.issues.push(issue(
                    field,
                    format!("required value for {sed_path} is missing"),
                    None,
                ));
            }
            return;
        };
        match leaf.transform {
            None => {}
            Some(Transform::Upper) => value = value.to_ascii_uppercase(),
            Some(Transform::Date) => match date_part(&value) {
                Some(d) => value = d.to_owned(),
                None => {
                    self.issues.push(issue(
                        field,
                        format!("not a date (YYYY-MM-DD) for {sed_path}"),
                        Some(value),
                    ));
                    return;
                }
            },
        }
        if let Some(table) = &leaf.codes {
            match self.plan.codes.get(table).and_then(|t| t.get(&value)) {
                Some(code) => value = code.clone(),
                None => {
                    self.issues.push(issue(
                        field,
                        format!("value is not in code table {table:?} for {sed_path}"),
                        Some(value),
                    ));
                    return;
                }
            }
        }
        let Some((name, parents)) = leaf.path.split_last() else {
            return;
        };
        let parent = into.open_path(parents);
        parent.children.push(Element {
            name: name.clone(),
            attributes: leaf.attributes.clone(),
            text: Some(value),
            children: Vec::new(),
            open: false,
        });
    }

    fn each(&mut self, each: &Each, node: RoNode, scope: &str, into: &mut Element) {
        let field = located(scope, &each.each);
        let matches = self.select(&each.national, node);
        if matches.is_empty() && each.required {
            self.issues.push(issue(
                field.clone(),
                format!(
                    "selects nothing; at least one {} is required",
                    each.path.join("/")
                ),
                None,
            ));
        }
        let Some((name, parents)) = each.path.split_last() else {
            return;
        };
        for (i, matched) in matches.into_iter().enumerate() {
            let mut element = Element::container(name);
            self.entries(
                &each.fields,
                matched,
                &format!("{field}[{}]", i + 1),
                &mut element,
            );
            // A match whose fields all came out empty leaves no trace.
            if element.children.is_empty() {
                continue;
            }
            element.open = false;
            into.open_path(parents).children.push(element);
        }
    }
}

fn document_id(v: &str) -> Result<DocumentId, String> {
    DocumentId::parse(v).map_err(|e| e.to_string())
}

/// The institution's own reference: what an `Idempotency-Key` may be (its
/// national schema may be narrower), since it is kept and compared as one.
fn reference(v: &str) -> Result<String, String> {
    if v.len() <= REFERENCE_LEN_MAX && v.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "a reference is 1 to {REFERENCE_LEN_MAX} visible ASCII characters"
        ))
    }
}

/// `YYYY-MM-DD` of an `xs:date` lexical form, dropping a time zone.
fn date_part(s: &str) -> Option<&str> {
    let (date, zone) = (s.get(..10)?, &s[10..]);
    let b = date.as_bytes();
    let shape = b.iter().enumerate().all(|(i, c)| {
        if i == 4 || i == 7 {
            *c == b'-'
        } else {
            c.is_ascii_digit()
        }
    });
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && zone.as_bytes()[3] == b':');
    (shape && zone_ok).then_some(date)
}

pub(super) struct Target<'a> {
    pub buc: &'a BucType,
    pub sed: &'a SedType,
    pub version: &'a SedVersion,
}

/// Map a validated national document to the SED body.
pub(super) fn run(
    plan: &Plan,
    doc: &Document,
    target: Target,
) -> Result<Translated, Vec<MappingIssue>> {
    let internal = |what: &str| vec![issue(String::new(), format!("internal: {what}"), None)];
    let root = doc
        .get_root_readonly()
        .ok_or_else(|| internal("document has no root"))?;
    let mut run = Run {
        plan,
        issues: Vec::new(),
    };

    let envelope = &plan.envelope;
    let from = run.institution(&envelope.from, root);
    let to = run.institution(&envelope.to, root);
    let case_id = run.field(envelope.case_id.as_ref(), root, |v| {
        CaseId::parse(v).map_err(|e| e.to_string())
    });
    let reference = run.field(envelope.reference.as_ref(), root, reference);
    let answers = run.field(envelope.answers.as_ref(), root, document_id);
    let updates = run.field(envelope.updates.as_ref(), root, document_id);
    // The received document's id is the switch's to write (reverse); a message
    // sent with it would be ambiguous: it names neither what it answers nor
    // what it updates.
    if let Some(f) = &envelope.document_id
        && run.string(&f.national, root, &f.xpath).is_some()
    {
        let mut names = Vec::new();
        names.extend(envelope.answers.as_ref().map(|a| a.xpath.as_str()));
        names.extend(envelope.updates.as_ref().map(|u| u.xpath.as_str()));
        let hint = if names.is_empty() {
            String::new()
        } else {
            format!(
                "; name the document answered or updated in {}",
                names.join(" or ")
            )
        };
        run.issues.push(issue(
            f.xpath.clone(),
            format!("is written by the switch on received messages only{hint}"),
            None,
        ));
    }
    let mut body = Element::container(target.sed.as_str());
    run.entries(&plan.entries, root, "", &mut body);
    if !run.issues.is_empty() {
        return Err(run.issues);
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(internal("envelope incomplete without an issue"));
    };

    let (generation, version) = target.version.generation_and_version();
    let mut sed_xml = format!(
        "<sed:{} xmlns:sed=\"{}\" sedGVer=\"{}\" sedVer=\"{}\">\n",
        body.name,
        escape(&target.version.namespace()),
        escape(generation),
        escape(version)
    );
    for child in &body.children {
        child.render(1, &mut sed_xml);
    }
    sed_xml.push_str(&format!("</sed:{}>\n", body.name));
    Ok(Translated {
        from,
        to,
        case_id,
        reference,
        answers,
        updates,
        buc: target.buc.clone(),
        sed: target.sed.clone(),
        sed_xml,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_part_keeps_the_calendar_date_only() {
        assert_eq!(date_part("2026-03-02"), Some("2026-03-02"));
        assert_eq!(date_part("2026-03-02Z"), Some("2026-03-02"));
        assert_eq!(date_part("2026-03-02+01:00"), Some("2026-03-02"));
        assert_eq!(date_part("02/03/2026"), None);
        assert_eq!(date_part("2026-03-02T10:00:00"), None);
        assert_eq!(date_part("2026-3-2"), None);
        assert_eq!(date_part("été-03-02x"), None);
    }
}
