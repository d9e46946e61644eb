//! The declarative BUC definition format and its loader/checker.
//!
//! One TOML file per BUC in `buc-definitions/`, one per shared subprocess in
//! `buc-definitions/subprocesses/`, and `buc-definitions/seds.toml`, the catalogue of
//! SED types. A BUC lists its states and transitions (which role may send which SED
//! in which state, the state it leads to, which SED it answers) and names the
//! subprocesses it allows; a subprocess is defined once and its transitions are
//! merged into every BUC that includes it. `check` reports every problem found, not
//! only the first, so `eessi-switch buc check` can print them all.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ids::{BucType, Role, SedType, SedVersion};

/// The built-in state every BUC has: the case is closed for everyone.
pub const CLOSED: &str = "closed";

#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the BUC definitions have {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<CheckProblem>),
}

/// One problem found by `Catalogue::check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckProblem {
    /// The BUC, subprocess or file concerned.
    pub subject: String,
    pub message: String,
}

impl std::fmt::Display for CheckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

/// Who may send a SED in a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Party {
    CaseOwner,
    Counterparty,
    /// Either role (administrative subprocesses such as X001).
    Any,
}

impl Party {
    pub fn allows(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Party::Any, _)
                | (Party::CaseOwner, Role::CaseOwner)
                | (Party::Counterparty, Role::Counterparty)
        )
    }
}

/// Where a transition leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A state of the BUC.
    State(String),
    /// The case stays where it is (`to = "."`), e.g. a reminder.
    Stay,
    /// Back to the state the case was in before it was closed (`to = "@previous"`, X004).
    Previous,
}

/// What a SED does to the case besides moving its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Closes the case for every participant (X001).
    Close,
    /// Reopens a closed case (X004).
    Reopen,
    /// Adds the institution named at `subject` as a counterparty (X005).
    AddParticipant,
    /// Removes the institution named at `subject` (X006).
    RemoveParticipant,
    /// Forwards the case to the institution named at `subject` (X007).
    Forward,
    /// Cancels the document named in RelatedDocument (X008): it can no longer be answered.
    Invalidate,
    /// Answers another SED without changing the case (X003, X010, X013).
    Reply,
}

impl Effect {
    pub fn needs_subject(self) -> bool {
        matches!(
            self,
            Effect::AddParticipant | Effect::RemoveParticipant | Effect::Forward
        )
    }
}

/// An auto-close rule (NAV's closure criteria, as data).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoClose {
    pub after_days: u32,
    /// The clock starts at the latest document of one of these types.
    pub since: Vec<SedType>,
    /// The clock stops while the latest document of `since` and these types is one of
    /// these (a disagreement that leads to further exchanges, not to an end).
    #[serde(default)]
    pub paused_by: Vec<SedType>,
    /// `global` (X001 to all) or `local` (only our side).
    pub scope: CloseScope,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CloseScope {
    Global,
    Local,
}

/// What happens when the reply a transition awaits (`reply_within_days`) is overdue,
/// for a request a Belgian institution sent (`on_overdue` on the transition; the
/// durable timers of `switch::timers` act on it).
///
/// The reference has no such parameter: in RINA a reminder (X009, AD_BUC_07) is a
/// document the case handler creates, of their own request, to its receiver, in a
/// BUC that carries it ([RINA-TS §6.2.2], the engine's X009 rights in
/// `buc::machine::admin_rights`). So the default is `offer`: the switch tells the
/// handler that a reminder is due and sends nothing by itself, as the reference
/// would. `remind` sends the X009 by itself when the deadline passes (a national
/// choice per BUC, needing X009 in the BUC: `buc check`); `none` does neither.
/// UNCERTAIN: no public source says whether any institution's engine reminds by
/// itself.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OnOverdue {
    /// Send an X009 naming the overdue request, from its sender to its receiver.
    Remind,
    /// Mark the case as having a reminder to offer; send nothing.
    #[default]
    Offer,
    /// Nothing acts; the deadline is only shown.
    None,
}

/// Where a reply goes ([RINA-TS §5.1]: `isML=false` without participant selection
/// on a reply means "to the sender of the request only").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTo {
    /// Only to the sender of the SED it answers.
    Sender,
    /// To any participant of the case.
    All,
}

/// The reference's document parameters for one SED type in one BUC
/// ([RINA-TS §3.1.3.1, §5]), as a BUC file's `[documents.<SED>]` table sets them.
/// Unset keys take `DocParams::default()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DocParams {
    /// `isStarter`: the SED may open the case ([RINA-TS §5.2]).
    pub starter: bool,
    /// `hasCancel`: its sender may invalidate it with X008 ([RINA-TS §5.5]).
    pub cancel: bool,
    /// `hasMultipleVersions`: its sender may send it again as a new version.
    pub versions: bool,
    /// `hasReject`: its receiver may reject it with X011.
    pub reject: bool,
    /// `hasClarify`: its receiver may ask for clarification with X012 (answered by X013).
    pub clarify: bool,
    /// `allowsAttachments` ([RINA-TS §5.4]).
    pub attachments: bool,
    /// `isBulk`: a master document carrying child documents ([RINA-TS §5.3]): sent
    /// with at least one sub-document (the elements at its catalogue `children`
    /// path), unless `without_bulk`.
    pub bulk: bool,
    /// `canBeSentWithoutBulk`: a bulk document that may carry no sub-document
    /// ([RINA-TS §5.10]: U027 in UB_BUC_04). Only with `bulk`.
    pub without_bulk: bool,
    /// Where a reply of this type may go (only for SEDs that answer another).
    pub reply_to: ReplyTo,
}

impl Default for DocParams {
    /// UNCERTAIN: the reference's per-SED values are in RINA's BUC XML files, which
    /// are not public. The defaults follow the "real definition" the reference quotes
    /// ([RINA-TS §3.1.3.1.2]: a starter with hasClarify, hasMultipleVersions and
    /// hasCancel, without hasReject), its attachments rule (§5.4: every SED allows
    /// attachments except a listed few, which the BUC files set to false) and the
    /// reply-to-sender schema of §5.1.4, the usual one for replies. A BUC file sets
    /// what differs.
    fn default() -> Self {
        DocParams {
            starter: false,
            cancel: true,
            versions: true,
            reject: false,
            clarify: true,
            attachments: true,
            bulk: false,
            without_bulk: false,
            reply_to: ReplyTo::Sender,
        }
    }
}

/// The administrative SEDs (X001–X013, X050, X100): their rights are the engine's
/// ([RINA-TS §6.2.2]), not document parameters; they are never cancelled, updated,
/// rejected or clarified themselves.
pub fn is_administrative(sed: &SedType) -> bool {
    sed.as_str().starts_with('X')
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDef {
    #[serde(default)]
    pub description: String,
    /// The business conversation is over here; only subprocesses (closure) remain.
    #[serde(default, rename = "final")]
    pub is_final: bool,
}

/// A resolved transition: from a BUC file or merged from a subprocess.
#[derive(Debug, Clone)]
pub struct Transition {
    /// `None` means any open state (subprocesses use `from = ["*"]`).
    pub from: Option<Vec<String>>,
    pub sed: SedType,
    pub by: Party,
    pub to: Target,
    /// The SED types this one may answer (its RelatedDocument's type).
    pub answers: Vec<SedType>,
    /// The subprocess it came from, if any.
    pub origin: Option<String>,
    /// Days the counterpart has to answer this SED, when an answer is awaited.
    pub reply_within_days: Option<u32>,
    /// What happens when that answer is overdue (only with `reply_within_days`).
    pub on_overdue: OnOverdue,
    pub effect: Option<Effect>,
    /// For participant effects: the element path (from the SED root) holding the institution id.
    pub subject: Option<String>,
}

impl Transition {
    pub fn applies_in(&self, state: &str) -> bool {
        match &self.from {
            None => state != CLOSED,
            Some(states) => states.iter().any(|s| s == state),
        }
    }
}

#[derive(Debug, Clone)]
pub struct BucDef {
    pub id: BucType,
    pub sector: String,
    pub title: String,
    /// Bilateral BUCs refuse a second counterparty (`isML=false`, [RINA-TS §4.1]).
    pub bilateral: bool,
    /// A counterparty may remove only itself with X006 (`removeMeOnly`, [RINA-TS §4.2]).
    pub remove_me_only: bool,
    /// Document parameters per business SED type of the BUC (defaults filled in).
    pub documents: BTreeMap<SedType, DocParams>,
    pub initial: String,
    pub states: BTreeMap<String, StateDef>,
    pub transitions: Vec<Transition>,
    pub subprocesses: Vec<String>,
    pub auto_close: Vec<AutoClose>,
    pub file: PathBuf,
}

impl BucDef {
    /// Every SED type this BUC can carry, its subprocesses included.
    pub fn sed_types(&self) -> BTreeSet<&SedType> {
        self.transitions.iter().map(|t| &t.sed).collect()
    }
    /// The document parameters of `sed` in this BUC (an administrative SED has
    /// none: `None`).
    pub fn params(&self, sed: &SedType) -> Option<DocParams> {
        if is_administrative(sed) {
            return None;
        }
        Some(self.documents.get(sed).copied().unwrap_or_default())
    }
    /// Every business SED type of the BUC with its parameters (defaults filled in).
    pub fn business_params(&self) -> impl Iterator<Item = (&SedType, DocParams)> {
        self.sed_types()
            .into_iter()
            .filter_map(|s| self.params(s).map(|p| (s, p)))
    }
    /// Whether some SED of this BUC answers `sed` (a request awaits a reply).
    pub fn is_answered(&self, sed: &SedType) -> bool {
        self.transitions.iter().any(|t| t.answers.contains(sed))
    }
    /// The SEDs that may open a case.
    pub fn starters(&self) -> impl Iterator<Item = &Transition> {
        self.transitions.iter().filter(|t| {
            t.origin.is_none() && t.applies_in(&self.initial) && t.by.allows(Role::CaseOwner)
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SedInfo {
    pub title: String,
    #[serde(default)]
    pub sector: String,
    /// A bulk (master) SED's sub-documents: the path of the repeated element,
    /// local names from the SED root ([RINA-TS §5.3]). Set exactly for the SED
    /// types some BUC declares `bulk`.
    #[serde(default)]
    pub children: Option<String>,
}

/// All definitions, loaded and checked.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub bucs: BTreeMap<BucType, BucDef>,
    pub seds: BTreeMap<SedType, SedInfo>,
    pub subprocess_titles: BTreeMap<String, String>,
}

// ---- raw file formats ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuc {
    buc: String,
    sector: String,
    title: String,
    /// `isML` ([RINA-TS §4.1]); no default: every BUC says which it is.
    multilateral: bool,
    #[serde(default)]
    remove_me_only: bool,
    initial: String,
    #[serde(default)]
    subprocesses: Vec<String>,
    states: BTreeMap<String, StateDef>,
    #[serde(default)]
    transitions: Vec<RawTransition>,
    #[serde(default)]
    auto_close: Vec<AutoClose>,
    /// Document parameters of the BUC's SED types, by type.
    #[serde(default)]
    documents: BTreeMap<String, DocParams>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubprocess {
    subprocess: String,
    title: String,
    #[serde(default)]
    transitions: Vec<RawTransition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    from: Vec<String>,
    sed: String,
    by: Party,
    to: String,
    #[serde(default)]
    answers: Vec<String>,
    #[serde(default)]
    reply_within_days: Option<u32>,
    #[serde(default)]
    on_overdue: Option<OnOverdue>,
    #[serde(default)]
    effect: Option<Effect>,
    #[serde(default)]
    subject: Option<String>,
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DefinitionError> {
    let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| DefinitionError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, DefinitionError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DefinitionError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

impl Catalogue {
    /// Load every definition under `dir` without judging it; `check` judges.
    /// Structural problems that prevent building the model (bad SED type names,
    /// unknown subprocess) are collected as problems too.
    pub fn load_unchecked(dir: &Path) -> Result<(Catalogue, Vec<CheckProblem>), DefinitionError> {
        let mut problems = Vec::new();
        let seds_raw: BTreeMap<String, SedInfo> = read_toml(&dir.join("seds.toml"))?;
        let mut seds = BTreeMap::new();
        for (name, info) in seds_raw {
            match SedType::parse(&name) {
                Ok(t) => {
                    seds.insert(t, info);
                }
                Err(e) => problems.push(CheckProblem {
                    subject: "seds.toml".into(),
                    message: e.to_string(),
                }),
            }
        }

        let mut subs: BTreeMap<String, (RawSubprocess, PathBuf)> = BTreeMap::new();
        let sub_dir = dir.join("subprocesses");
        if sub_dir.is_dir() {
            for path in toml_files(&sub_dir)? {
                let raw: RawSubprocess = read_toml(&path)?;
                if subs.contains_key(&raw.subprocess) {
                    problems.push(CheckProblem {
                        subject: raw.subprocess.clone(),
                        message: format!("defined twice (again in {})", path.display()),
                    });
                }
                subs.insert(raw.subprocess.clone(), (raw, path));
            }
        }
        let subprocess_titles = subs
            .iter()
            .map(|(k, (r, _))| (k.clone(), r.title.clone()))
            .collect();

        let mut bucs = BTreeMap::new();
        for path in toml_files(dir)? {
            if path.file_name().is_some_and(|n| n == "seds.toml") {
                continue;
            }
            let raw: RawBuc = read_toml(&path)?;
            let subject = raw.buc.clone();
            let id = match BucType::parse(&raw.buc) {
                Ok(id) => id,
                Err(e) => {
                    problems.push(CheckProblem {
                        subject,
                        message: e.to_string(),
                    });
                    continue;
                }
            };
            if path.file_stem().and_then(|s| s.to_str()) != Some(id.as_str()) {
                problems.push(CheckProblem {
                    subject: subject.clone(),
                    message: format!("file {} should be named {}.toml", path.display(), id),
                });
            }
            let mut transitions = Vec::new();
            for t in &raw.transitions {
                if let Some(t) = resolve_transition(t, None, &subject, &mut problems) {
                    transitions.push(t);
                }
            }
            for sub in &raw.subprocesses {
                match subs.get(sub) {
                    Some((sp, _)) => {
                        for t in &sp.transitions {
                            if let Some(t) =
                                resolve_transition(t, Some(sub), &subject, &mut problems)
                            {
                                transitions.push(t);
                            }
                        }
                    }
                    None => problems.push(CheckProblem {
                        subject: subject.clone(),
                        message: format!("unknown subprocess {sub}"),
                    }),
                }
            }
            let mut states = raw.states;
            states.entry(CLOSED.to_owned()).or_insert(StateDef {
                description: "closed for every participant".into(),
                is_final: true,
            });
            if bucs.contains_key(&id) {
                problems.push(CheckProblem {
                    subject: subject.clone(),
                    message: "defined twice".into(),
                });
            }
            let mut documents = BTreeMap::new();
            for (name, params) in &raw.documents {
                match SedType::parse(name) {
                    Ok(t) => {
                        documents.insert(t, *params);
                    }
                    Err(e) => problems.push(CheckProblem {
                        subject: subject.clone(),
                        message: format!("[documents.{name}]: {e}"),
                    }),
                }
            }
            bucs.insert(
                id.clone(),
                BucDef {
                    id,
                    sector: raw.sector,
                    title: raw.title,
                    bilateral: !raw.multilateral,
                    remove_me_only: raw.remove_me_only,
                    documents,
                    initial: raw.initial,
                    states,
                    transitions,
                    subprocesses: raw.subprocesses,
                    auto_close: raw.auto_close,
                    file: path,
                },
            );
        }
        Ok((
            Catalogue {
                bucs,
                seds,
                subprocess_titles,
            },
            problems,
        ))
    }

    /// Load and check; any problem is an error.
    pub fn load(
        dir: &Path,
        schema_dir: &Path,
        versions: &[SedVersion],
    ) -> Result<Catalogue, DefinitionError> {
        let (cat, mut problems) = Catalogue::load_unchecked(dir)?;
        problems.extend(cat.check(schema_dir, versions));
        if problems.is_empty() {
            Ok(cat)
        } else {
            Err(DefinitionError::Invalid(problems))
        }
    }

    pub fn get(&self, buc: &BucType) -> Option<&BucDef> {
        self.bucs.get(buc)
    }

    /// Every problem of the loaded definitions: unknown SED, SED without a schema in
    /// one of `versions`, unknown or unreachable state, a state with no way out.
    pub fn check(&self, schema_dir: &Path, versions: &[SedVersion]) -> Vec<CheckProblem> {
        let mut problems = Vec::new();
        let mut push = |subject: &str, message: String| {
            problems.push(CheckProblem {
                subject: subject.to_owned(),
                message,
            })
        };
        let mut referenced: BTreeSet<&SedType> = BTreeSet::new();
        for def in self.bucs.values() {
            let s = def.id.as_str();
            if !def.states.contains_key(&def.initial) {
                push(s, format!("initial state {} is not declared", def.initial));
            }
            for t in &def.transitions {
                let origin = t
                    .origin
                    .as_deref()
                    .map(|o| format!(" (from {o})"))
                    .unwrap_or_default();
                for st in t.from.iter().flatten() {
                    if !def.states.contains_key(st) {
                        push(
                            s,
                            format!("transition {}{origin} starts in unknown state {st}", t.sed),
                        );
                    }
                }
                if let Target::State(to) = &t.to
                    && !def.states.contains_key(to)
                {
                    push(
                        s,
                        format!("transition {}{origin} leads to unknown state {to}", t.sed),
                    );
                }
                for sed in std::iter::once(&t.sed).chain(&t.answers) {
                    referenced.insert(sed);
                    if !self.seds.contains_key(sed) {
                        push(s, format!("unknown SED {sed}{origin}: not in seds.toml"));
                    }
                }
            }
            for rule in &def.auto_close {
                for sed in rule.since.iter().chain(&rule.paused_by) {
                    referenced.insert(sed);
                    if !self.seds.contains_key(sed) {
                        push(s, format!("unknown SED {sed} in an auto_close rule"));
                    }
                }
                if rule.after_days == 0 {
                    push(s, "an auto_close rule needs after_days >= 1".into());
                }
            }
            for m in parameter_problems(def) {
                push(s, m);
            }
            for (sed, p) in def.business_params() {
                if p.bulk
                    && self
                        .seds
                        .get(sed)
                        .is_some_and(|info| info.children.is_none())
                {
                    push(
                        s,
                        format!(
                            "{sed} is a bulk document (`bulk = true`) but seds.toml gives it no \
                             `children` path for its sub-documents"
                        ),
                    );
                }
            }
            if def.starters().next().is_none() {
                push(
                    s,
                    format!(
                        "no SED the case owner may send in the initial state {}",
                        def.initial
                    ),
                );
            }
            // Reachability from the initial state.
            let reachable = reachable_from(def, std::slice::from_ref(&def.initial));
            for st in def.states.keys() {
                if !reachable.contains(st.as_str()) && st != CLOSED {
                    push(s, format!("state {st} is unreachable from {}", def.initial));
                }
            }
            // A non-final state needs a way out of its own (subprocesses such as X001
            // apply everywhere and would hide a forgotten transition).
            for (st, sd) in &def.states {
                if sd.is_final || st == CLOSED {
                    continue;
                }
                let own_exit = def.transitions.iter().any(|t| {
                    t.origin.is_none()
                        && t.applies_in(st)
                        && !matches!(&t.to, Target::State(to) if to == st)
                        && t.to != Target::Stay
                });
                if !own_exit {
                    push(
                        s,
                        format!(
                            "state {st} has no way out: no transition leaves it and it is not final"
                        ),
                    );
                }
            }
            // Every state must be able to end.
            for st in def.states.keys() {
                let ends = reachable_from(def, std::slice::from_ref(st));
                if !ends
                    .iter()
                    .any(|r| def.states.get(*r).is_some_and(|d| d.is_final))
                {
                    push(s, format!("state {st} can never reach a final state"));
                }
            }
        }
        // A `children` path only on a bulk document, and declared by its schema.
        for (sed, info) in &self.seds {
            let Some(children) = &info.children else {
                continue;
            };
            let bulk_somewhere = self
                .bucs
                .values()
                .any(|d| d.params(sed).is_some_and(|p| p.bulk));
            if !bulk_somewhere {
                push(
                    sed.as_str(),
                    format!("`children = \"{children}\"` but no BUC declares {sed} `bulk = true`"),
                );
            }
            for v in versions {
                let path = schema_dir.join(v.as_str()).join(format!("{sed}.xsd"));
                let Ok(xsd) = std::fs::read_to_string(&path) else {
                    continue; // reported below when referenced
                };
                for step in children.split('/').filter(|p| !p.is_empty()) {
                    if !xsd.contains(&format!("name=\"{step}\"")) {
                        push(
                            sed.as_str(),
                            format!(
                                "`children = \"{children}\"`: {} declares no element {step}",
                                path.display()
                            ),
                        );
                    }
                }
            }
        }
        for sed in referenced {
            for v in versions {
                let path = schema_dir.join(v.as_str()).join(format!("{sed}.xsd"));
                if !path.is_file() {
                    push(
                        sed.as_str(),
                        format!("SED without a schema: {} is missing", path.display()),
                    );
                }
            }
        }
        problems
    }
}

/// Where a BUC's parameters disagree with its transitions or with each other
/// ([RINA-TS §4, §5]).
fn parameter_problems(def: &BucDef) -> Vec<String> {
    let mut out = Vec::new();
    let carried = def.sed_types();
    // Starters: declared (`isStarter`) exactly where the case owner may open the case.
    for t in def.starters() {
        if !def.documents.get(&t.sed).is_some_and(|p| p.starter) {
            out.push(format!(
                "{} opens the case (the case owner sends it in {}) but is not declared `starter = true`",
                t.sed, def.initial
            ));
        }
    }
    for (sed, p) in &def.documents {
        if is_administrative(sed) {
            out.push(format!(
                "[documents.{sed}]: administrative SEDs take no document parameters"
            ));
        } else if !carried.contains(sed) {
            out.push(format!("[documents.{sed}]: the BUC never carries {sed}"));
        }
        if p.starter && !def.starters().any(|t| &t.sed == sed) {
            out.push(format!(
                "{sed} is declared a starter but no transition lets the case owner send it in {}",
                def.initial
            ));
        }
    }
    // A reply to a SED the BUC never carries can never be sent.
    for t in &def.transitions {
        for a in &t.answers {
            if !carried.contains(a) {
                out.push(format!(
                    "{} answers {a}, which {} never carries",
                    t.sed, def.id
                ));
            }
        }
    }
    if def.bilateral
        && def
            .transitions
            .iter()
            .any(|t| t.effect == Some(Effect::AddParticipant))
    {
        out.push(
            "bilateral (multilateral = false) but a transition adds a participant (X005): \
             a bilateral case has one counterparty at a time"
                .into(),
        );
    }
    // A reply deadline on a SED nothing answers could never be met.
    for t in def
        .transitions
        .iter()
        .filter(|t| t.reply_within_days.is_some())
    {
        if !def.is_answered(&t.sed) {
            out.push(format!(
                "{} has reply_within_days but no SED of {} answers it",
                t.sed, def.id
            ));
        }
    }
    // A reminder sent by itself is an X009 [RINA-TS §6.2.2]: the BUC must carry it.
    for t in def
        .transitions
        .iter()
        .filter(|t| t.reply_within_days.is_some() && t.on_overdue == OnOverdue::Remind)
    {
        if !carried.iter().any(|s| s.as_str() == "X009") {
            out.push(format!(
                "{} has `on_overdue = \"remind\"` but the BUC does not carry X009 (AD_BUC_07)",
                t.sed
            ));
        }
    }
    // remove_me_only in a bilateral BUC is allowed: the reference lists H_BUC_10
    // both as bilateral (§4.1.1) and as removeMeOnly (§4.2); X006 is refused there
    // anyway while the case has two participants.
    for (sed, p) in &def.documents {
        if p.without_bulk && !p.bulk {
            out.push(format!(
                "{sed} has `without_bulk = true` (canBeSentWithoutBulk) but is not `bulk` [RINA-TS §5.10]"
            ));
        }
    }
    // A parameter that promises an administrative SED the BUC does not carry.
    let has = |x: &str| carried.iter().any(|s| s.as_str() == x);
    for (sed, p) in def.business_params() {
        for (on, x, what) in [
            (p.cancel, "X008", "cancel"),
            (p.reject, "X011", "reject"),
            (p.clarify, "X012", "clarify"),
        ] {
            if on && !has(x) {
                out.push(format!(
                    "{sed} has `{what} = true` but the BUC does not carry {x}"
                ));
            }
        }
    }
    out
}

fn reachable_from<'a>(def: &'a BucDef, start: &'a [String]) -> BTreeSet<&'a str> {
    let mut seen: BTreeSet<&str> = start.iter().map(String::as_str).collect();
    let mut queue: VecDeque<&str> = seen.iter().copied().collect();
    while let Some(st) = queue.pop_front() {
        for t in def.transitions.iter().filter(|t| t.applies_in(st)) {
            if let Target::State(to) = &t.to
                && seen.insert(to.as_str())
            {
                queue.push_back(to.as_str());
            }
        }
    }
    seen
}

fn resolve_transition(
    raw: &RawTransition,
    origin: Option<&str>,
    subject: &str,
    problems: &mut Vec<CheckProblem>,
) -> Option<Transition> {
    let mut bad = |m: String| {
        problems.push(CheckProblem {
            subject: subject.to_owned(),
            message: m,
        })
    };
    let sed = match SedType::parse(&raw.sed) {
        Ok(s) => s,
        Err(e) => {
            bad(e.to_string());
            return None;
        }
    };
    let mut answers = Vec::new();
    for a in &raw.answers {
        match SedType::parse(a) {
            Ok(s) => answers.push(s),
            Err(e) => bad(e.to_string()),
        }
    }
    let from = if raw.from.iter().any(|f| f == "*") {
        None
    } else {
        Some(raw.from.clone())
    };
    if from.as_ref().is_some_and(|f| f.is_empty()) {
        bad(format!("transition {} has an empty `from`", raw.sed));
    }
    let to = match raw.to.as_str() {
        "." => Target::Stay,
        "@previous" => Target::Previous,
        s => Target::State(s.to_owned()),
    };
    match (raw.effect, &raw.subject) {
        (Some(e), None) if e.needs_subject() => bad(format!(
            "transition {} has effect {e:?} but no `subject` path",
            raw.sed
        )),
        (e, Some(_)) if !e.is_some_and(Effect::needs_subject) => bad(format!(
            "transition {} has a `subject` but no participant effect",
            raw.sed
        )),
        _ => {}
    }
    if (raw.effect == Some(Effect::Reopen)) != (to == Target::Previous) {
        bad(format!(
            "transition {}: `to = \"@previous\"` and `effect = \"reopen\"` go together",
            raw.sed
        ));
    }
    if raw.reply_within_days == Some(0) {
        bad(format!(
            "transition {}: reply_within_days must be at least 1",
            raw.sed
        ));
    }
    if raw.on_overdue.is_some() && raw.reply_within_days.is_none() {
        bad(format!(
            "transition {}: on_overdue needs reply_within_days (a reply that can be overdue)",
            raw.sed
        ));
    }
    Some(Transition {
        from,
        sed,
        by: raw.by,
        to,
        answers,
        origin: origin.map(str::to_owned),
        reply_within_days: raw.reply_within_days,
        on_overdue: raw.on_overdue.unwrap_or_default(),
        effect: raw.effect,
        subject: raw.subject.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn fixture(buc: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "seds.toml",
            "[A001]\ntitle = \"a\"\n[A002]\ntitle = \"b\"\n[X001]\ntitle = \"close\"\n",
        );
        write(
            d.path(),
            "subprocesses/AD_BUC_01.toml",
            "subprocess = \"AD_BUC_01\"\ntitle = \"Close\"\n[[transitions]]\nfrom = [\"*\"]\nsed = \"X001\"\nby = \"Any\"\nto = \"closed\"\n",
        );
        write(d.path(), "T_BUC_01.toml", buc);
        for s in ["A001", "A002", "X001"] {
            write(d.path(), &format!("schemas/4.2/{s}.xsd"), "<x/>");
        }
        d
    }

    fn problems_of(buc: &str) -> Vec<String> {
        let d = fixture(buc);
        let (cat, mut p) = Catalogue::load_unchecked(d.path()).unwrap();
        p.extend(cat.check(
            &d.path().join("schemas"),
            &[SedVersion::parse("4.2").unwrap()],
        ));
        p.into_iter().map(|p| p.to_string()).collect()
    }

    const GOOD: &str = r#"
buc = "T_BUC_01"
sector = "T"
title = "test"
multilateral = true
initial = "start"
subprocesses = ["AD_BUC_01"]
[states.start]
[states.wait]
[states.done]
final = true
[[transitions]]
from = ["start"]
sed = "A001"
by = "CaseOwner"
to = "wait"
[[transitions]]
from = ["wait"]
sed = "A002"
by = "Counterparty"
answers = ["A001"]
to = "done"
[documents.A001]
starter = true
cancel = false
clarify = false
[documents.A002]
cancel = false
clarify = false
"#;

    #[test]
    fn a_sound_definition_has_no_problems_and_merges_subprocesses() {
        assert_eq!(problems_of(GOOD), Vec::<String>::new());
        let d = fixture(GOOD);
        let (cat, _) = Catalogue::load_unchecked(d.path()).unwrap();
        let def = cat.get(&BucType::parse("T_BUC_01").unwrap()).unwrap();
        assert!(
            def.transitions
                .iter()
                .any(|t| t.sed.as_str() == "X001" && t.origin.as_deref() == Some("AD_BUC_01"))
        );
        assert!(def.states.contains_key(CLOSED));
    }

    #[test]
    fn check_reports_every_problem() {
        let bad = GOOD.replace("sed = \"A002\"", "sed = \"A999\"").replace(
            "[states.done]\nfinal = true",
            "[states.done]\nfinal = true\n[states.orphan]\n[states.stuck]",
        ) + "[[transitions]]\nfrom = [\"wait\"]\nsed = \"A001\"\nby = \"CaseOwner\"\nto = \"stuck\"\n";
        let p = problems_of(&bad);
        let all = p.join("\n");
        assert!(all.contains("unknown SED A999"), "{all}");
        assert!(
            all.contains("SED without a schema") && all.contains("A999.xsd"),
            "{all}"
        );
        assert!(all.contains("state orphan is unreachable"), "{all}");
        assert!(all.contains("state stuck has no way out"), "{all}");
        assert!(p.len() >= 4);
    }

    /// Every problem of the definitions in `dir`, loading and checking (4.2 schemas).
    fn problems_in(dir: &std::path::Path) -> Vec<String> {
        let (cat, mut p) = Catalogue::load_unchecked(dir).unwrap();
        p.extend(cat.check(&dir.join("schemas"), &[SedVersion::parse("4.2").unwrap()]));
        p.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn a_definition_against_the_reference_rules_lists_every_problem() {
        let d = fixture(GOOD);
        // X005 in the catalogue and a subprocess that adds participants.
        write(
            d.path(),
            "seds.toml",
            "[A001]\ntitle = \"a\"\n[A002]\ntitle = \"b\"\n[A003]\ntitle = \"c\"\n[X001]\ntitle = \"close\"\n[X005]\ntitle = \"add\"\n",
        );
        write(
            d.path(),
            "subprocesses/AD_BUC_03.toml",
            "subprocess = \"AD_BUC_03\"\ntitle = \"Add\"\n[[transitions]]\nfrom = [\"*\"]\nsed = \"X005\"\nby = \"CaseOwner\"\nto = \".\"\neffect = \"add_participant\"\nsubject = \"A/B\"\n",
        );
        for s in ["A003", "X005"] {
            write(d.path(), &format!("schemas/4.2/{s}.xsd"), "<x/>");
        }
        let bad = GOOD
            // bilateral, yet X005 may add a participant
            .replace("multilateral = true", "multilateral = false")
            .replace("[\"AD_BUC_01\"]", "[\"AD_BUC_01\", \"AD_BUC_03\"]")
            // a reply to a SED this BUC never carries
            .replace("answers = [\"A001\"]", "answers = [\"A001\", \"A003\"]")
            // a declared starter that does not start, and a starter not declared
            .replace(
                "[documents.A002]\ncancel = false",
                "[documents.A002]\nstarter = true\ncancel = false",
            )
            .replace("[documents.A001]\nstarter = true\n", "[documents.A001]\n")
            // cancel promised without X008
            .replace(
                "[documents.A002]\nstarter = true\ncancel = false",
                "[documents.A002]\nstarter = true",
            );
        write(d.path(), "T_BUC_01.toml", &bad);
        let all = problems_in(d.path()).join("\n");
        for want in [
            "bilateral (multilateral = false) but a transition adds a participant",
            "A002 answers A003, which T_BUC_01 never carries",
            "A002 is declared a starter but no transition lets the case owner send it",
            "A001 opens the case (the case owner sends it in start) but is not declared `starter = true`",
            "A002 has `cancel = true` but the BUC does not carry X008",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
    }

    /// [RINA-TS §5.3, §5.10]: a bulk SED needs a `children` path its schema declares;
    /// a `children` path only on a bulk SED; `without_bulk` only with `bulk`.
    #[test]
    fn bulk_parameters_are_checked_against_the_catalogue_and_the_schemas() {
        let d = fixture(GOOD);
        write(
            d.path(),
            "seds.toml",
            "[A001]\ntitle = \"a\"\n[A002]\ntitle = \"b\"\nchildren = \"Claims/Claim\"\n[X001]\ntitle = \"close\"\n",
        );
        let bad = GOOD
            // A001 bulk without a `children` path
            .replace(
                "[documents.A001]\nstarter = true\n",
                "[documents.A001]\nstarter = true\nbulk = true\n",
            )
            // A002 has a `children` path (not declared by its schema) but is not bulk,
            // and may go without sub-documents without being bulk
            .replace(
                "[documents.A002]\ncancel = false",
                "[documents.A002]\nwithout_bulk = true\ncancel = false",
            );
        write(d.path(), "T_BUC_01.toml", &bad);
        let all = problems_in(d.path()).join("\n");
        for want in [
            "A001 is a bulk document (`bulk = true`) but seds.toml gives it no `children` path",
            "`children = \"Claims/Claim\"` but no BUC declares A002 `bulk = true`",
            "declares no element Claims",
            "A002 has `without_bulk = true` (canBeSentWithoutBulk) but is not `bulk`",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        // Fixed, the same catalogue has no bulk problem left.
        write(
            d.path(),
            "seds.toml",
            "[A001]\ntitle = \"a\"\nchildren = \"Claims/Claim\"\n[A002]\ntitle = \"b\"\n[X001]\ntitle = \"close\"\n",
        );
        write(
            d.path(),
            "schemas/4.2/A001.xsd",
            "<xs:element name=\"Claims\"/><xs:element name=\"Claim\"/>",
        );
        write(
            d.path(),
            "T_BUC_01.toml",
            &bad.replace("without_bulk = true\n", ""),
        );
        let (cat, mut p) = Catalogue::load_unchecked(d.path()).unwrap();
        p.extend(cat.check(
            &d.path().join("schemas"),
            &[SedVersion::parse("4.2").unwrap()],
        ));
        assert!(
            !p.iter()
                .any(|p| p.to_string().contains("bulk") || p.to_string().contains("children")),
            "{p:?}"
        );
    }

    #[test]
    fn on_overdue_defaults_to_offer_and_remind_needs_x009() {
        // The default: a reply deadline offers a reminder.
        let with_deadline = GOOD.replace(
            "by = \"CaseOwner\"\nto = \"wait\"",
            "by = \"CaseOwner\"\nto = \"wait\"\nreply_within_days = 30",
        );
        assert_eq!(problems_of(&with_deadline), Vec::<String>::new());
        let d = fixture(&with_deadline);
        let (cat, _) = Catalogue::load_unchecked(d.path()).unwrap();
        let def = cat.get(&BucType::parse("T_BUC_01").unwrap()).unwrap();
        let a001 = def
            .transitions
            .iter()
            .find(|t| t.sed.as_str() == "A001")
            .unwrap();
        assert_eq!(a001.on_overdue, OnOverdue::Offer);
        // `remind` in a BUC without X009, and `on_overdue` without a deadline.
        let remind = with_deadline.replace(
            "reply_within_days = 30",
            "reply_within_days = 30\non_overdue = \"remind\"",
        );
        let all = problems_of(&remind).join("\n");
        assert!(
            all.contains("A001 has `on_overdue = \"remind\"` but the BUC does not carry X009"),
            "{all}"
        );
        let orphan = GOOD.replace(
            "by = \"CaseOwner\"\nto = \"wait\"",
            "by = \"CaseOwner\"\nto = \"wait\"\non_overdue = \"none\"",
        );
        let all = problems_of(&orphan).join("\n");
        assert!(
            all.contains("transition A001: on_overdue needs reply_within_days"),
            "{all}"
        );
        let bad = with_deadline.replace(
            "reply_within_days = 30",
            "reply_within_days = 30\non_overdue = \"shout\"",
        );
        let d = fixture(&bad);
        assert!(
            Catalogue::load_unchecked(d.path()).is_err(),
            "unknown value"
        );
        // A deadline on the reply itself: nothing answers A002.
        let unanswered = GOOD.replace(
            "answers = [\"A001\"]\nto = \"done\"",
            "answers = [\"A001\"]\nto = \"done\"\nreply_within_days = 5",
        );
        let all = problems_of(&unanswered).join("\n");
        assert!(
            all.contains("A002 has reply_within_days but no SED of T_BUC_01 answers it"),
            "{all}"
        );
    }

    #[test]
    fn unknown_states_and_subprocesses_are_reported() {
        let bad = GOOD
            .replace("to = \"done\"", "to = \"nowhere\"")
            .replace("[\"AD_BUC_01\"]", "[\"AD_BUC_77\"]");
        let all = problems_of(&bad).join("\n");
        assert!(all.contains("leads to unknown state nowhere"), "{all}");
        assert!(all.contains("unknown subprocess AD_BUC_77"), "{all}");
    }
}
