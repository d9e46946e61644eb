//! The persons a SED names, for the case list's person search (issue 12, item 2):
//! every `PersonIdentification` block (common.xsd `PersonIdentificationType`, in
//! `InsuredPerson`, `Person` and the other person elements), read from the SED
//! element already parsed and validated, outside any transaction, and normalised
//! so that the store compares them with an index: names lower-case and without
//! accents, the birth date as the schema writes it, each PIN without separators.
//!
//! Personal data: nothing here logs, and the values never appear in an error.

use libxml::readonly::RoNode;
use unicode_normalization::UnicodeNormalization;

pub use crate::store::PersonKey;

/// At most this many persons are indexed per SED, and PINs per person: a SED
/// names a handful; the bound keeps a hostile one from writing thousands of rows.
pub const PERSONS_MAX: usize = 16;
pub const PINS_MAX: usize = 8;
/// A normalised name or PIN is cut to this many characters (the schema's
/// `NonEmptyString` allows 255).
const VALUE_MAX: usize = 100;

/// Lower-case, accents and other combining marks removed, every run of anything
/// but letters and digits one space, trimmed: "  Dupont-Van Der BRÜGGEN " and
/// "dupont van der bruggen" are the same name. Bounded to `VALUE_MAX` characters.
pub fn normalise_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
        if out.chars().count() >= VALUE_MAX {
            break;
        }
    }
    // Letters without a decomposition that people type without the mark.
    out.replace('ß', "ss")
        .replace('ø', "o")
        .replace('æ', "ae")
        .replace('œ', "oe")
        .replace('ł', "l")
        .replace('đ', "d")
}

/// A PIN as compared: letters and digits only, upper-case ("85.07.30-033.61" is
/// "85073003361"). Bounded to `VALUE_MAX` characters.
pub fn normalise_pin(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .take(VALUE_MAX)
        .collect()
}

/// The persons of a SED (its root element), each once, at most `PERSONS_MAX`,
/// with one key per PIN (at most `PINS_MAX`; one without a PIN when it has none).
pub fn persons(sed_root: RoNode) -> Vec<PersonKey> {
    let mut found = Vec::new();
    collect(sed_root, &mut found, 0);
    let mut keys = Vec::new();
    for block in found.into_iter().take(PERSONS_MAX) {
        keys.extend(keys_of(block));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Depth-first, in document order; a SED's person blocks are a few levels down.
fn collect(node: RoNode, out: &mut Vec<RoNode>, depth: usize) {
    if out.len() >= PERSONS_MAX || depth > 64 {
        return;
    }
    for child in super::xml::elements(node) {
        if child.get_name() == "PersonIdentification" {
            out.push(child);
        } else {
            collect(child, out, depth + 1);
        }
        if out.len() >= PERSONS_MAX {
            return;
        }
    }
}

fn text_of(node: RoNode, name: &str) -> Option<String> {
    super::xml::elements(node)
        .into_iter()
        .find(|c| c.get_name() == name)
        .map(|c| c.get_content().trim().to_owned())
}

fn keys_of(block: RoNode) -> Vec<PersonKey> {
    let family = text_of(block, "FamilyName")
        .map(|s| normalise_name(&s))
        .unwrap_or_default();
    let forename = text_of(block, "Forename")
        .map(|s| normalise_name(&s))
        .unwrap_or_default();
    let birth_date = text_of(block, "DateBirth")
        .filter(|d| is_date(d))
        .unwrap_or_default();
    let mut pins: Vec<(String, String)> = super::xml::elements(block)
        .into_iter()
        .filter(|c| c.get_name() == "PINPersonInEachInstitution")
        .flat_map(super::xml::elements)
        .filter(|p| p.get_name() == "PersonalIdentificationNumber")
        .filter_map(|p| {
            let country = text_of(p, "Country")?;
            let pin = normalise_pin(&text_of(p, "PersonalIdentificationNumber")?);
            (country.len() == 2 && !pin.is_empty()).then_some((country, pin))
        })
        .take(PINS_MAX)
        .collect();
    if pins.is_empty() {
        pins.push((String::new(), String::new()));
    }
    pins.into_iter()
        .map(|(pin_country, pin)| PersonKey {
            family: family.clone(),
            forename: forename.clone(),
            birth_date: birth_date.clone(),
            pin_country,
            pin,
        })
        .collect()
}

/// `YYYY-MM-DD` with a real calendar date.
pub fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case_accents_or_separators() {
        assert_eq!(
            normalise_name("  Dupont-Van Der BRÜGGEN "),
            "dupont van der bruggen"
        );
        assert_eq!(normalise_name("Élodie"), "elodie");
        assert_eq!(normalise_name("Strauß"), "strauss");
        assert_eq!(normalise_name("Søren Ørsted"), "soren orsted");
        assert_eq!(normalise_name("Łukasz"), "lukasz");
        assert_eq!(normalise_name("Παπαδόπουλος"), "παπαδοπουλος");
        assert_eq!(normalise_name("O'Brien"), "o brien");
        assert_eq!(normalise_name("---"), "");
        assert_eq!(normalise_name(&"a".repeat(300)).len(), VALUE_MAX);
    }

    #[test]
    fn pins_lose_their_separators() {
        assert_eq!(normalise_pin("85.07.30-033.61"), "85073003361");
        assert_eq!(normalise_pin(" ab 12/34 "), "AB1234");
    }

    #[test]
    fn every_person_block_of_a_real_sed_is_read_with_its_pins() {
        let body = std::fs::read("fixtures/sed/4.2/A003.xml").unwrap();
        let doc = crate::sed::xml::parse(&body, &crate::sed::xml::XmlLimits::default()).unwrap();
        let keys = persons(doc.get_root_readonly().unwrap());
        let pins: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| (k.pin_country.as_str(), k.pin.as_str()))
            .collect();
        assert_eq!(pins, [("BE", "85073100229"), ("NL", "123456782")]);
        for k in &keys {
            assert_eq!(
                (
                    k.family.as_str(),
                    k.forename.as_str(),
                    k.birth_date.as_str()
                ),
                ("verhoeven", "lotte", "1985-07-31")
            );
        }
    }

    #[test]
    fn a_sed_naming_many_persons_is_bounded() {
        let block = "<PersonIdentification><FamilyName>X</FamilyName><Forename>Y</Forename>\
            <DateBirth>2000-02-30</DateBirth><PINPersonInEachInstitution>\
            <PersonalIdentificationNumber><Country>BE</Country>\
            <PersonalIdentificationNumber>1</PersonalIdentificationNumber>\
            </PersonalIdentificationNumber></PINPersonInEachInstitution></PersonIdentification>";
        let many: String = (0..40)
            .map(|i| block.replace(">X<", &format!(">X{i}<")))
            .collect();
        let xml = format!("<S><A>{many}</A></S>");
        let doc =
            crate::sed::xml::parse(xml.as_bytes(), &crate::sed::xml::XmlLimits::default()).unwrap();
        let keys = persons(doc.get_root_readonly().unwrap());
        assert_eq!(keys.len(), PERSONS_MAX);
        // An impossible date is not indexed.
        assert!(keys.iter().all(|k| k.birth_date.is_empty()));
        assert!(keys.iter().all(|k| k.pin == "1" && k.pin_country == "BE"));
    }
}
