//! The reverse direction: a received SED body back into an adapter's national
//! message, derived from the same `[[map]]` entries that translate forward. A
//! leaf reads its SED path (only elements carrying its constant attributes),
//! turns the code table and the transform round, and writes the national path
//! its `from` names; an `each` group writes one national element per SED
//! element on its path that its constant fields do not contradict, and an
//! element taken by one group is not offered to the next group on the same
//! path. Constants (`value = ...`) write nothing back. The envelope's sender,
//! receiver and case id, which no SED body carries, come from the header, and
//! so do the document's own id, the one it answers and whether it is a new
//! version, when the caller passes them (`ReceivedDocument`).
//! Children are written in the national schema's order (`model`).

use std::collections::HashSet;

use libxml::readonly::RoNode;

use super::definition::{Each, Entry, Field, Leaf, Plan, Source};
use super::model::Model;
use super::{Header, MappingIssue, ReceivedDocument};
use crate::ids::SedType;
use crate::sed::xml::escape;

/// One national element under construction.
#[derive(Debug)]
struct Element {
    name: String,
    text: Option<String>,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &str) -> Element {
        Element {
            name: name.to_owned(),
            text: None,
            children: Vec::new(),
        }
    }

    /// The element at `names` below this one, each step the first child of
    /// that name (created when missing): single national paths are shared.
    fn path_mut(&mut self, names: &[String]) -> &mut Element {
        let mut current = self;
        for name in names {
            let i = match current.children.iter().position(|c| c.name == *name) {
                Some(i) => i,
                None => {
                    current.children.push(Element::new(name));
                    current.children.len() - 1
                }
            };
            current = &mut current.children[i];
        }
        current
    }

    fn is_empty(&self) -> bool {
        self.text.is_none() && self.children.is_empty()
    }

    /// Render with the children in the order `type_key` declares them; the
    /// sort is stable, so repeated elements keep the SED's order.
    fn render(&self, model: &Model, type_key: &str, depth: usize, out: &mut String) {
        let indent = "  ".repeat(depth);
        out.push_str(&indent);
        out.push('<');
        out.push_str(&self.name);
        if depth == 0 {
            out.push_str(&format!(" xmlns=\"{}\"", escape(&model.namespace)));
        }
        if let Some(text) = &self.text {
            out.push_str(&format!(">{}</{}>\n", escape(text), self.name));
            return;
        }
        out.push_str(">\n");
        let mut children: Vec<&Element> = self.children.iter().collect();
        children.sort_by_key(|c| model.position(type_key, &c.name));
        for child in children {
            let child_type = model
                .child(type_key, &child.name)
                .map(|c| c.type_key.as_str())
                .unwrap_or_default();
            child.render(model, child_type, depth + 1, out);
        }
        out.push_str(&format!("{indent}</{}>\n", self.name));
    }
}

/// The elements at `path` below `node`, every branch followed; generic over
/// the node type so that the tests walk their mutable documents the same way.
pub(super) fn descend<N>(
    node: N,
    path: &[String],
    children: impl Fn(&N) -> Vec<N>,
    name: impl Fn(&N) -> String,
) -> Vec<N> {
    let mut frontier = vec![node];
    for step in path {
        frontier = frontier
            .iter()
            .flat_map(&children)
            .filter(|c| name(c) == *step)
            .collect();
    }
    frontier
}

/// The SED elements at `path` below `node`.
fn select(node: RoNode, path: &[String]) -> Vec<RoNode> {
    descend(node, path, |n| n.get_child_elements(), |n| n.get_name())
}

/// The trimmed text of the first element at `path`, if any and not blank.
fn first_text(node: RoNode, path: &[String]) -> Option<String> {
    let text = select(node, path).first()?.get_content();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn located(scope: &str, path: &[String]) -> String {
    let path = path.join("/");
    match (scope.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => scope.to_owned(),
        (false, false) => format!("{scope}/{path}"),
    }
}

struct Run<'a> {
    plan: &'a Plan,
    issues: Vec<MappingIssue>,
}

impl Run<'_> {
    fn issue(&mut self, field: String, message: String, value: Option<String>) {
        self.issues.push(MappingIssue {
            field,
            message,
            value,
        });
    }

    fn entries(&mut self, entries: &[Entry], sed: RoNode, scope: &str, into: &mut Element) {
        // SED elements already taken by an earlier group of this list.
        let mut claimed = HashSet::new();
        for entry in entries {
            match entry {
                Entry::Leaf(leaf) => self.leaf(leaf, sed, scope, into),
                Entry::Each(each) => self.each(each, sed, scope, into, &mut claimed),
            }
        }
    }

    fn leaf(&mut self, leaf: &Leaf, sed: RoNode, scope: &str, into: &mut Element) {
        if leaf.one_way || matches!(leaf.source, Source::Value(_)) {
            return;
        }
        let field = located(scope, &leaf.path);
        let value = select(sed, &leaf.path)
            .into_iter()
            .find(|n| {
                leaf.attributes
                    .iter()
                    .all(|(k, v)| n.get_attribute(k).as_deref() == Some(v.as_str()))
            })
            .map(|n| n.get_content().trim().to_owned())
            .filter(|v| !v.is_empty());
        let Some(mut value) = value else {
            if leaf.required {
                let national = leaf.national.join("/");
                self.issue(
                    field,
                    format!("missing, and the national format requires it ({national})"),
                    None,
                );
            }
            return;
        };
        if let Some(table) = &leaf.codes {
            match self
                .plan
                .reverse_codes
                .get(table)
                .and_then(|t| t.get(&value))
            {
                Some(national) => value = national.clone(),
                None => {
                    self.issue(
                        field,
                        format!("value has no national code in table {table:?}"),
                        Some(value),
                    );
                    return;
                }
            }
        }
        if let Some(t) = leaf.transform {
            value = t.inverse(&value);
        }
        into.path_mut(&leaf.national).text = Some(value);
    }

    /// Whether a constant field of `each` is contradicted by `candidate`.
    fn contradicts(each: &Each, candidate: RoNode) -> bool {
        each.fields.iter().any(|f| match f {
            Entry::Leaf(Leaf {
                source: Source::Value(v),
                path,
                one_way: false,
                ..
            }) => first_text(candidate, path).is_some_and(|t| t != *v),
            _ => false,
        })
    }

    fn each(
        &mut self,
        each: &Each,
        sed: RoNode,
        scope: &str,
        into: &mut Element,
        claimed: &mut HashSet<usize>,
    ) {
        if each.one_way {
            return;
        }
        let field = located(scope, &each.path);
        let matches: Vec<RoNode> = select(sed, &each.path)
            .into_iter()
            .filter(|n| !claimed.contains(&n.to_hashable()) && !Self::contradicts(each, *n))
            .collect();
        if matches.is_empty() && each.required {
            self.issue(
                field.clone(),
                format!(
                    "missing, and the national format requires at least one ({})",
                    each.national.join("/")
                ),
                None,
            );
        }
        let Some((name, parents)) = each.national.split_last() else {
            return;
        };
        for (i, matched) in matches.into_iter().enumerate() {
            claimed.insert(matched.to_hashable());
            let mut element = Element::new(name);
            self.entries(
                &each.fields,
                matched,
                &format!("{field}[{}]", i + 1),
                &mut element,
            );
            if !element.is_empty() {
                into.path_mut(parents).children.push(element);
            }
        }
    }
}

/// Build the national message for the SED document `sed` (its root the SED
/// element) received under `header`.
pub(super) fn run(
    plan: &Plan,
    sed: Option<RoNode>,
    sed_type: &SedType,
    header: &Header,
    document: Option<&ReceivedDocument>,
) -> Result<String, Vec<MappingIssue>> {
    let mut run = Run {
        plan,
        issues: Vec::new(),
    };
    let root = match sed {
        Some(r) if r.get_name() == sed_type.as_str() => r,
        other => {
            let found = other.map(|r| r.get_name());
            run.issue(
                String::new(),
                format!("this adapter reads a SED {sed_type}"),
                found,
            );
            return Err(run.issues);
        }
    };
    let model = &plan.model;
    let mut national = Element::new(&model.root.name);
    let envelope = &plan.envelope;
    let mut write = |field: Option<&Field>, value: Option<&str>| {
        if let (Some(f), Some(v)) = (field, value) {
            national.path_mut(&f.national).text = Some(v.to_owned());
        }
    };
    write(Some(&envelope.from), Some(header.from.as_str()));
    write(Some(&envelope.to), Some(header.to.as_str()));
    write(envelope.case_id.as_ref(), Some(header.case_id.as_str()));
    // A received message has no reference of the institution's: `reference`
    // stays empty. The document's own id is what a reply will name in
    // `answers`; a new version (2 or later) updates that same document.
    if let Some(d) = document {
        write(envelope.document_id.as_ref(), Some(d.id.as_str()));
        write(
            envelope.answers.as_ref(),
            d.related.as_ref().map(|r| r.as_str()),
        );
        write(
            envelope.updates.as_ref(),
            (d.version > 1).then(|| d.id.as_str()),
        );
    }
    run.entries(&plan.entries, root, "", &mut national);
    if !run.issues.is_empty() {
        return Err(run.issues);
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    national.render(model, &model.root.type_key, 0, &mut xml);
    Ok(xml)
}
