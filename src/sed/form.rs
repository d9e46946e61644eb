//! A SED as a form: the model of its content read from its own XSD (`sed-schemas/`),
//! so that the page can offer a form for any SED the BUC allows, and the values a
//! user typed back into a SED body that the same schema then validates.
//!
//! - [`model`] reads `<version>/<SED>.xsd` and what it includes into a tree of
//!   groups (complex elements) and fields (simple elements, with the facets the
//!   browser can check too: enumerations, pattern, lengths, bounds). The schemas are
//!   our own files, read once per SED and version and kept (a bounded cache).
//! - A field is named by its path from the SED's root: `Disagreement/Reason`; an
//!   element that may repeat carries its 1-based index, `Address[2]/Town`; an
//!   attribute follows `@`, `Amount@currency`. How many instances a repeating
//!   element has is a value too: `#Address` (see [`count_key`]).
//! - [`build`] writes the body from the values, one start tag per line, and keeps
//!   which path each line holds, so that [`locate`] puts each schema violation
//!   (libxml2 gives its line) next to its field.
//!
//! The XSD is read with libxml2 as a plain XML document (the schema compiler keeps
//! its model private); only the constructs our schemas use are read: sequences,
//! group references, named and inline simple and complex types, simple content
//! with attributes, and the restriction facets. A `choice` is read as a sequence
//! of optional elements. Anything else is an error naming the construct, found by
//! the test that reads every schema.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libxml::parser::Parser;
use libxml::tree::{Document, Node};

use crate::ids::{SedType, SedVersion};

/// Deepest nesting of elements a form follows (our schemas nest about 6 deep).
const DEPTH_MAX: usize = 16;
/// Most instances of one repeating element a form holds.
pub const REPEAT_MAX: u32 = 50;
/// Most elements one form shows or one body built from it holds: a form whose
/// counts ask for more (repeats within repeats) is cut there.
pub const FIELDS_MAX: usize = 1500;
/// Most schemas kept read (every SED of every version is about 560).
pub const CACHE_MAX: usize = 2048;

/// The kind of value a field holds (the XSD built-in type its type restricts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Base {
    #[default]
    Text,
    Date,
    Decimal,
    Integer,
    Boolean,
}

/// A simple type: its base and facets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Simple {
    pub base: Base,
    /// The allowed values, when the type enumerates them.
    pub choices: Vec<String>,
    pub pattern: Option<String>,
    pub min_len: Option<u32>,
    pub max_len: Option<u32>,
    pub min: Option<String>,
    pub max: Option<String>,
    pub fraction_digits: Option<u32>,
    /// The type's own documentation (e.g. "A calendar date, YYYY-MM-DD").
    pub doc: Option<String>,
}

/// An attribute of a simple-content field.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub name: String,
    pub required: bool,
    pub simple: Simple,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A complex element: its child elements in order.
    Group(Vec<Element>),
    /// A simple element, with the attributes of simple content.
    Field(Simple, Vec<Attr>),
}

/// One element of the SED's content.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub min: u32,
    /// `u32::MAX` for unbounded.
    pub max: u32,
    /// The name of its XSD type (`PersonType`), if named.
    pub type_name: Option<String>,
    pub doc: Option<String>,
    pub kind: Kind,
}

impl Element {
    pub fn repeats(&self) -> bool {
        self.max > 1
    }
}

/// The form of one SED type in one data-model version.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub sed: String,
    pub namespace: String,
    /// `sedGVer`, `sedVer` of the root element.
    pub generation: String,
    pub version: String,
    pub children: Vec<Element>,
}

/// Why a form could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FormError {
    #[error("no schema at {0}")]
    NoSchema(PathBuf),
    #[error("schema {0} cannot be read as a form: {1}")]
    Unreadable(PathBuf, String),
}

type Cache = Mutex<HashMap<PathBuf, Arc<Model>>>;

fn cache() -> &'static Cache {
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The form of `sed` in `version`, from the schema under `dir`. Blocking (libxml2).
pub fn model(dir: &Path, version: &SedVersion, sed: &SedType) -> Result<Arc<Model>, FormError> {
    let path = super::validate::sed_schema_path(dir, version, sed);
    if let Some(m) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&path) {
        return Ok(m.clone());
    }
    let m = Arc::new(read_model(&path, version, sed)?);
    let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= CACHE_MAX {
        c.clear();
    }
    c.insert(path, m.clone());
    Ok(m)
}

/// The named definitions of a schema and of what it includes.
#[derive(Default)]
struct Defs {
    complex: HashMap<String, Node>,
    simple: HashMap<String, Node>,
    groups: HashMap<String, Node>,
    elements: HashMap<String, Node>,
    // The documents the nodes above belong to, kept alive with them.
    _docs: Vec<Document>,
}

fn read_model(path: &Path, version: &SedVersion, sed: &SedType) -> Result<Model, FormError> {
    if !path.is_file() {
        return Err(FormError::NoSchema(path.to_owned()));
    }
    let bad = |why: String| FormError::Unreadable(path.to_owned(), why);
    let mut defs = Defs::default();
    load(path, &mut defs, &mut Vec::new()).map_err(bad)?;
    let root = defs
        .elements
        .get(sed.as_str())
        .cloned()
        .ok_or_else(|| bad(format!("no global element {sed}")))?;
    let reader = Reader { defs: &defs };
    let top = reader.element(&root, 0).map_err(bad)?;
    let Kind::Group(children) = top.kind else {
        return Err(bad("the SED's element has no child elements".into()));
    };
    let (g, v) = version.generation_and_version();
    Ok(Model {
        sed: sed.to_string(),
        namespace: version.namespace(),
        generation: g.to_owned(),
        version: v.to_owned(),
        children,
    })
}

fn load(path: &Path, defs: &mut Defs, seen: &mut Vec<PathBuf>) -> Result<(), String> {
    if seen.iter().any(|p| p == path) {
        return Ok(());
    }
    seen.push(path.to_owned());
    let doc = Parser::default()
        .parse_file(&path.to_string_lossy())
        .map_err(|e| format!("{}: {e:?}", path.display()))?;
    let root = doc
        .get_root_element()
        .ok_or_else(|| format!("{}: empty", path.display()))?;
    for n in root.get_child_elements() {
        let name = n.get_property("name").unwrap_or_default();
        match n.get_name().as_str() {
            "include" => {
                let loc = n.get_property("schemaLocation").unwrap_or_default();
                let next = path.parent().unwrap_or(Path::new(".")).join(loc);
                load(&next, defs, seen)?;
            }
            "complexType" => {
                defs.complex.insert(name, n);
            }
            "simpleType" => {
                defs.simple.insert(name, n);
            }
            "group" => {
                defs.groups.insert(name, n);
            }
            "element" => {
                defs.elements.insert(name, n);
            }
            _ => {}
        }
    }
    defs._docs.push(doc);
    Ok(())
}

fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

fn is_builtin(qname: &str) -> bool {
    qname.starts_with("xs:")
}

fn builtin(qname: &str) -> Base {
    match local(qname) {
        "date" => Base::Date,
        "decimal" | "double" | "float" => Base::Decimal,
        "integer" | "int" | "long" | "short" | "nonNegativeInteger" | "positiveInteger" => {
            Base::Integer
        }
        "boolean" => Base::Boolean,
        _ => Base::Text,
    }
}

fn documentation(n: &Node) -> Option<String> {
    let ann = n
        .get_child_elements()
        .into_iter()
        .find(|c| c.get_name() == "annotation")?;
    let d = ann
        .get_child_elements()
        .into_iter()
        .find(|c| c.get_name() == "documentation")?;
    let text = d
        .get_content()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    (!text.is_empty()).then_some(text)
}

fn occurs(n: &Node, attr: &str) -> Result<u32, String> {
    match n.get_property(attr).as_deref() {
        None => Ok(1),
        Some("unbounded") => Ok(u32::MAX),
        Some(v) => v.parse().map_err(|_| format!("{attr}=\"{v}\"")),
    }
}

struct Reader<'a> {
    defs: &'a Defs,
}

impl Reader<'_> {
    fn element(&self, el: &Node, depth: usize) -> Result<Element, String> {
        let name = el
            .get_property("name")
            .ok_or_else(|| "an element without a name".to_owned())?;
        if depth > DEPTH_MAX {
            return Err(format!("{name}: nested deeper than {DEPTH_MAX}"));
        }
        let min = occurs(el, "minOccurs")?;
        let max = occurs(el, "maxOccurs")?;
        let mut doc = documentation(el);
        let type_name = el.get_property("type");
        let kind = match &type_name {
            Some(t) if is_builtin(t) => Kind::Field(
                Simple {
                    base: builtin(t),
                    ..Simple::default()
                },
                Vec::new(),
            ),
            Some(t) => {
                let t = local(t);
                if let Some(s) = self.defs.simple.get(t) {
                    Kind::Field(self.simple(s, 0)?, Vec::new())
                } else if let Some(c) = self.defs.complex.get(t) {
                    doc = doc.or_else(|| documentation(c));
                    self.complex(c, depth)?
                } else {
                    return Err(format!("{name}: unknown type {t}"));
                }
            }
            None => {
                let inline = el.get_child_elements();
                if let Some(c) = inline.iter().find(|c| c.get_name() == "complexType") {
                    self.complex(c, depth)?
                } else if let Some(s) = inline.iter().find(|c| c.get_name() == "simpleType") {
                    Kind::Field(self.simple(s, 0)?, Vec::new())
                } else {
                    Kind::Field(Simple::default(), Vec::new())
                }
            }
        };
        Ok(Element {
            name,
            min,
            max,
            type_name: type_name.map(|t| local(&t).to_owned()),
            doc,
            kind,
        })
    }

    fn complex(&self, c: &Node, depth: usize) -> Result<Kind, String> {
        let mut children = Vec::new();
        for part in c.get_child_elements() {
            match part.get_name().as_str() {
                "sequence" | "choice" => self.particles(&part, depth, &mut children)?,
                "simpleContent" => return self.simple_content(&part),
                "annotation" | "attributeGroup" | "attribute" => {}
                other => return Err(format!("complexType with {other}")),
            }
        }
        Ok(Kind::Group(children))
    }

    fn particles(&self, seq: &Node, depth: usize, out: &mut Vec<Element>) -> Result<(), String> {
        let optional = seq.get_name() == "choice";
        for p in seq.get_child_elements() {
            match p.get_name().as_str() {
                "element" => {
                    let mut n = self.element(&p, depth + 1)?;
                    if optional {
                        n.min = 0;
                    }
                    out.push(n);
                }
                "group" => {
                    let r = p.get_property("ref").unwrap_or_default();
                    let g = self
                        .defs
                        .groups
                        .get(local(&r))
                        .ok_or_else(|| format!("unknown group {r}"))?;
                    for inner in g.get_child_elements() {
                        if matches!(inner.get_name().as_str(), "sequence" | "choice") {
                            self.particles(&inner, depth, out)?;
                        }
                    }
                }
                "sequence" | "choice" => self.particles(&p, depth, out)?,
                "annotation" => {}
                other => return Err(format!("sequence with {other}")),
            }
        }
        Ok(())
    }

    fn simple_content(&self, sc: &Node) -> Result<Kind, String> {
        let ext = sc
            .get_child_elements()
            .into_iter()
            .find(|c| matches!(c.get_name().as_str(), "extension" | "restriction"))
            .ok_or_else(|| "simpleContent without extension".to_owned())?;
        let base = ext.get_property("base").unwrap_or_default();
        let simple = self.named_simple(&base, 0)?;
        let mut attrs = Vec::new();
        for a in ext.get_child_elements() {
            if a.get_name() != "attribute" {
                continue;
            }
            let t = a.get_property("type").unwrap_or_else(|| "xs:string".into());
            attrs.push(Attr {
                name: a.get_property("name").unwrap_or_default(),
                required: a.get_property("use").as_deref() == Some("required"),
                simple: self.named_simple(&t, 0)?,
            });
        }
        Ok(Kind::Field(simple, attrs))
    }

    fn named_simple(&self, qname: &str, depth: usize) -> Result<Simple, String> {
        if is_builtin(qname) {
            return Ok(Simple {
                base: builtin(qname),
                ..Simple::default()
            });
        }
        let s = self
            .defs
            .simple
            .get(local(qname))
            .ok_or_else(|| format!("unknown simple type {qname}"))?;
        self.simple(s, depth)
    }

    /// A simple type with its facets (a restriction of a restriction adds its own).
    fn simple(&self, s: &Node, depth: usize) -> Result<Simple, String> {
        if depth > DEPTH_MAX {
            return Err("simple types nested too deep".into());
        }
        let Some(r) = s
            .get_child_elements()
            .into_iter()
            .find(|c| c.get_name() == "restriction")
        else {
            return Err("a simple type that is not a restriction".into());
        };
        let base = r.get_property("base").unwrap_or_else(|| "xs:string".into());
        let mut out = self.named_simple(&base, depth + 1)?;
        if let Some(d) = documentation(s) {
            out.doc = Some(d);
        }
        let mut choices = Vec::new();
        for f in r.get_child_elements() {
            let v = f.get_property("value").unwrap_or_default();
            match f.get_name().as_str() {
                "enumeration" => choices.push(v),
                "pattern" => out.pattern = Some(v),
                "length" => {
                    out.min_len = v.parse().ok();
                    out.max_len = v.parse().ok();
                }
                "minLength" => out.min_len = v.parse().ok(),
                "maxLength" => out.max_len = v.parse().ok(),
                "minInclusive" => out.min = Some(v),
                "maxInclusive" => out.max = Some(v),
                "fractionDigits" => out.fraction_digits = v.parse().ok(),
                _ => {}
            }
        }
        if !choices.is_empty() {
            out.choices = choices;
        }
        Ok(out)
    }
}

/// What a user typed: field path → value (see the module's naming).
pub type Values = BTreeMap<String, String>;

/// The key that holds how many instances of the repeating element at `path` the
/// form shows.
pub fn count_key(path: &str) -> String {
    format!("#{path}")
}

/// The path of child `name` (instance `i`, 1-based, of a repeating one) under `parent`.
pub fn child_path(parent: &str, node: &Element, i: u32) -> String {
    let seg = if node.repeats() {
        format!("{}[{i}]", node.name)
    } else {
        node.name.clone()
    };
    if parent.is_empty() {
        seg
    } else {
        format!("{parent}/{seg}")
    }
}

/// The path a repeating element's count is kept under (its path without index).
pub fn repeat_path(parent: &str, node: &Element) -> String {
    if parent.is_empty() {
        node.name.clone()
    } else {
        format!("{parent}/{}", node.name)
    }
}

/// How many instances of `node` under `parent` the form shows: the count kept in
/// the values, else as many as have values, else its minimum (at least one, so
/// that an optional element can be filled in), never more than it allows or
/// [`REPEAT_MAX`].
pub fn instances(values: &Values, parent: &str, node: &Element) -> u32 {
    if !node.repeats() {
        return 1;
    }
    let cap = node.max.min(REPEAT_MAX);
    let kept = values
        .get(&count_key(&repeat_path(parent, node)))
        .and_then(|v| v.parse::<u32>().ok());
    let used = (1..=cap)
        .take_while(|i| {
            let prefix = child_path(parent, node, *i);
            has_values_under(values, &prefix)
        })
        .count() as u32;
    kept.unwrap_or(0).max(used).max(node.min.max(1)).min(cap)
}

fn has_values_under(values: &Values, prefix: &str) -> bool {
    values
        .range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .any(|(k, v)| {
            let rest = &k[prefix.len()..];
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with('@'))
                && !v.trim().is_empty()
        })
}

/// A body built from the values, and the path whose start tag is on each line.
#[derive(Debug, Clone)]
pub struct Built {
    pub xml: String,
    /// `lines[n]` is the path on line `n + 1` (the root is "").
    pub lines: Vec<String>,
    /// The required fields written without a value.
    pub missing: Vec<String>,
}

/// One problem with the values, at the field (or group) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldIssue {
    /// The field's path ("" for the form as a whole).
    pub field: String,
    /// libxml2's words, without namespaces.
    pub detail: String,
    /// A required field left empty (the page says so in the user's language).
    pub missing: bool,
}

/// Write the SED body the values describe. An optional element none of whose
/// fields has a value is left out; a required one is written (empty if nothing
/// was typed) so that the schema names what it misses. Values are trimmed of
/// surrounding blank lines only (inner text is kept as typed), and escaped.
pub fn build(model: &Model, values: &Values) -> Built {
    build_within(model, values, FIELDS_MAX)
}

fn build_within(model: &Model, values: &Values, lines_max: usize) -> Built {
    let mut b = Built {
        xml: format!(
            "<{sed} xmlns=\"{ns}\" sedGVer=\"{g}\" sedVer=\"{v}\">",
            sed = model.sed,
            ns = model.namespace,
            g = model.generation,
            v = model.version
        ),
        lines: vec![String::new()],
        missing: Vec::new(),
    };
    for n in &model.children {
        write_node(&mut b, values, "", n, true, 1, lines_max);
    }
    b.xml.push('\n');
    b.xml.push_str(&format!("</{}>", model.sed));
    b
}

fn write_node(
    b: &mut Built,
    values: &Values,
    parent: &str,
    n: &Element,
    parent_required: bool,
    depth: usize,
    lines_max: usize,
) {
    let indent = "  ".repeat(depth);
    for i in 1..=instances(values, parent, n) {
        if b.lines.len() > lines_max {
            return;
        }
        let path = child_path(parent, n, i);
        let filled = has_values_under(values, &path);
        let required = parent_required && i <= n.min;
        if !filled && !required {
            continue;
        }
        match &n.kind {
            Kind::Group(children) => {
                b.xml.push('\n');
                b.xml.push_str(&format!("{indent}<{}>", n.name));
                b.lines.push(path.clone());
                for c in children {
                    write_node(b, values, &path, c, true, depth + 1, lines_max);
                }
                b.xml.push('\n');
                b.xml.push_str(&format!("{indent}</{}>", n.name));
                b.lines.push(path.clone());
            }
            Kind::Field(_, attrs) => {
                b.xml.push('\n');
                b.xml.push_str(&format!("{indent}<{}", n.name));
                for a in attrs {
                    if let Some(v) = values.get(&format!("{path}@{}", a.name)) {
                        let v = v.trim();
                        if !v.is_empty() || a.required {
                            b.xml
                                .push_str(&format!(" {}=\"{}\"", a.name, super::xml::escape(v)));
                        }
                    }
                }
                let v = values
                    .get(&path)
                    .map(|v| v.trim_matches(['\n', '\r']))
                    .unwrap_or("");
                if v.trim().is_empty() {
                    b.missing.push(path.clone());
                }
                // One line per start tag: a value's own line breaks would shift the
                // lines after it, so they are written as character references.
                let text = super::xml::escape(v)
                    .replace('\n', "&#10;")
                    .replace('\r', "");
                b.xml.push_str(&format!(">{text}</{}>", n.name));
                b.lines.push(path.clone());
            }
        }
    }
}

/// Each violation put at the path of the line libxml2 gives; one without a line
/// (or past the body) at "" (the form as a whole). The violations of a required
/// field left empty become one "missing" issue.
pub fn locate(built: &Built, violations: &[(Option<u32>, String)]) -> Vec<FieldIssue> {
    let mut out: Vec<FieldIssue> = Vec::new();
    for (line, message) in violations {
        let path = line
            .and_then(|l| built.lines.get((l as usize).checked_sub(1)?))
            .cloned()
            .unwrap_or_default();
        // An attribute's violation is about the attribute's field.
        let path = match attribute_of(message) {
            Some(a) if !path.is_empty() => format!("{path}@{a}"),
            _ => path,
        };
        let missing = built.missing.contains(&path);
        if missing && out.iter().any(|i| i.field == path) {
            continue;
        }
        out.push(FieldIssue {
            field: path,
            detail: without_namespaces(&super::xml::clean(message)),
            missing,
        });
    }
    out
}

/// `'{http://ec.europa.eu/eessi/ns/4_2}Reason'` → `'Reason'`.
fn without_namespaces(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("{http") {
        out.push_str(&rest[..start]);
        match rest[start..].find('}') {
            Some(end) => rest = &rest[start + end + 1..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn attribute_of(message: &str) -> Option<&str> {
    // libxml2: "Element 'Amount', attribute 'currency': ..."
    let rest = &message[message.find(", attribute '")? + ", attribute '".len()..];
    Some(&rest[..rest.find('\'')?])
}

/// Check the values against the schema: the built body parsed and validated by
/// libxml2 (the same schema the submission is validated with), each violation
/// located. Blocking.
pub fn check(
    dir: &Path,
    version: &SedVersion,
    sed: &SedType,
    model: &Model,
    values: &Values,
    limits: &super::xml::XmlLimits,
) -> (Built, Vec<FieldIssue>) {
    let built = build(model, values);
    let violations = match super::xml::parse(built.xml.as_bytes(), limits) {
        Err(e) => vec![(None, e.to_string())],
        Ok(doc) => {
            match super::validate::validate_document(
                &super::validate::sed_schema_path(dir, version, sed),
                &doc,
            ) {
                Ok(()) => Vec::new(),
                Err(super::validate::ValidateError::Invalid(vs)) => {
                    vs.into_iter().map(|v| (v.line, v.message)).collect()
                }
                Err(e) => vec![(None, e.to_string())],
            }
        }
    };
    let located = locate(&built, &violations);
    (built, located)
}

/// The values a stored SED holds, as the fields of `model`: the content of the
/// first element named `root` in `bytes` (an envelope or a bare body), read with
/// quick-xml. Elements the model does not have are skipped; at most
/// [`REPEAT_MAX`] instances of one element and `fields_max` values are read.
pub fn values_of(model: &Model, bytes: &[u8], root: &str, fields_max: usize) -> Values {
    use quick_xml::events::Event;
    struct Frame<'m> {
        path: String,
        children: &'m [Element],
        counts: HashMap<String, u32>,
    }
    let mut values = Values::new();
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    // Depth inside an element the model does not know (skipped), and the field
    // whose text is being read.
    let mut skipping = 0usize;
    let mut field: Option<String> = None;
    let mut started = false;
    while let Ok(ev) = reader.read_event() {
        match ev {
            Event::Start(e) | Event::Empty(e) if !started && e.local_name().as_ref() == root => {
                started = true;
                stack.push(Frame {
                    path: String::new(),
                    children: &model.children,
                    counts: HashMap::new(),
                });
            }
            _ if !started => {}
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                if skipping > 0 || field.is_some() {
                    skipping += usize::from(!empty);
                    continue;
                }
                let Some(frame) = stack.last_mut() else { break };
                let name = e.local_name().as_ref().to_owned();
                let Some(node) = frame.children.iter().find(|n| n.name == name) else {
                    skipping = usize::from(!empty);
                    continue;
                };
                let i = frame.counts.entry(name).or_insert(0);
                *i += 1;
                if *i > REPEAT_MAX.min(node.max) || values.len() >= fields_max {
                    skipping = usize::from(!empty);
                    continue;
                }
                let path = child_path(&frame.path, node, *i);
                if node.repeats() {
                    values.insert(count_key(&repeat_path(&frame.path, node)), i.to_string());
                }
                match &node.kind {
                    Kind::Group(_) if empty => {}
                    Kind::Group(children) => stack.push(Frame {
                        path,
                        children,
                        counts: HashMap::new(),
                    }),
                    Kind::Field(..) => {
                        for a in e.attributes().flatten() {
                            let key = a.key.local_name().as_ref().to_owned();
                            if let Ok(v) = a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                                values.insert(format!("{path}@{key}"), v.into_owned());
                            }
                        }
                        values.insert(path.clone(), String::new());
                        if !empty {
                            field = Some(path);
                        }
                    }
                }
            }
            // The raw text, entity references and CDATA kept escaped, and unescaped
            // once at the field's end (as `pages::sed_view` reads).
            Event::Text(t) => {
                if skipping == 0
                    && let Some(f) = &field
                    && let Some(v) = values.get_mut(f)
                {
                    v.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                if skipping == 0
                    && let Some(f) = &field
                    && let Some(v) = values.get_mut(f)
                {
                    v.push('&');
                    v.push_str(&r);
                    v.push(';');
                }
            }
            Event::CData(t) => {
                if skipping == 0
                    && let Some(f) = &field
                    && let Some(v) = values.get_mut(f)
                {
                    v.push_str(&quick_xml::escape::escape(&*t));
                }
            }
            Event::End(_) => {
                if skipping > 0 {
                    skipping -= 1;
                } else if let Some(f) = field.take() {
                    if let Some(v) = values.get_mut(&f) {
                        *v = quick_xml::escape::unescape(v)
                            .map(|c| c.into_owned())
                            .unwrap_or_default();
                    }
                } else {
                    stack.pop();
                    if stack.is_empty() {
                        break;
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    values
}

#[cfg(test)]
#[path = "form_tests.rs"]
mod tests;
