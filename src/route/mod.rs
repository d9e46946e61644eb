//! Inbound routing: which Belgian institution(s) receive each accepted SED.
//!
//! The rules are data (`routing/belgium.toml`, named by `routing` in the
//! configuration), checked at load and at start-up like the BUC definitions, and
//! evaluated in order: the first rule whose selectors (BUC or sector, SED type, addressed
//! institution) and content conditions all hold decides. A rule delivers to one
//! institution or several (fan-out: each once), to the institution the SED was
//! addressed to (`"addressed"`), or sends the SED to triage. A SED no rule matches
//! goes to triage too: it is accepted and kept for an operator, never refused
//! abroad for want of a rule.
//!
//! Content conditions are XPath 1.0 expressions evaluated by libxml2 relative to
//! the SED element (prefix `sed` = the SED's namespace) on the document the inbound
//! checks already parsed, outside any transaction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::buc::definition::Catalogue;
use crate::ids::{BucType, Country, InstitutionId, Role, SedType};
use crate::signing::registry::Registry;

/// Where one accepted SED goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// To these institutions, each once (never empty), by the named rule; when
    /// `follow_case`, to the institutions that received the case's earlier SEDs
    /// instead, if there are any (the caller knows the store).
    Deliver {
        rule: String,
        to: Vec<InstitutionId>,
        follow_case: bool,
    },
    /// To the triage queue: no rule matched (`rule` None), or a rule says so;
    /// `follow_case` as for `Deliver`.
    Triage {
        rule: Option<String>,
        reason: String,
        follow_case: bool,
    },
}

impl Route {
    /// The decision of a rule that follows the case (`Rule::follow_case`).
    pub fn follow_case(&self) -> bool {
        match self {
            Route::Deliver { follow_case, .. } | Route::Triage { follow_case, .. } => *follow_case,
        }
    }

    /// The rule that decided, by name (`no rule` when none matched).
    pub fn rule(&self) -> &str {
        match self {
            Route::Deliver { rule, .. } => rule,
            Route::Triage { rule, .. } => rule.as_deref().unwrap_or("no rule"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Who a rule delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The institution the SED's envelope names as its receiver.
    Addressed,
    Institution(InstitutionId),
}

/// A test on the values an XPath selects.
#[derive(Debug, Clone)]
pub enum Test {
    /// At least one value, and every value in the list.
    AllIn(Vec<String>),
    /// At least one value, and every value in the named set.
    AllInSet(String),
    /// Some value in the list.
    AnyIn(Vec<String>),
    /// Some value in the named set.
    AnyInSet(String),
    /// The XPath selects something (true) or nothing (false).
    Exists(bool),
}

#[derive(Debug, Clone)]
pub struct Condition {
    pub xpath: String,
    pub test: Test,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// BUC types or prefixes followed by `*`; None: any.
    pub bucs: Option<Vec<String>>,
    pub seds: Option<Vec<SedType>>,
    /// The addressed institution; None: any.
    pub addressed: Option<Vec<InstitutionId>>,
    pub when: Vec<Condition>,
    /// Empty: triage.
    pub deliver: Vec<Target>,
    /// A SED of a case whose earlier SEDs were delivered goes where they went (a
    /// liaison body's case stays with the institution that took it, a case an
    /// operator assigned with the institution it was assigned to); `deliver` or
    /// triage is for a case's first.
    pub follow_case: bool,
    pub source: Option<String>,
}

/// A named set of values: literal values and inclusive numeric ranges (postal codes).
#[derive(Debug, Clone, Default)]
pub struct ValueSet {
    pub values: BTreeSet<String>,
    pub ranges: Vec<(u32, u32)>,
}

impl ValueSet {
    fn contains(&self, v: &str) -> bool {
        let v = v.trim();
        self.values.contains(v)
            || v.parse::<u32>()
                .is_ok_and(|n| self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n)))
    }
}

#[derive(Debug, Clone)]
pub struct Routing {
    pub rules: Vec<Rule>,
    pub sets: BTreeMap<String, ValueSet>,
    /// The file the rules came from (None: the built-in "deliver to the addressed
    /// institution" of an access point without routing rules).
    pub path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    #[serde(default)]
    sets: BTreeMap<String, RawSet>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    ranges: Vec<[u32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    buc: Option<Vec<String>>,
    /// Sectors (`FB`, `S`, ...): every BUC of the sector, as `FB_BUC_*` would.
    sector: Option<Vec<String>>,
    sed: Option<Vec<String>>,
    addressed: Option<Vec<String>>,
    #[serde(default)]
    when: Vec<RawCondition>,
    deliver: Option<Vec<String>>,
    #[serde(default)]
    triage: bool,
    #[serde(default)]
    follow_case: bool,
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    xpath: String,
    all_in: Option<Vec<String>>,
    all_in_set: Option<String>,
    any_in: Option<Vec<String>>,
    any_in_set: Option<String>,
    exists: Option<bool>,
}

/// A BUC pattern (`LA_BUC_02`, `LA_BUC_*`) matches a BUC type.
fn pattern_matches(pattern: &str, buc: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => buc.starts_with(prefix),
        None => pattern == buc,
    }
}

/// Every BUC `inner` matches, `outer` matches too.
fn pattern_covers(outer: &str, inner: &str) -> bool {
    match (outer.strip_suffix('*'), inner.strip_suffix('*')) {
        (Some(o), Some(i)) => i.starts_with(o),
        (Some(o), None) => inner.starts_with(o),
        (None, Some(_)) => false,
        (None, None) => outer == inner,
    }
}

/// `outer` selects at least what `inner` selects (None = anything).
fn selector_covers<T>(
    outer: &Option<Vec<T>>,
    inner: &Option<Vec<T>>,
    covers: impl Fn(&T, &T) -> bool,
) -> bool {
    match (outer, inner) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => i.iter().all(|x| o.iter().any(|y| covers(y, x))),
    }
}

impl Routing {
    /// The routing of an access point without rules: every SED to the institution
    /// it is addressed to.
    pub fn addressed_only() -> Routing {
        Routing {
            rules: vec![Rule {
                name: "to the addressed institution".into(),
                bucs: None,
                seds: None,
                addressed: None,
                when: Vec::new(),
                deliver: vec![Target::Addressed],
                follow_case: false,
                source: None,
            }],
            sets: BTreeMap::new(),
            path: None,
        }
    }

    /// The routing of a configuration: its rule file (`routing`), or without one
    /// every SED to the institution it is addressed to. Only a rule file is
    /// checked (`check`): the built-in routing has nothing to get wrong.
    pub fn of(path: Option<&Path>) -> Result<Routing, RoutingError> {
        match path {
            Some(p) => Routing::load(p),
            None => Ok(Routing::addressed_only()),
        }
    }

    /// Read a rule file. Syntax and shape only; `check` compares it with the
    /// registry and the BUC catalogue.
    pub fn load(path: &Path) -> Result<Routing, RoutingError> {
        let text = std::fs::read_to_string(path).map_err(|source| RoutingError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, Some(path.to_owned()))
    }

    pub fn parse(text: &str, path: Option<PathBuf>) -> Result<Routing, RoutingError> {
        let shown = path.clone().unwrap_or_else(|| PathBuf::from("(routing)"));
        let raw: RawRouting = toml::from_str(text).map_err(|e| RoutingError::Invalid {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        let mut problems = Vec::new();
        let sets = raw
            .sets
            .into_iter()
            .map(|(name, s)| {
                for [lo, hi] in &s.ranges {
                    if lo > hi {
                        problems.push(format!("set {name}: range {lo}..{hi} is empty"));
                    }
                }
                (
                    name,
                    ValueSet {
                        values: s.values.into_iter().collect(),
                        ranges: s.ranges.into_iter().map(|[a, b]| (a, b)).collect(),
                    },
                )
            })
            .collect();
        let mut rules = Vec::new();
        let mut names = BTreeSet::new();
        for r in raw.rule {
            let at = format!("rule {:?}", r.name);
            if !names.insert(r.name.clone()) {
                problems.push(format!("{at}: the name is used twice"));
            }
            let seds = r.sed.map(|list| {
                list.iter()
                    .filter_map(|s| match SedType::parse(s) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            problems.push(format!("{at}: {e}"));
                            None
                        }
                    })
                    .collect::<Vec<_>>()
            });
            let addressed = r.addressed.map(|list| {
                list.iter()
                    .filter_map(|s| match InstitutionId::parse(s) {
                        Ok(t) => Some(t),
                        Err(e) => {
                            problems.push(format!("{at}: {e}"));
                            None
                        }
                    })
                    .collect::<Vec<_>>()
            });
            let deliver: Vec<Target> = r
                .deliver
                .unwrap_or_default()
                .iter()
                .filter_map(|s| {
                    if s == "addressed" {
                        return Some(Target::Addressed);
                    }
                    match InstitutionId::parse(s) {
                        Ok(t) => Some(Target::Institution(t)),
                        Err(e) => {
                            problems.push(format!("{at}: deliver: {e}"));
                            None
                        }
                    }
                })
                .collect();
            if deliver.is_empty() != r.triage {
                problems.push(format!(
                    "{at}: needs either a non-empty `deliver` or `triage = true`, not both"
                ));
            }
            let mut when = Vec::new();
            for c in r.when {
                let tests = [
                    c.all_in.map(Test::AllIn),
                    c.all_in_set.map(Test::AllInSet),
                    c.any_in.map(Test::AnyIn),
                    c.any_in_set.map(Test::AnyInSet),
                    c.exists.map(Test::Exists),
                ];
                let mut tests: Vec<Test> = tests.into_iter().flatten().collect();
                if tests.len() != 1 {
                    problems.push(format!(
                        "{at}: condition {:?} needs exactly one of all_in, all_in_set, any_in, any_in_set, exists",
                        c.xpath
                    ));
                    continue;
                }
                when.push(Condition {
                    xpath: c.xpath,
                    test: tests.remove(0),
                });
            }
            // A sector is the BUCs whose type starts with it (`FB` → `FB_BUC_*`).
            let bucs = match (r.buc, r.sector) {
                (Some(_), Some(_)) => {
                    problems.push(format!("{at}: give `buc` or `sector`, not both"));
                    None
                }
                (Some(b), None) => Some(b),
                (None, Some(sectors)) => Some(
                    sectors
                        .iter()
                        .filter_map(|s| {
                            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase()) {
                                Some(format!("{s}_BUC_*"))
                            } else {
                                problems.push(format!(
                                    "{at}: {s:?} is not a sector (AW, FB, H, LA, M, P, R, S, UB)"
                                ));
                                None
                            }
                        })
                        .collect(),
                ),
                (None, None) => None,
            };
            rules.push(Rule {
                name: r.name,
                bucs,
                seds,
                addressed,
                when,
                deliver,
                follow_case: r.follow_case,
                source: r.source,
            });
        }
        if !problems.is_empty() {
            return Err(RoutingError::Invalid {
                path: shown,
                message: problems.join("; "),
            });
        }
        Ok(Routing { rules, sets, path })
    }

    /// Every problem of these rules against the registry and the catalogue, for
    /// the institutions of `country`: unknown institutions, sets, BUCs and SED
    /// types, XPaths libxml2 cannot compile, rules that can never decide
    /// (unreachable), deliveries to an institution not competent for the BUC, and
    /// BUCs of the catalogue with no institution of `country` able to take a role.
    pub fn check(
        &self,
        catalogue: &Catalogue,
        registry: &Registry,
        country: &Country,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let ours =
            |id: &InstitutionId| registry.institution(id).is_some() && &id.country() == country;
        // The BUCs of the catalogue a switch exchanges (not the subprocesses).
        let bucs: Vec<&BucType> = catalogue
            .bucs
            .keys()
            .filter(|b| !b.as_str().starts_with("AD_"))
            .collect();
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rule {:?}", r.name);
            for id in r.addressed.iter().flatten() {
                if !ours(id) {
                    problems.push(format!(
                        "{at}: addressed {id} is not an institution of {country} in the registry"
                    ));
                }
            }
            for t in &r.deliver {
                if let Target::Institution(id) = t
                    && !ours(id)
                {
                    problems.push(format!(
                        "{at}: deliver {id} is not an institution of {country} in the registry"
                    ));
                }
            }
            for c in &r.when {
                if libxml::xpath::Expression::compile(&c.xpath).is_err() {
                    problems.push(format!(
                        "{at}: {:?} is not an XPath 1.0 expression",
                        c.xpath
                    ));
                }
                if let Test::AllInSet(s) | Test::AnyInSet(s) = &c.test
                    && !self.sets.contains_key(s)
                {
                    problems.push(format!("{at}: unknown set {s:?}"));
                }
            }
            // The BUCs and SED types the rule can see.
            let matched: Vec<&BucType> =
                bucs.iter().copied().filter(|b| r.matches_buc(b)).collect();
            for p in r.bucs.iter().flatten() {
                if !bucs.iter().any(|b| pattern_matches(p, b.as_str())) {
                    problems.push(format!("{at}: no BUC of the catalogue matches {p:?}"));
                }
            }
            for s in r.seds.iter().flatten() {
                if !matched
                    .iter()
                    .any(|b| catalogue.get(b).is_some_and(|d| d.sed_types().contains(s)))
                {
                    problems.push(format!("{at}: {s} is in none of the BUCs the rule selects"));
                }
            }
            if matched.is_empty() {
                problems.push(format!(
                    "{at}: unreachable: it selects no BUC of the catalogue"
                ));
            }
            if let Some(earlier) = self.rules[..i].iter().find(|e| e.covers(r)) {
                problems.push(format!(
                    "{at}: unreachable: rule {:?} before it matches everything it matches",
                    earlier.name
                ));
            }
            for t in &r.deliver {
                let Target::Institution(id) = t else { continue };
                let Some(inst) = registry.institution(id) else {
                    continue;
                };
                for b in &matched {
                    if !inst.handles(b, Role::CaseOwner) && !inst.handles(b, Role::Counterparty) {
                        problems.push(format!(
                            "{at}: delivers {b} to {id}, which is not competent for it"
                        ));
                    }
                }
            }
        }
        // A BUC without a competent institution here, or that no rule delivers:
        // its cases could not be taken, or would all wait in triage.
        for b in bucs {
            for role in [Role::CaseOwner, Role::Counterparty] {
                if !registry
                    .institutions_of(country)
                    .any(|i| i.handles(b, role))
                {
                    problems.push(format!(
                        "{b}: no institution of {country} is competent for it as {role}"
                    ));
                }
            }
            if !self
                .rules
                .iter()
                .any(|r| !r.deliver.is_empty() && r.matches_buc(b))
            {
                problems.push(format!(
                    "{b}: no rule delivers it: every SED of it would wait in triage"
                ));
            }
        }
        problems
    }

    /// Decide where a SED goes. `sed` is the SED element of `doc` (parsed and
    /// checked); XPaths are evaluated relative to it.
    pub fn route(
        &self,
        buc: &BucType,
        sed_type: &SedType,
        addressed: &InstitutionId,
        doc: &libxml::tree::Document,
        sed: libxml::readonly::RoNode,
    ) -> Route {
        let mut ctx = None;
        for r in &self.rules {
            if !r.matches_buc(buc)
                || r.seds.as_ref().is_some_and(|s| !s.contains(sed_type))
                || r.addressed.as_ref().is_some_and(|a| !a.contains(addressed))
            {
                continue;
            }
            if !r.when.is_empty() {
                if ctx.is_none() {
                    ctx = Some(xpath_context(doc, sed));
                }
                let Some(Some(c)) = &ctx else {
                    return Route::Triage {
                        rule: Some(r.name.clone()),
                        reason: "the SED's content could not be examined".into(),
                        follow_case: r.follow_case,
                    };
                };
                if !r.when.iter().all(|cond| self.holds(c, cond, sed)) {
                    continue;
                }
            }
            if r.deliver.is_empty() {
                return Route::Triage {
                    rule: Some(r.name.clone()),
                    reason: format!("rule {:?} sends it to triage", r.name),
                    follow_case: r.follow_case,
                };
            }
            let mut to: Vec<InstitutionId> = Vec::new();
            for t in &r.deliver {
                let id = match t {
                    Target::Addressed => addressed.clone(),
                    Target::Institution(i) => i.clone(),
                };
                if !to.contains(&id) {
                    to.push(id);
                }
            }
            return Route::Deliver {
                rule: r.name.clone(),
                to,
                follow_case: r.follow_case,
            };
        }
        Route::Triage {
            rule: None,
            reason: format!("no routing rule matches {buc} {sed_type} addressed to {addressed}"),
            follow_case: false,
        }
    }

    fn holds(
        &self,
        ctx: &libxml::xpath::Context,
        c: &Condition,
        sed: libxml::readonly::RoNode,
    ) -> bool {
        let Ok(found) = ctx.node_evaluate_readonly(&c.xpath, sed) else {
            return false;
        };
        let values: Vec<String> = found
            .get_readonly_nodes_as_vec()
            .into_iter()
            .map(|n| n.get_content().trim().to_owned())
            .collect();
        let set = |name: &str| self.sets.get(name);
        match &c.test {
            Test::Exists(e) => values.is_empty() != *e,
            Test::AllIn(list) => !values.is_empty() && values.iter().all(|v| list.contains(v)),
            Test::AnyIn(list) => values.iter().any(|v| list.contains(v)),
            Test::AllInSet(s) => {
                set(s).is_some_and(|s| !values.is_empty() && values.iter().all(|v| s.contains(v)))
            }
            Test::AnyInSet(s) => set(s).is_some_and(|s| values.iter().any(|v| s.contains(v))),
        }
    }

    /// The rules as text, for `routing show`.
    pub fn show(&self) -> String {
        let mut out = String::new();
        match &self.path {
            Some(p) => out.push_str(&format!("routing rules from {}\n", p.display())),
            None => out.push_str(
                "no routing rules: every SED goes to the institution it is addressed to\n",
            ),
        }
        for (i, r) in self.rules.iter().enumerate() {
            let list =
                |v: &Option<Vec<String>>| v.as_ref().map_or("any".to_owned(), |v| v.join(", "));
            out.push_str(&format!("{:>3}. {}\n", i + 1, r.name));
            out.push_str(&format!("     buc: {}\n", list(&r.bucs)));
            out.push_str(&format!(
                "     sed: {}\n",
                list(
                    &r.seds
                        .as_ref()
                        .map(|v| v.iter().map(|s| s.to_string()).collect())
                )
            ));
            out.push_str(&format!(
                "     addressed to: {}\n",
                list(
                    &r.addressed
                        .as_ref()
                        .map(|v| v.iter().map(|s| s.to_string()).collect())
                )
            ));
            for c in &r.when {
                out.push_str(&format!("     when {} {:?}\n", c.xpath, c.test));
            }
            if r.follow_case {
                out.push_str("     a case's later SEDs: where its earlier ones went\n");
            }
            if r.deliver.is_empty() {
                out.push_str("     -> triage\n");
            } else {
                let to: Vec<String> = r
                    .deliver
                    .iter()
                    .map(|t| match t {
                        Target::Addressed => "the addressed institution".to_owned(),
                        Target::Institution(i) => i.to_string(),
                    })
                    .collect();
                out.push_str(&format!("     -> {}\n", to.join(" + ")));
            }
        }
        out.push_str("  *. anything else -> triage\n");
        out
    }
}

impl Rule {
    fn matches_buc(&self, buc: &BucType) -> bool {
        self.bucs
            .as_ref()
            .is_none_or(|ps| ps.iter().any(|p| pattern_matches(p, buc.as_str())))
    }

    /// This rule decides every SED `later` could match (so `later` never decides).
    fn covers(&self, later: &Rule) -> bool {
        self.when.is_empty()
            && selector_covers(&self.bucs, &later.bucs, |o, i| pattern_covers(o, i))
            && selector_covers(&self.seds, &later.seds, |o, i| o == i)
            && selector_covers(&self.addressed, &later.addressed, |o, i| o == i)
    }
}

/// An XPath context on `doc` with the prefix `sed` bound to the SED's namespace.
fn xpath_context(
    doc: &libxml::tree::Document,
    sed: libxml::readonly::RoNode,
) -> Option<libxml::xpath::Context> {
    let ctx = libxml::xpath::Context::new(doc).ok()?;
    if let Some(ns) = sed.get_namespace() {
        ctx.register_namespace("sed", &ns.get_href()).ok()?;
    }
    Some(ctx)
}

#[cfg(test)]
mod tests;
