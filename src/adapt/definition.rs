//! Reading and checking one `adapters/<name>/adapter.toml`: the raw TOML shape
//! (serde, unknown keys refused) becomes a checked `Plan` or a list of every
//! problem found. Checking compiles the national schema and every XPath here, at
//! load time, so that a broken adapter is refused before the first message and
//! `translate` only ever meets definitions that were sound when loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use libxml::readonly::RoNode;
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use libxml::tree::Document;
use libxml::xpath::{Context, Expression};
use serde::Deserialize;

use super::model::{self, Model};
use crate::ids::{BucType, SedType};
use crate::sed::xml::XmlLimits;

// ---- raw file format ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdapter {
    name: String,
    title: String,
    national_schema: String,
    buc: String,
    sed: String,
    #[serde(default)]
    namespaces: BTreeMap<String, String>,
    envelope: RawEnvelope,
    #[serde(default)]
    codes: BTreeMap<String, BTreeMap<String, String>>,
    /// SED value -> national value, for a code table that maps several
    /// national values to one SED value (the reverse must then choose).
    #[serde(default)]
    reverse_codes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    map: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    from: String,
    to: String,
    case_id: Option<String>,
    /// The institution's own reference of the message (idempotent submission).
    reference: Option<String>,
    /// The id of the received document this message answers.
    answers: Option<String>,
    /// The id of a document the institution sent, of which this message is a
    /// new version.
    updates: Option<String>,
    /// Where the reverse writes the received document's own id.
    document_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    to: String,
    from: Option<String>,
    value: Option<String>,
    each: Option<String>,
    codes: Option<String>,
    required: Option<bool>,
    transform: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    fields: Option<Vec<RawEntry>>,
    /// Why this entry has no reverse (the SED cannot tell its values apart
    /// from another entry's); the reverse skips it.
    one_way: Option<String>,
}

// ---- checked plan ----

/// Where a leaf's value comes from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// An XPath relative to the current context node.
    XPath(String),
    /// A constant written as is.
    Value(String),
}

/// The fixed set of value transforms; anything richer belongs in the XPath.
/// Each has a defined inverse for the reverse direction (`inverse`); a new
/// transform without one must be refused for a two-way adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transform {
    /// ASCII upper case (country codes typed in lower case).
    Upper,
    /// Keep `YYYY-MM-DD` of an `xs:date` that may carry a time zone; the SED
    /// date type allows none.
    Date,
}

impl Transform {
    /// The national value for a SED value. Both transforms normalise to a form
    /// the national types also accept (`xs:date` without a zone; the national
    /// country codes are upper case by their pattern), so their inverse is the
    /// identity: what they dropped (a zone, lower case) carried no meaning.
    pub fn inverse(self, sed_value: &str) -> String {
        match self {
            Transform::Upper | Transform::Date => sed_value.to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Leaf {
    /// SED element names from the current SED element down to the leaf.
    pub path: Vec<String>,
    pub source: Source,
    pub codes: Option<String>,
    pub required: bool,
    pub transform: Option<Transform>,
    /// Constant attributes of the leaf element (`Identifier type="registration"`).
    /// The reverse only reads SED elements that carry them.
    pub attributes: Vec<(String, String)>,
    /// The national element names of `from` below the context node (empty
    /// for `.`), where the reverse writes the value.
    pub national: Vec<String>,
    pub one_way: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Each {
    /// SED element names down to the element repeated once per match.
    pub path: Vec<String>,
    pub each: String,
    pub required: bool,
    pub fields: Vec<Entry>,
    /// The national element names of `each`: the reverse appends one element
    /// (the last name) per SED element, under shared parents.
    pub national: Vec<String>,
    pub one_way: bool,
}

#[derive(Debug, Clone)]
pub(super) enum Entry {
    Leaf(Leaf),
    Each(Each),
}

/// One envelope field: its XPath as written (what issues name) and the same
/// path as national element names (where `map` reads it and the reverse
/// writes it).
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub xpath: String,
    pub national: Vec<String>,
}

/// The routing and reply facts a national message carries besides its SED
/// body. `from` and `to` every adapter has; the others only the formats that
/// declare them.
#[derive(Debug, Clone)]
pub(super) struct Envelope {
    pub from: Field,
    pub to: Field,
    pub case_id: Option<Field>,
    pub reference: Option<Field>,
    pub answers: Option<Field>,
    pub updates: Option<Field>,
    pub document_id: Option<Field>,
}

/// Everything `translate` needs besides the national schema.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub envelope: Envelope,
    pub codes: BTreeMap<String, BTreeMap<String, String>>,
    /// Every code table turned round (SED value -> national value): the
    /// inverse of an injective table, or its declared `[reverse_codes]`.
    pub reverse_codes: BTreeMap<String, BTreeMap<String, String>>,
    pub entries: Vec<Entry>,
    /// The national schema's content model: the order the reverse writes in.
    pub model: Model,
}

/// A checked adapter definition, before it becomes a public `Adapter`.
pub(super) struct Checked {
    pub name: String,
    pub title: String,
    pub buc: BucType,
    pub sed: SedType,
    pub schema: PathBuf,
    pub plan: Plan,
}

/// Read and check `file` (an `adapter.toml` inside the directory `dir_name`).
/// Every problem found is returned, not only the first.
pub(super) fn check_file(file: &Path, dir_name: &str) -> Result<Checked, Vec<String>> {
    let text = std::fs::read_to_string(file).map_err(|e| vec![format!("cannot read: {e}")])?;
    let raw: RawAdapter =
        toml::from_str(&text).map_err(|e| vec![format!("not a valid adapter definition: {e}")])?;
    let base = file.parent().unwrap_or(Path::new("."));
    let schema = base.join(&raw.national_schema);
    let mut problems = Vec::new();
    let compiled = compile_schema(&schema)
        .map_err(|p| problems.push(p))
        .is_ok();
    // The content model is only worth reading from a schema that compiles.
    let model = if compiled {
        model::read(&schema)
            .map_err(|mut ps| problems.append(&mut ps))
            .ok()
    } else {
        None
    };
    let mut checker = Checker::new(&raw, model.clone())?;

    if raw.name != dir_name {
        problems.push(format!(
            "name {:?} differs from its directory {dir_name:?}",
            raw.name
        ));
    }
    if raw.title.trim().is_empty() {
        problems.push("title is empty".to_owned());
    }
    let buc = BucType::parse(&raw.buc).map_err(|e| problems.push(format!("buc: {e}")));
    let sed = SedType::parse(&raw.sed).map_err(|e| problems.push(format!("sed: {e}")));

    let root = model.as_ref().map(|m| m.root.type_key.clone());
    let envelope = checker.envelope(&raw.envelope, root.as_deref());
    for (table, entries) in &raw.codes {
        if entries.is_empty() {
            checker.problem(format!("code table {table:?} is empty"));
        }
    }
    let reverse_codes = checker.reverse_codes(&raw.codes, &raw.reverse_codes);
    if raw.map.is_empty() {
        checker.problem("no [[map]] entries".to_owned());
    }
    let entries: Vec<Entry> = raw
        .map
        .iter()
        .enumerate()
        .filter_map(|(i, e)| checker.entry(e, &format!("map[{}]", i + 1), root.as_deref()))
        .collect();
    checker.distinguishable(&entries, "map");
    problems.append(&mut checker.problems);

    match (buc, sed, model, envelope) {
        (Ok(buc), Ok(sed), Some(model), Some(envelope)) if problems.is_empty() => Ok(Checked {
            name: raw.name,
            title: raw.title,
            buc,
            sed,
            schema,
            plan: Plan {
                envelope,
                codes: raw.codes,
                reverse_codes,
                entries,
                model,
            },
        }),
        _ => Err(problems),
    }
}

/// The schema must exist and compile now, not on the first message.
fn compile_schema(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!("national schema {} not found", path.display()));
    }
    let mut parser = SchemaParserContext::from_file(&path.to_string_lossy());
    SchemaValidationContext::from_parser(&mut parser)
        .map(drop)
        .map_err(|errs| {
            let first = errs
                .first()
                .map(|e| crate::sed::xml::clean(e.message.as_deref().unwrap_or("")))
                .unwrap_or_default();
            format!(
                "national schema {} does not compile: {first}",
                path.display()
            )
        })
}

/// True for an XML NCName made of ASCII (every SED element and attribute name is).
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The namespace prefixes an XPath uses (`p` in `p:Worker`), outside string
/// literals and not counting axes (`child::`). libxml2 only resolves a prefix
/// when it evaluates the step, so a step behind an empty node set would hide an
/// undeclared prefix from the trial evaluation; this lexical scan does not.
fn prefixes(xpath: &str) -> BTreeSet<&str> {
    let bytes = xpath.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\'' || b == b'"' {
            i += bytes[i + 1..]
                .iter()
                .position(|c| *c == b)
                .map_or(bytes.len(), |p| p + 2);
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b'.'))
            {
                i += 1;
            }
            // A local name follows one colon (`p:Worker`); a step after an
            // axis follows two (`child::p:Worker`) and may itself be prefixed.
            let after_colon =
                start > 0 && bytes[start - 1] == b':' && !(start > 1 && bytes[start - 2] == b':');
            let prefix_colon = bytes.get(i) == Some(&b':') && bytes.get(i + 1) != Some(&b':');
            let is_variable = start > 0 && bytes[start - 1] == b'$';
            if prefix_colon && !after_colon && !is_variable {
                found.insert(&xpath[start..i]);
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Collects problems while turning raw entries into checked ones.
struct Checker {
    problems: Vec<String>,
    namespaces: BTreeSet<String>,
    codes: BTreeSet<String>,
    /// A one-element document to try every XPath on: evaluation finds unknown
    /// functions and prefixes that compilation alone accepts.
    trial: Document,
    context: Context,
    /// The national schema's model (`None` when it could not be read; that
    /// is a problem already, and national paths are then checked for shape only).
    model: Option<Model>,
    /// Prefixes bound to the national schema's target namespace.
    national_prefixes: BTreeSet<String>,
}

impl Checker {
    fn new(raw: &RawAdapter, model: Option<Model>) -> Result<Checker, Vec<String>> {
        let internal = |what: &str| vec![format!("internal: cannot {what}")];
        let trial = crate::sed::xml::parse(b"<adapter-check/>", &XmlLimits::default())
            .map_err(|_| internal("build the XPath trial document"))?;
        let context = Context::new(&trial).map_err(|_| internal("create an XPath context"))?;
        let mut problems = Vec::new();
        for (prefix, uri) in &raw.namespaces {
            if !is_name(prefix) || prefix.contains(':') {
                problems.push(format!("namespace prefix {prefix:?} is not a valid prefix"));
            } else if uri.is_empty() || uri.contains('\0') {
                problems.push(format!("namespace {prefix:?} has an invalid URI {uri:?}"));
            } else if context.register_namespace(prefix, uri).is_err() {
                problems.push(format!("namespace {prefix:?} cannot be registered"));
            }
        }
        let national_prefixes = raw
            .namespaces
            .iter()
            .filter(|(_, uri)| model.as_ref().is_none_or(|m| m.namespace == **uri))
            .map(|(p, _)| p.clone())
            .collect();
        Ok(Checker {
            problems,
            namespaces: raw.namespaces.keys().cloned().collect(),
            codes: raw.codes.keys().cloned().collect(),
            trial,
            context,
            model,
            national_prefixes,
        })
    }

    /// An XPath the reverse can write back: `.` or `p:A/p:B` (child steps in
    /// the national namespace), each step a child the national schema
    /// declares below `context` (a type key). Returns the local names and
    /// the type of the last one.
    fn national_path(
        &mut self,
        what: &str,
        xpath: &str,
        context: Option<&str>,
    ) -> Option<(Vec<String>, Option<String>)> {
        if xpath == "." {
            return Some((Vec::new(), context.map(str::to_owned)));
        }
        let mut steps = Vec::new();
        let mut type_key = context.map(str::to_owned);
        for step in xpath.split('/') {
            let local = match step.split_once(':') {
                Some((prefix, local))
                    if self.national_prefixes.contains(prefix) && is_name(local) =>
                {
                    local
                }
                _ => {
                    self.problem(format!(
                        "{what}: XPath {xpath:?} is not a simple path of national elements \
                         (`.` or `p:A/p:B` in the national namespace): the reverse cannot write it back"
                    ));
                    return None;
                }
            };
            if let (Some(model), Some(t)) = (&self.model, &type_key) {
                match model.child(t, local) {
                    Some(child) => type_key = Some(child.type_key.clone()),
                    None => {
                        self.problem(format!(
                            "{what}: XPath {xpath:?}: {local} is not declared there in the national schema"
                        ));
                        return None;
                    }
                }
            } else {
                type_key = None;
            }
            steps.push(local.to_owned());
        }
        Some((steps, type_key))
    }

    /// Turn every code table round. An injective table inverts by itself; one
    /// that maps several national values to one SED value must declare its
    /// `[reverse_codes]`, whose every choice must map back to the SED value.
    fn reverse_codes(
        &mut self,
        codes: &BTreeMap<String, BTreeMap<String, String>>,
        declared: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> BTreeMap<String, BTreeMap<String, String>> {
        for table in declared.keys().filter(|t| !codes.contains_key(*t)) {
            self.problem(format!("reverse_codes.{table}: no code table {table:?}"));
        }
        let mut reversed = BTreeMap::new();
        for (table, forward) in codes {
            let mut inverse: BTreeMap<String, Vec<&str>> = BTreeMap::new();
            for (national, sed) in forward {
                inverse.entry(sed.clone()).or_default().push(national);
            }
            let table_reverse: BTreeMap<String, String> = match declared.get(table) {
                Some(chosen) => {
                    for (sed, nationals) in &inverse {
                        match chosen.get(sed) {
                            None => self.problem(format!(
                                "reverse_codes.{table}: SED value {sed:?} has no national value"
                            )),
                            Some(n) if !nationals.contains(&n.as_str()) => self.problem(format!(
                                "reverse_codes.{table}: {sed:?} -> {n:?}, but code table {table:?} \
                                 does not map {n:?} to {sed:?}"
                            )),
                            Some(_) => {}
                        }
                    }
                    chosen.clone()
                }
                None => {
                    for (sed, nationals) in inverse.iter().filter(|(_, n)| n.len() > 1) {
                        self.problem(format!(
                            "code table {table:?} is not invertible: {} all map to SED value {sed:?}; \
                             declare [reverse_codes.{table}]",
                            nationals.join(", ")
                        ));
                    }
                    inverse
                        .into_iter()
                        .map(|(sed, mut n)| (sed, n.remove(0).to_owned()))
                        .collect()
                }
            };
            reversed.insert(table.clone(), table_reverse);
        }
        reversed
    }

    /// The reverse hands each SED element to the first `each` group on its
    /// path whose constant fields it does not contradict. Two groups on one
    /// SED path must therefore differ in a constant, or one be `one_way`.
    fn distinguishable(&mut self, entries: &[Entry], what: &str) {
        let groups: Vec<&Each> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Each(g) if !g.one_way => Some(g),
                _ => None,
            })
            .collect();
        for (i, a) in groups.iter().enumerate() {
            for b in &groups[i + 1..] {
                if a.path == b.path && !differ_in_a_constant(a, b) {
                    self.problem(format!(
                        "{what}: `each` {:?} and `each` {:?} both map to SED {} and no constant \
                         field tells their elements apart: the reverse cannot choose (add one, \
                         or mark one `one_way` with the reason)",
                        a.each,
                        b.each,
                        a.path.join("/")
                    ));
                }
            }
        }
        for g in groups {
            self.distinguishable(&g.fields, &format!("{what} (each {:?})", g.each));
        }
    }

    /// Every envelope field: an XPath the reverse can write back (a plain path
    /// declared in the national schema, like a `from`), naming an element with
    /// a value, no two fields on one element. `None` when one is broken (the
    /// problems say why).
    fn envelope(&mut self, raw: &RawEnvelope, root: Option<&str>) -> Option<Envelope> {
        let fields: [(&str, Option<&String>); 7] = [
            ("from", Some(&raw.from)),
            ("to", Some(&raw.to)),
            ("case_id", raw.case_id.as_ref()),
            ("reference", raw.reference.as_ref()),
            ("answers", raw.answers.as_ref()),
            ("updates", raw.updates.as_ref()),
            ("document_id", raw.document_id.as_ref()),
        ];
        let mut checked: Vec<Option<Field>> = Vec::with_capacity(fields.len());
        let mut broken = false;
        let mut seen: Vec<(&str, Vec<String>)> = Vec::new();
        for (name, xpath) in fields {
            let Some(xpath) = xpath else {
                checked.push(None);
                continue;
            };
            let what = format!("envelope.{name}");
            let path = if self.xpath(&what, xpath) {
                self.national_path(&what, xpath, root)
            } else {
                None
            };
            let Some((national, type_key)) = path else {
                broken = true;
                checked.push(None);
                continue;
            };
            if national.is_empty()
                || type_key
                    .as_deref()
                    .is_some_and(|t| self.model.as_ref().is_some_and(|m| m.is_complex(t)))
            {
                self.problem(format!(
                    "{what}: XPath {xpath:?} names no national element with a value"
                ));
                broken = true;
            }
            if let Some((other, _)) = seen.iter().find(|(_, p)| *p == national) {
                self.problem(format!(
                    "{what}: XPath {xpath:?} names the same national element as envelope.{other}"
                ));
                broken = true;
            }
            seen.push((name, national.clone()));
            checked.push(Some(Field {
                xpath: xpath.clone(),
                national,
            }));
        }
        if broken {
            return None;
        }
        let mut checked = checked.into_iter();
        let mut next = || checked.next().flatten();
        Some(Envelope {
            from: next()?,
            to: next()?,
            case_id: next(),
            reference: next(),
            answers: next(),
            updates: next(),
            document_id: next(),
        })
    }

    fn problem(&mut self, p: String) {
        self.problems.push(p);
    }

    fn xpath(&mut self, what: &str, xpath: &str) -> bool {
        if xpath.trim().is_empty() {
            self.problem(format!("{what}: empty XPath"));
            return false;
        }
        if let Err(e) = Expression::compile(xpath) {
            let why = e.message.as_deref().map(str::trim).unwrap_or("invalid");
            self.problem(format!("{what}: XPath {xpath:?} does not compile: {why}"));
            return false;
        }
        let undeclared: Vec<&str> = prefixes(xpath)
            .into_iter()
            .filter(|p| !self.namespaces.contains(*p))
            .collect();
        if !undeclared.is_empty() {
            self.problem(format!(
                "{what}: XPath {xpath:?} uses undeclared namespace prefix(es) {}",
                undeclared.join(", ")
            ));
            return false;
        }
        let root: Option<RoNode> = self.trial.get_root_readonly();
        if let Some(root) = root
            && let Err(e) = self.context.node_evaluate_readonly_checked(xpath, root)
        {
            let why = e.message.as_deref().map(str::trim).unwrap_or("fails");
            self.problem(format!(
                "{what}: XPath {xpath:?} cannot be evaluated: {why}"
            ));
            return false;
        }
        true
    }

    fn path(&mut self, what: &str, to: &str) -> Vec<String> {
        let path: Vec<String> = to.split('/').map(str::to_owned).collect();
        if path.iter().any(|s| !is_name(s)) {
            self.problem(format!(
                "{what}: `to` {to:?} is not a slash path of SED element names"
            ));
        }
        path
    }

    fn entry(&mut self, raw: &RawEntry, what: &str, context: Option<&str>) -> Option<Entry> {
        let what = format!("{what} (to {:?})", raw.to);
        let path = self.path(&what, &raw.to);
        let required = raw.required.unwrap_or(true);
        let one_way = match raw.one_way.as_deref().map(str::trim) {
            None => false,
            Some("") => {
                self.problem(format!("{what}: `one_way` needs the reason"));
                true
            }
            Some(_) => true,
        };
        let sources = [&raw.from, &raw.value, &raw.each]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources != 1 {
            self.problem(format!(
                "{what}: needs exactly one of `from`, `value`, `each`"
            ));
            return None;
        }
        if let Some(each) = &raw.each {
            if raw.codes.is_some() || raw.transform.is_some() || !raw.attributes.is_empty() {
                self.problem(format!(
                    "{what}: `codes`, `transform` and `attributes` belong on its fields, not on `each`"
                ));
            }
            let ok = self.xpath(&what, each);
            let national = if ok {
                self.national_path(&what, each, context)
            } else {
                None
            };
            let inner = national.as_ref().and_then(|(_, t)| t.clone());
            let fields = raw.fields.as_deref().unwrap_or_default();
            if fields.is_empty() {
                self.problem(format!("{what}: `each` needs at least one [[map.fields]]"));
            }
            let fields: Vec<Entry> = fields
                .iter()
                .enumerate()
                .filter_map(|(i, f)| {
                    self.entry(f, &format!("{what}.fields[{}]", i + 1), inner.as_deref())
                })
                .collect();
            return national.map(|(national, _)| {
                Entry::Each(Each {
                    path,
                    each: each.clone(),
                    required,
                    fields,
                    national,
                    one_way,
                })
            });
        }
        if raw.fields.is_some() {
            self.problem(format!("{what}: [[map.fields]] only go with `each`"));
        }
        // Check every facet even when one fails, so that one load lists all.
        let mut national = Vec::new();
        let source = match (&raw.from, &raw.value) {
            (Some(x), _) if self.xpath(&what, x) => {
                let leaf = self.national_path(&what, x, context);
                if let Some((_, Some(t))) = &leaf
                    && self.model.as_ref().is_some_and(|m| m.is_complex(t))
                {
                    self.problem(format!(
                        "{what}: XPath {x:?} names a national element with children, not a value"
                    ));
                }
                leaf.map(|(steps, _)| {
                    national = steps;
                    Source::XPath(x.clone())
                })
            }
            (Some(_), _) => None,
            (None, Some(v)) if v.trim().is_empty() => {
                self.problem(format!("{what}: `value` is empty"));
                None
            }
            (None, Some(v)) => Some(Source::Value(v.clone())),
            (None, None) => None,
        };
        if let Some(table) = &raw.codes
            && !self.codes.contains(table)
        {
            self.problem(format!("{what}: unknown code table {table:?}"));
        }
        let transform = match raw.transform.as_deref() {
            None => None,
            Some("upper") => Some(Transform::Upper),
            Some("date") => Some(Transform::Date),
            Some(other) => {
                self.problem(format!(
                    "{what}: unknown transform {other:?} (known: upper, date)"
                ));
                None
            }
        };
        for name in raw.attributes.keys() {
            if !is_name(name) {
                self.problem(format!("{what}: attribute name {name:?} is invalid"));
            }
        }
        Some(Entry::Leaf(Leaf {
            path,
            source: source?,
            codes: raw.codes.clone(),
            required,
            transform,
            attributes: raw
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            national,
            one_way,
        }))
    }
}

/// Whether some constant field sits at the same SED path in both groups with
/// different values (`Type = "residence"` against `Type = "stay"`).
fn differ_in_a_constant(a: &Each, b: &Each) -> bool {
    let constants = |g: &Each| -> Vec<(Vec<String>, String)> {
        g.fields
            .iter()
            .filter_map(|f| match f {
                Entry::Leaf(Leaf {
                    path,
                    source: Source::Value(v),
                    ..
                }) => Some((path.clone(), v.clone())),
                _ => None,
            })
            .collect()
    };
    let b_constants = constants(b);
    constants(a)
        .iter()
        .any(|(p, v)| b_constants.iter().any(|(q, w)| p == q && v != w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_skip_axes_literals_and_variables() {
        let p = prefixes("concat(p:Street, ' x:y ', child::q:N, $v:w, ancestor::*)");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["p", "q"]);
        assert!(prefixes("normalize-space(.)").is_empty());
    }
}
