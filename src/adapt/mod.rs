//! National-message adapters: the declarative mapping engine that turns a
//! Belgian institution's own XML message into the body of a SED, and a received
//! SED back into that message. Each adapter is data, not code
//! (`adapters/<name>/adapter.toml` beside its national XSD, a README and golden
//! files in both directions), so a new national format needs a definition
//! file, a schema and golden files, not a release.
//!
//! # The API, both ways
//!
//! - `Adapter::translate(national, limits, version) -> Translated`: a national
//!   submission as a SED body plus its routing and reply facts (`from`, `to`,
//!   `case_id`, and where the format has them `reference`, `answers`,
//!   `updates`), which `switch::outbound::Submission::national` turns into a
//!   submission.
//! - `Adapter::to_national(sed, &Header { from, to, case_id }, limits) -> String`:
//!   a received SED (the bytes of the SED element's document, after the inbound
//!   checks) as the adapter's national message, valid against its national XSD.
//!   The header is the received envelope's: it fills the national sender,
//!   receiver and case id fields, which no SED body carries;
//!   `received_to_national` (and `to_national_of`) also fill the received
//!   document's id, what it answers and whether it updates one
//!   (`ReceivedDocument`). Issues are located
//!   at SED paths (`Child[2]/PersonIdentification/Sex`);
//!   `NationalOutputInvalid` means the SED holds a value the national type is
//!   narrower for. `Adapters::for_sed` lists the adapters of a SED type.
//!
//! # The definition format
//!
//! ```toml
//! name = "onss-posting"              # must equal the directory name
//! title = "ONSS posting notification to SED A009"
//! national_schema = "national.xsd"   # next to adapter.toml
//! buc = "LA_BUC_04"
//! sed = "A009"                       # also the SED root element name
//!
//! [namespaces]                       # prefixes usable in every XPath
//! p = "urn:be:onss:limosa:posting:1"
//!
//! [envelope]                         # XPaths from the national root element
//! from = "p:Sender"
//! to = "p:Receiver"
//! case_id = "p:CaseId"               # optional; absent value = new case
//! reference = "p:Reference"          # optional: the institution's own reference
//! answers = "p:AnswersDocumentId"    # optional: the received document answered
//! updates = "p:UpdatesDocumentId"    # optional: a sent document, new version
//! document_id = "p:DocumentId"       # optional: written on received messages only
//!
//! [codes.gender]                     # national value -> SED value
//! "1" = "male"
//!
//! [reverse_codes.gender]             # only for a table that is not injective
//! "male" = "1"
//!
//! [[map]]                            # entries run in order, SED schema order
//! to = "InsuredPerson/PersonIdentification/Sex"
//! from = "p:Worker/p:Gender"         # a plain national path, or `value = "constant"`
//! codes = "gender"                   # optional
//! required = true                    # default; a missing value is an issue
//! transform = "date"                 # optional: "date" or "upper"
//! attributes = { type = "registration" }  # optional constant attributes
//!
//! [[map]]                            # one element per matched node
//! to = "WorkPlaceInHostState"
//! each = "p:HostWorkplaces/p:Workplace"
//! required = true                    # default; no match at all is an issue
//! # one_way = "why"                  # optional: no reverse for this entry
//! [[map.fields]]                     # same shape, relative to each match
//! to = "Name"
//! from = "p:Name"
//! ```
//!
//! # The reverse, derived from the same entries
//!
//! Every adapter works both ways, so load refuses a definition whose reverse
//! cannot be built, listing every reason:
//!
//! - every `from`, `each` and envelope XPath is `.` or a plain path of child
//!   elements in the national namespace (`p:Worker/p:Gender`), each step
//!   declared there in the national schema (read as a content model:
//!   `model.rs`), a leaf naming an element without children; no two envelope
//!   fields name one element;
//! - a code table must be injective, or declare its reverse
//!   (`[reverse_codes.gender]`, SED value -> national value, each choice one
//!   the forward table maps back);
//! - the transforms have inverses (`date`, `upper`: the identity, see
//!   `definition::Transform::inverse`);
//! - two `each` groups on one SED path must differ in a constant field (the
//!   reverse gives each SED element to the first group it does not
//!   contradict), or one of them says `one_way = "<reason>"` and is skipped.
//!
//! In reverse a constant writes nothing; in an `each` group it filters (a BE
//! PIN group skips the NL PIN), and a leaf's constant `attributes` select the
//! SED elements it reads (`currency = "EUR"`). Of a repeated SED element a
//! single-valued national field takes the first. The national message is
//! written in its schema's element order, not in the entries' SED order.
//!
//! `to` paths are relative to the current SED element (the root, or the element
//! of an `each` match). Consecutive entries sharing a path prefix share its open
//! elements; an element is opened only when a leaf under it gets a value, so an
//! optional group with no values produces nothing. A value is the text of the
//! one element its path selects, trimmed; more than one element is an issue. The
//! paths are written as XPaths but, being plain child paths, are walked over the
//! parsed document rather than evaluated by libxml2's XPath engine. Then the
//! transform applies, then the code table.
//!
//! # Threads
//!
//! `Adapters` holds no libxml2 object and can be shared; `translate` and
//! `to_national` build their documents and (thread-cached) schema on the
//! calling thread, which should be a blocking worker outside any
//! store transaction.

mod definition;
mod map;
mod model;
mod reverse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ids::{BucType, CaseId, DocumentId, InstitutionId, SedType, SedVersion};
use crate::sed::validate::{ValidateError, Violation, validate_document};
use crate::sed::xml::{XmlError, XmlLimits};

/// What went wrong turning a national message into a SED.
#[derive(Debug, thiserror::Error)]
pub enum AdaptError {
    /// Refused before or while parsing: size, DOCTYPE, depth, not well-formed.
    #[error("national message refused: {0}")]
    Xml(#[from] XmlError),
    /// Well-formed but not valid against the adapter's national XSD.
    #[error("national message breaks its schema: {}", join(.0))]
    NationalInvalid(Vec<Violation>),
    /// The reverse direction built a national message its own XSD refuses
    /// (a SED value the national type is narrower for).
    #[error("the national message built from the SED breaks its schema: {}", join(.0))]
    NationalOutputInvalid(Vec<Violation>),
    /// Valid, but the mapping could not produce every value it needs.
    #[error("national message cannot be mapped: {}", join(.0))]
    Mapping(Vec<MappingIssue>),
    /// A broken adapter definition: `path` is the `adapter.toml` (or the
    /// adapters directory when several are broken; then each problem names
    /// its file).
    #[error("adapter definition {} is broken: {}", path.display(), problems.join("; "))]
    Definition {
        path: PathBuf,
        problems: Vec<String>,
    },
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

/// One value the mapping could not produce; shaped like a Belgif input issue
/// (`in`, `name`, `value`) so the API can hand it back as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingIssue {
    /// Forward: the national XPath (prefixed by the `each` matches that led
    /// there) or, for constants, the SED path concerned. Reverse: the SED path
    /// (`Employer[2]/Address/Town`).
    pub field: String,
    pub message: String,
    /// The offending national value, when there is one.
    pub value: Option<String>,
}

impl std::fmt::Display for MappingIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(v) = &self.value {
            // Cap what we echo: the text may travel into logs and replies.
            let v: String = v.chars().take(64).collect();
            write!(f, " (value {v:?})")?;
        }
        Ok(())
    }
}

/// The longest reference a national message may carry (`[envelope] reference`):
/// the bound of an `Idempotency-Key`, since the switch keeps and compares it as one.
pub const REFERENCE_LEN_MAX: usize = 255;

/// A translated national message: the routing facts and the SED body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub from: InstitutionId,
    pub to: InstitutionId,
    /// The international case the message belongs to; `None` opens a new one.
    pub case_id: Option<CaseId>,
    /// The institution's own reference of this message: a retry with the same
    /// reference and message gets the first answer, never a second SED.
    pub reference: Option<String>,
    /// The received document this message answers (the SED's related document).
    pub answers: Option<DocumentId>,
    /// A document the institution sent, of which this message is a new version.
    pub updates: Option<DocumentId>,
    pub buc: BucType,
    pub sed: SedType,
    /// The SED element as XML text, no XML declaration, root
    /// `<sed:A009 xmlns:sed="<version namespace>" sedGVer=".." sedVer="..">`.
    pub sed_xml: String,
}

/// What the envelope of a received SED says and its body does not: the
/// reverse writes these into the national format's sender, receiver and case
/// id fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub from: InstitutionId,
    pub to: InstitutionId,
    pub case_id: CaseId,
}

impl Header {
    /// The header of a received envelope.
    pub fn of(env: &crate::sed::envelope::Header) -> Header {
        Header {
            from: env.sender.clone(),
            to: env.receiver.clone(),
            case_id: env.case_id.clone(),
        }
    }
}

/// What a received envelope says about the document itself. The reverse writes
/// it into the fields the format declares: `document_id` (the id a reply names
/// in `answers`), `answers` (the document the received one answers) and
/// `updates` (the document id again, when the received one is a new version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedDocument {
    pub id: DocumentId,
    pub version: u32,
    pub related: Option<DocumentId>,
}

impl ReceivedDocument {
    pub fn of(env: &crate::sed::envelope::Header) -> ReceivedDocument {
        ReceivedDocument {
            id: env.document_id.clone(),
            version: env.document_version,
            related: env.related.clone(),
        }
    }
}

/// One loaded and checked adapter.
#[derive(Debug, Clone)]
pub struct Adapter {
    pub name: String,
    pub title: String,
    pub buc: BucType,
    pub sed: SedType,
    /// The national XSD; compiled at load, then cached per thread by `validate`.
    schema: PathBuf,
    plan: definition::Plan,
}

impl Adapter {
    /// Hardened parse (crate::sed::xml::parse), validate against the adapter's
    /// national XSD (every violation, with line and element), then map to the
    /// SED body. Blocking; libxml objects stay on the calling thread.
    pub fn translate(
        &self,
        national: &[u8],
        limits: &XmlLimits,
        version: &SedVersion,
    ) -> Result<Translated, AdaptError> {
        let doc = crate::sed::xml::parse(national, limits)?;
        self.validate_national(&doc, AdaptError::NationalInvalid)?;
        map::run(
            &self.plan,
            &doc,
            map::Target {
                buc: &self.buc,
                sed: &self.sed,
                version,
            },
        )
        .map_err(AdaptError::Mapping)
    }

    /// The reverse: the received SED `sed` (the SED element's document, as
    /// checked inbound) as this adapter's national message, validated against
    /// the national XSD. Blocking, like `translate`.
    pub fn to_national(
        &self,
        sed: &[u8],
        header: &Header,
        limits: &XmlLimits,
    ) -> Result<String, AdaptError> {
        self.to_national_of(sed, header, None, limits)
    }

    /// `to_national` with what the envelope says about the document, written
    /// into the format's `document_id`, `answers` and `updates` fields.
    pub fn to_national_of(
        &self,
        sed: &[u8],
        header: &Header,
        document: Option<&ReceivedDocument>,
        limits: &XmlLimits,
    ) -> Result<String, AdaptError> {
        let doc = crate::sed::xml::parse(sed, limits)?;
        self.national_of(doc.get_root_readonly(), header, document, limits)
    }

    /// The national form of a received SED (its element already parsed and
    /// checked) with everything its envelope says: sender, receiver, case id,
    /// and the document's id, what it answers and whether it updates one.
    pub fn received_to_national(
        &self,
        sed: Option<libxml::readonly::RoNode>,
        env: &crate::sed::envelope::Header,
        limits: &XmlLimits,
    ) -> Result<String, AdaptError> {
        self.national_of(
            sed,
            &Header::of(env),
            Some(&ReceivedDocument::of(env)),
            limits,
        )
    }

    fn national_of(
        &self,
        sed: Option<libxml::readonly::RoNode>,
        header: &Header,
        document: Option<&ReceivedDocument>,
        limits: &XmlLimits,
    ) -> Result<String, AdaptError> {
        let national = reverse::run(&self.plan, sed, &self.sed, header, document)
            .map_err(AdaptError::Mapping)?;
        let built = crate::sed::xml::parse(national.as_bytes(), limits)?;
        self.validate_national(&built, AdaptError::NationalOutputInvalid)?;
        Ok(national)
    }

    /// Where in the national message the SED element this adapter built came
    /// from: the element of `sed_xml` (the SED `translate` made) named `element`
    /// on `line`, traced back through the mapping entries to its national path
    /// (`/PostingNotification/Worker/LastName`, without positions). None for an
    /// element no entry writes (a constant, a structure).
    pub fn national_path_of(&self, sed_xml: &str, line: u32, element: &str) -> Option<String> {
        let doc = crate::sed::xml::parse(sed_xml.as_bytes(), &XmlLimits::default()).ok()?;
        let sed_path: Vec<String> = path_at(&doc, line, element)?
            .into_iter()
            .skip(1)
            .map(|(n, _)| n)
            .collect();
        fn find(entries: &[definition::Entry], sed: &[String]) -> Option<Vec<String>> {
            for e in entries {
                match e {
                    // A constant comes from no national field.
                    definition::Entry::Leaf(l) if l.path == sed => {
                        return matches!(l.source, definition::Source::XPath(_))
                            .then(|| l.national.clone());
                    }
                    definition::Entry::Each(each) if sed.starts_with(&each.path) => {
                        let rest = &sed[each.path.len()..];
                        if let Some(inner) = find(&each.fields, rest) {
                            return Some(each.national.iter().cloned().chain(inner).collect());
                        }
                    }
                    _ => {}
                }
            }
            None
        }
        let national = find(&self.plan.entries, &sed_path)?;
        Some(format!(
            "/{}/{}",
            self.plan.model.root.name,
            national.join("/")
        ))
    }

    /// Validate against the national XSD; `invalid` says which side broke it.
    fn validate_national(
        &self,
        doc: &libxml::tree::Document,
        invalid: fn(Vec<Violation>) -> AdaptError,
    ) -> Result<(), AdaptError> {
        match validate_document(&self.schema, doc) {
            Ok(()) => Ok(()),
            Err(ValidateError::Invalid(violations)) => Err(invalid(
                violations.into_iter().map(|v| located(doc, v)).collect(),
            )),
            // The schema compiled at load; losing it since is a definition fault.
            Err(e) => Err(AdaptError::Definition {
                path: self.schema.clone(),
                problems: vec![e.to_string()],
            }),
        }
    }
}

/// A violation named by the national path of its element (`/Posting/Person[2]/Ssin`,
/// positions only where siblings share a name) instead of the element's bare
/// name. Left as it is when no element matches.
fn located(doc: &libxml::tree::Document, mut v: Violation) -> Violation {
    if let (Some(line), Some(name)) = (v.line, v.element.as_deref())
        && let Some(steps) = path_at(doc, line, name)
    {
        v.element = Some(
            steps
                .iter()
                .map(|(n, pos)| match pos {
                    Some(p) => format!("/{n}[{p}]"),
                    None => format!("/{n}"),
                })
                .collect(),
        );
    }
    v
}

/// The element of `doc` named `name` that starts on `line` (libxml2 reports a
/// violation by a line and an element name), as the names from the root down,
/// each with its position among same-named siblings when there are several.
fn path_at(
    doc: &libxml::tree::Document,
    line: u32,
    name: &str,
) -> Option<Vec<(String, Option<usize>)>> {
    // SAFETY: `node` is an element node of `doc`, alive for this call;
    // xmlGetLineNo only reads it. The crate has no safe accessor for it.
    let line_of = |node: libxml::readonly::RoNode| unsafe {
        libxml::bindings::xmlGetLineNo(node.node_ptr() as _)
    };
    let at = |node: libxml::readonly::RoNode| {
        node.get_name() == name && line_of(node) == line as std::os::raw::c_long
    };
    fn walk(
        node: libxml::readonly::RoNode,
        at: &dyn Fn(libxml::readonly::RoNode) -> bool,
        path: &mut Vec<(String, Option<usize>)>,
    ) -> bool {
        let children = crate::sed::xml::elements(node);
        for (i, c) in children.iter().enumerate() {
            let cname = c.get_name();
            let same = children.iter().filter(|o| o.get_name() == cname).count();
            let pos = (same > 1).then(|| {
                children[..i]
                    .iter()
                    .filter(|o| o.get_name() == cname)
                    .count()
                    + 1
            });
            path.push((cname, pos));
            if at(*c) || walk(*c, at, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let root = doc.get_root_readonly()?;
    let mut path = vec![(root.get_name(), None)];
    (at(root) || walk(root, &at, &mut path)).then_some(path)
}

/// Every adapter of a deployment, by name.
#[derive(Debug, Clone, Default)]
pub struct Adapters {
    by_name: BTreeMap<String, Adapter>,
}

impl Adapters {
    /// Load every `adapters/<name>/adapter.toml` under `dir`; check each (national schema file exists and compiles, XPaths compile, code tables referenced exist, BUC/SED ids parse). Returns every problem found.
    ///
    /// A subdirectory without `adapter.toml` is not an adapter and is skipped.
    pub fn load(dir: &Path) -> Result<Adapters, AdaptError> {
        let unreadable = |e: std::io::Error| AdaptError::Definition {
            path: dir.to_owned(),
            problems: vec![format!("cannot read the adapters directory: {e}")],
        };
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(unreadable)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("adapter.toml").is_file())
            .collect();
        dirs.sort();

        let mut by_name = BTreeMap::new();
        let mut broken: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for adapter_dir in dirs {
            let file = adapter_dir.join("adapter.toml");
            let dir_name = adapter_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match definition::check_file(&file, &dir_name) {
                Ok(c) => {
                    by_name.insert(
                        c.name.clone(),
                        Adapter {
                            name: c.name,
                            title: c.title,
                            buc: c.buc,
                            sed: c.sed,
                            schema: c.schema,
                            plan: c.plan,
                        },
                    );
                }
                Err(problems) => broken.push((file, problems)),
            }
        }
        match broken.len() {
            0 => Ok(Adapters { by_name }),
            1 => {
                let (path, problems) = broken.remove(0);
                Err(AdaptError::Definition { path, problems })
            }
            _ => Err(AdaptError::Definition {
                path: dir.to_owned(),
                problems: broken
                    .into_iter()
                    .flat_map(|(path, problems)| {
                        problems
                            .into_iter()
                            .map(move |p| format!("{}: {p}", path.display()))
                    })
                    .collect(),
            }),
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }

    pub fn get(&self, name: &str) -> Option<&Adapter> {
        self.by_name.get(name)
    }

    /// The adapters whose SED is `sed`: the candidates for delivering a
    /// received SED of that type in a national format.
    pub fn for_sed<'a>(&'a self, sed: &'a SedType) -> impl Iterator<Item = &'a Adapter> + 'a {
        self.by_name.values().filter(move |a| a.sed == *sed)
    }
}
