//! The pages' words in French, Dutch, German and English: one catalogue per
//! language (`i18n/<code>.toml`, embedded at build time), the language chosen by the
//! user (the `eessi_lang` cookie, set by the selector in every page's header) or
//! else by the browser's `Accept-Language`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};

/// The cookie that keeps the user's choice of language.
pub const LANG_COOKIE: &str = "eessi_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    Nl,
    De,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Fr, Lang::Nl, Lang::De, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Nl => "nl",
            Lang::De => "de",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.split(['-', '_']).next()?.trim();
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    fn index(self) -> usize {
        match self {
            Lang::En => 0,
            Lang::Fr => 1,
            Lang::Nl => 2,
            Lang::De => 3,
        }
    }

    /// The user's language: the cookie's choice, else the best of the browser's
    /// `Accept-Language` we speak, else English.
    pub fn of(headers: &HeaderMap) -> Lang {
        if let Some(l) = super::cookie_value(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
            return l;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(negotiate)
            .unwrap_or(Lang::En)
    }
}

/// The best language of an `Accept-Language` value that we speak (RFC 9110 §12.5.4:
/// quality values, the first of equal ones wins).
fn negotiate(value: &str) -> Option<Lang> {
    let mut best: Option<(Lang, u32)> = None;
    for item in value.split(',').take(32) {
        let mut parts = item.split(';');
        let Some(tag) = parts.next().map(str::trim) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1000, |q| {
                q.trim()
                    .parse::<f32>()
                    .map_or(0, |f| (f.clamp(0.0, 1.0) * 1000.0) as u32)
            });
        if q == 0 {
            continue;
        }
        if let Some(l) = Lang::parse(tag)
            && best.is_none_or(|(_, bq)| q > bq)
        {
            best = Some((l, q));
        }
    }
    best.map(|(l, _)| l)
}

const SOURCES: [&str; 4] = [
    include_str!("i18n/en.toml"),
    include_str!("i18n/fr.toml"),
    include_str!("i18n/nl.toml"),
    include_str!("i18n/de.toml"),
];

/// The SED field labels in French, Dutch and German (`i18n/fields/*.toml`: one
/// entry per element name of the schemas); English labels are the names in words.
const FIELD_SOURCES: [&str; 3] = [
    include_str!("i18n/fields/fr.toml"),
    include_str!("i18n/fields/nl.toml"),
    include_str!("i18n/fields/de.toml"),
];

fn field_catalogues() -> &'static [BTreeMap<String, String>; 3] {
    static FIELDS: OnceLock<[BTreeMap<String, String>; 3]> = OnceLock::new();
    FIELDS.get_or_init(|| FIELD_SOURCES.map(|s| toml::from_str(s).unwrap_or_default()))
}

/// A SED element's (or attribute's) label in `lang`: the catalogue's, else the
/// name in English words (`FamilyName` → "Family name").
pub fn field_label(lang: Lang, name: &str) -> String {
    match lang.index().checked_sub(1) {
        Some(i) => field_catalogues()[i]
            .get(name)
            .cloned()
            .unwrap_or_else(|| super::sed_view::label(name)),
        None => super::sed_view::label(name),
    }
}

fn catalogues() -> &'static [BTreeMap<String, String>; 4] {
    static CATALOGUES: OnceLock<[BTreeMap<String, String>; 4]> = OnceLock::new();
    CATALOGUES.get_or_init(|| {
        // A catalogue that does not parse is caught by the unit tests; at run time
        // its words fall back to English, then to the key.
        SOURCES.map(|s| toml::from_str(s).unwrap_or_default())
    })
}

/// The word for `key` in `lang` (English if missing there, the key itself if
/// missing everywhere: the tests make sure neither happens for a page's words).
pub fn t(lang: Lang, key: &str) -> &'static str {
    let c = catalogues();
    c[lang.index()]
        .get(key)
        .or_else(|| c[0].get(key))
        .map(String::as_str)
        .unwrap_or("?")
}

/// Whether the catalogue has a word for `key` (for codes that may be new, such as
/// a state a later BUC definition adds: those are shown as they are).
pub fn has(key: &str) -> bool {
    catalogues()[0].contains_key(key)
}

/// `t` with `{name}` placeholders filled in (the values are plain text; the
/// templates escape the result).
pub fn tf(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    let mut s = t(lang, key).to_owned();
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// A code in words: `prefix.code` from the catalogue, or the code itself when the
/// catalogue does not know it.
pub fn word(lang: Lang, prefix: &str, code: &str) -> String {
    let key = format!("{prefix}.{code}");
    if has(&key) {
        t(lang, &key).to_owned()
    } else {
        code.replace('_', " ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element and attribute name of the schemas has a label in French, Dutch
    /// and German (a schema that gains an element needs its labels too).
    #[test]
    fn every_sed_field_has_a_label_in_each_language() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sed-schemas");
        let mut names = std::collections::BTreeSet::new();
        for v in ["4.2", "4.3"] {
            for entry in std::fs::read_dir(dir.join(v)).unwrap() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
                for marker in ["element name=\"", "attribute name=\""] {
                    for part in text.split(marker).skip(1) {
                        names.insert(part[..part.find('"').unwrap()].to_owned());
                    }
                }
            }
        }
        names.remove("sedGVer");
        names.remove("sedVer");
        assert!(names.len() > 1000, "{}", names.len());
        for (i, src) in FIELD_SOURCES.iter().enumerate() {
            let c: BTreeMap<String, String> =
                toml::from_str(src).expect("a field catalogue does not parse");
            let missing: Vec<_> = names.iter().filter(|n| !c.contains_key(*n)).collect();
            assert!(missing.is_empty(), "catalogue {i} lacks {missing:?}");
            assert!(c.values().all(|v| !v.trim().is_empty()));
        }
        assert_eq!(field_label(Lang::En, "FamilyName"), "Family name");
        assert_ne!(field_label(Lang::Fr, "FamilyName"), "Family name");
    }

    #[test]
    fn every_catalogue_parses_and_has_every_key_of_every_other() {
        let parsed: Vec<BTreeMap<String, String>> = SOURCES
            .iter()
            .map(|s| toml::from_str(s).expect("a catalogue does not parse"))
            .collect();
        for (i, a) in parsed.iter().enumerate() {
            for (j, b) in parsed.iter().enumerate() {
                let missing: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).collect();
                assert!(
                    missing.is_empty(),
                    "{} has keys {} lacks: {missing:?}",
                    Lang::ALL[i].code(),
                    Lang::ALL[j].code()
                );
            }
            for (k, v) in a {
                assert!(!v.trim().is_empty(), "{k} is empty");
            }
        }
    }

    #[test]
    fn the_page_sources_use_only_keys_the_catalogues_have() {
        // Every literal key the page code passes to `t`/`tf` (its words are never
        // written in the code itself): a new string without a translation fails here.
        let code = [
            include_str!("mod.rs"),
            include_str!("case.rs"),
            include_str!("list.rs"),
            include_str!("sed_view.rs"),
            include_str!("act.rs"),
            include_str!("xsed.rs"),
            include_str!("ops.rs"),
        ];
        let mut seen = 0;
        for src in code {
            for call in ["t(lang, \"", "tf(lang, \"", "t(l, \"", "tf(l, \""] {
                for (i, _) in src.match_indices(call) {
                    let rest = &src[i + call.len()..];
                    let Some(end) = rest.find('"') else { continue };
                    let key = &rest[..end];
                    assert!(has(key), "page key {key} is in no catalogue");
                    seen += 1;
                }
            }
        }
        assert!(
            seen > 50,
            "the scan found only {seen} keys: has the code changed?"
        );
    }

    #[test]
    fn every_state_of_every_buc_and_every_stored_code_has_words() {
        let (cat, _) = crate::buc::definition::Catalogue::load_unchecked(std::path::Path::new(
            concat!(env!("CARGO_MANIFEST_DIR"), "/buc-definitions"),
        ))
        .expect("the BUC definitions load");
        for def in cat.bucs.values() {
            for state in def.states.keys() {
                assert!(
                    has(&format!("state.{state}")),
                    "state {state} of {} has no words",
                    def.id
                );
            }
        }
        assert!(has(&format!("state.{}", crate::buc::definition::CLOSED)));
        for r in ["CaseOwner", "Counterparty"] {
            assert!(has(&format!("role.{r}")));
        }
        for s in [
            "queued",
            "sent",
            "delivered",
            "rejected",
            "retrying",
            "failed",
        ] {
            assert!(has(&format!("msgstatus.{s}")), "{s}");
            assert!(s.parse::<crate::store::OutboxStatus>().is_ok());
        }
        for s in ["sed", "receipt", "error", "national", "notice"] {
            assert!(has(&format!("kind.{s}")), "{s}");
            assert!(s.parse::<crate::store::OutboxKind>().is_ok());
        }
        for s in ["sent", "received", "cancelled"] {
            assert!(has(&format!("docstatus.{s}")), "{s}");
        }
    }

    #[test]
    fn accept_language_picks_the_best_language_we_speak() {
        assert_eq!(negotiate("nl-BE,nl;q=0.9,en;q=0.8"), Some(Lang::Nl));
        assert_eq!(negotiate("es, de;q=0.5, fr;q=0.7"), Some(Lang::Fr));
        assert_eq!(negotiate("fr;q=0, de"), Some(Lang::De));
        assert_eq!(negotiate("es, it"), None);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "de-DE".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::De);
        h.insert(header::COOKIE, "eessi_lang=fr".parse().unwrap());
        assert_eq!(Lang::of(&h), Lang::Fr, "the user's choice wins");
        assert_eq!(
            tf(Lang::Fr, "case.late_by", &[("n", "3")]),
            "3 jour(s) de retard"
        );
        assert_eq!(
            word(Lang::Fr, "role", "CaseOwner"),
            "propriétaire du dossier"
        );
        assert_eq!(word(Lang::Nl, "state", "some_new_state"), "some new state");
    }
}
