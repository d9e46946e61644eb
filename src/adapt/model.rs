//! The national schema's content model as plain data: the one global element
//! (the message), and for every complex type the child elements it declares, in
//! schema order, with their types. The reverse direction needs it twice: at load,
//! to check that every national path of a mapping names declared elements (a path
//! the schema does not have could never be written back), and when rendering, to
//! put the children of every national element in the order the schema requires
//! (the `[[map]]` entries run in SED order, not in national order).
//!
//! libxml2 compiles the schema for validation but exposes no content model, and
//! no maintained crate reads one from an XSD, so this walks the schema document
//! itself. It reads the subset the national schemas use: named and anonymous
//! complex types, `xs:sequence`/`xs:choice`/`xs:all` (nested), simple content,
//! `xs:extension` of a named complex type; anything else (`ref`, groups,
//! `xs:any`, substitution) is refused at load with its name.

use std::collections::BTreeMap;
use std::path::Path;

use libxml::readonly::RoNode;

use crate::sed::xml::XmlLimits;

const XS: &str = "http://www.w3.org/2001/XMLSchema";

/// One declared child element: its name and the key of its type (`#<n>` for an
/// anonymous complex type, the local name of a named type, `xs:<name>` for a
/// built-in one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Child {
    pub name: String,
    pub type_key: String,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub namespace: String,
    pub root: Child,
    /// Complex types by key: their child elements in schema order. A type not
    /// in here (simple or built-in) has text content only.
    pub types: BTreeMap<String, Vec<Child>>,
    /// The values of every named simple type that is an enumeration (the
    /// round-trip test generates values from them).
    pub enumerations: BTreeMap<String, Vec<String>>,
}

impl Model {
    /// The declared child `name` of an element of type `type_key`.
    pub fn child(&self, type_key: &str, name: &str) -> Option<&Child> {
        self.types.get(type_key)?.iter().find(|c| c.name == name)
    }

    /// Where `name` sits among the children of `type_key` (for sorting).
    pub fn position(&self, type_key: &str, name: &str) -> usize {
        self.types
            .get(type_key)
            .and_then(|cs| cs.iter().position(|c| c.name == name))
            .unwrap_or(usize::MAX)
    }

    pub fn is_complex(&self, type_key: &str) -> bool {
        self.types.contains_key(type_key)
    }
}

struct Reader {
    model: Model,
    problems: Vec<String>,
    anonymous: usize,
}

fn is_xs(node: RoNode, local: &str) -> bool {
    node.get_name() == local && node.get_namespace().is_some_and(|n| n.get_href() == XS)
}

/// `prefix:local` → `local`, keeping `xs:` for the built-in types.
fn type_key(qname: &str) -> String {
    match qname.split_once(':') {
        Some(("xs" | "xsd", local)) => format!("xs:{local}"),
        Some((_, local)) => local.to_owned(),
        None => qname.to_owned(),
    }
}

impl Reader {
    /// Collect the child elements a complex type declares, in order.
    fn particles(&mut self, node: RoNode, into: &mut Vec<Child>, owner: &str) {
        for child in node.get_child_elements() {
            let name = child.get_name();
            if is_xs(child, "element") {
                into.push(self.element(child, owner));
            } else if [
                "sequence",
                "choice",
                "all",
                "complexContent",
                "simpleContent",
            ]
            .iter()
            .any(|k| is_xs(child, k))
            {
                self.particles(child, into, owner);
            } else if is_xs(child, "extension") {
                // A complex type extending another: the base's children come
                // first. Simple content (a built-in base) adds no children.
                if let Some(base) = child.get_attribute("base") {
                    into.push(Child {
                        name: String::new(),
                        type_key: format!("extends:{}", type_key(&base)),
                    });
                }
                self.particles(child, into, owner);
            } else if ["annotation", "attribute", "attributeGroup", "anyAttribute"]
                .iter()
                .all(|k| !is_xs(child, k))
            {
                self.problems.push(format!(
                    "national schema: xs:{name} in {owner} is not supported by the adapter engine"
                ));
            }
        }
    }

    fn element(&mut self, node: RoNode, owner: &str) -> Child {
        let Some(name) = node.get_attribute("name") else {
            self.problems.push(format!(
                "national schema: an element without a name in {owner} (ref is not supported)"
            ));
            return Child::default();
        };
        let type_key = match node.get_attribute("type") {
            Some(t) => type_key(&t),
            None => match node
                .get_child_elements()
                .into_iter()
                .find(|c| is_xs(*c, "complexType"))
            {
                Some(inline) => {
                    self.anonymous += 1;
                    let key = format!("#{}", self.anonymous);
                    self.complex(inline, key.clone(), &name);
                    key
                }
                None => "xs:string".to_owned(),
            },
        };
        Child { name, type_key }
    }

    fn complex(&mut self, node: RoNode, key: String, owner: &str) {
        let mut children = Vec::new();
        self.particles(node, &mut children, owner);
        self.model.types.insert(key, children);
    }

    /// Replace every `extends:` marker by the base type's children.
    fn flatten(&mut self) {
        for _ in 0..8 {
            let snapshot = self.model.types.clone();
            let mut changed = false;
            for children in self.model.types.values_mut() {
                if let Some(i) = children
                    .iter()
                    .position(|c| c.type_key.starts_with("extends:"))
                {
                    let base = children[i].type_key["extends:".len()..].to_owned();
                    let inherited = snapshot.get(&base).cloned().unwrap_or_default();
                    children.splice(i..=i, inherited);
                    changed = true;
                }
            }
            if !changed {
                return;
            }
        }
        self.problems
            .push("national schema: type extensions nest too deeply".to_owned());
    }
}

/// Read the content model of the national schema at `path`.
pub(super) fn read(path: &Path) -> Result<Model, Vec<String>> {
    let bytes = std::fs::read(path)
        .map_err(|e| vec![format!("national schema {}: {e}", path.display())])?;
    let doc = crate::sed::xml::parse(&bytes, &XmlLimits::default())
        .map_err(|e| vec![format!("national schema {}: {e}", path.display())])?;
    let Some(schema) = doc.get_root_readonly().filter(|r| is_xs(*r, "schema")) else {
        return Err(vec![format!(
            "national schema {}: the root is not xs:schema",
            path.display()
        )]);
    };
    let mut reader = Reader {
        model: Model {
            namespace: schema.get_attribute("targetNamespace").unwrap_or_default(),
            ..Model::default()
        },
        problems: Vec::new(),
        anonymous: 0,
    };
    let mut roots = Vec::new();
    for child in schema.get_child_elements() {
        if is_xs(child, "complexType") {
            let name = child.get_attribute("name").unwrap_or_default();
            reader.complex(child, name.clone(), &name);
        } else if is_xs(child, "element") {
            roots.push(reader.element(child, "the schema"));
        } else if is_xs(child, "simpleType") {
            let values: Vec<String> = child
                .get_child_elements()
                .into_iter()
                .filter(|r| is_xs(*r, "restriction"))
                .flat_map(|r| r.get_child_elements())
                .filter(|e| is_xs(*e, "enumeration"))
                .filter_map(|e| e.get_attribute("value"))
                .collect();
            if let (Some(name), false) = (child.get_attribute("name"), values.is_empty()) {
                reader.model.enumerations.insert(name, values);
            }
        }
    }
    reader.flatten();
    if reader.model.namespace.is_empty() {
        reader
            .problems
            .push("national schema: no targetNamespace".to_owned());
    }
    match roots.len() {
        1 => reader.model.root = roots.remove(0),
        n => reader.problems.push(format!(
            "national schema: {n} global elements; the message must be the only one"
        )),
    }
    if reader.problems.is_empty() {
        Ok(reader.model)
    } else {
        Err(reader.problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_order_and_types_of_a_shipped_schema() {
        let m = read(Path::new("adapters/onss-posting/national.xsd")).expect("model");
        assert_eq!(m.namespace, "urn:be:onss:limosa:posting:1");
        assert_eq!(m.root.name, "PostingNotification");
        let names: Vec<&str> = m.types["WorkplaceType"]
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["Name", "Street", "PostalCode", "City", "Country"]);
        let worker = m.child(&m.root.type_key, "Worker").expect("Worker");
        assert_eq!(worker.type_key, "WorkerType");
        assert_eq!(
            m.child("WorkerType", "Ssin").map(|c| c.type_key.as_str()),
            Some("SsinType")
        );
        assert!(m.position("AddressType", "Street") < m.position("AddressType", "City"));
    }
}
