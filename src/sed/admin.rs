//! The administrative SEDs the switch writes by itself when a timer fires
//! (`switch::timers`): the reminder (X009) of an overdue request and the closure
//! (X001) of an auto-close rule. Both carry the case's person in a light block
//! (`ContextPerson`), read from a document of the case as it was signed.
//!
//! The person's data is personal: it is never logged, and `ContextPerson`'s
//! `Debug` does not show it.

use chrono::NaiveDate;

use crate::ids::{DocumentId, SedType, SedVersion};
use crate::sed::xml::{self, XmlLimits, escape_text};

/// The light person block of the X-SEDs (`ContextPersonType`).
#[derive(Clone, PartialEq, Eq)]
pub struct ContextPerson {
    family_name: String,
    forename: String,
    date_birth: String,
}

impl std::fmt::Debug for ContextPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContextPerson(..)")
    }
}

/// The first person named in the SED of a signed envelope: the first
/// `FamilyName`, `Forename` and `DateBirth` elements of the SED, in document order
/// (every person block of the schemas names them in that form). None when the
/// SED names no person. The error names no value.
pub fn context_person(
    envelope: &[u8],
    limits: &XmlLimits,
) -> Result<Option<ContextPerson>, String> {
    crate::store::debug_assert_outside_transaction("reading a stored envelope");
    let doc = xml::parse(envelope, limits).map_err(|e| e.to_string())?;
    let (_, sed) = crate::sed::envelope::read(&doc).map_err(|e| e.to_string())?;
    let sed_ns = xml::ns(sed);
    let mut found: [Option<String>; 3] = [None, None, None];
    let names = ["FamilyName", "Forename", "DateBirth"];
    let mut stack = vec![sed];
    while let Some(node) = stack.pop() {
        for (i, name) in names.iter().enumerate() {
            if found[i].is_none() && xml::is(node, &sed_ns, name) {
                let text = node.get_content().trim().to_owned();
                if !text.is_empty() {
                    found[i] = Some(text);
                }
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
        // Depth first, in document order.
        let mut children = xml::elements(node);
        children.reverse();
        stack.extend(children);
    }
    let [Some(family_name), Some(forename), Some(date_birth)] = found else {
        return Ok(None);
    };
    Ok(Some(ContextPerson {
        family_name,
        forename,
        date_birth,
    }))
}

fn root(sed: &str, version: &SedVersion) -> String {
    let (g, v) = version.generation_and_version();
    format!(
        "<sed:{sed} xmlns:sed=\"{}\" sedGVer=\"{g}\" sedVer=\"{v}\">",
        version.namespace()
    )
}

fn person(p: &ContextPerson) -> String {
    format!(
        "<sed:ContextPerson><sed:FamilyName>{}</sed:FamilyName><sed:Forename>{}</sed:Forename>\
         <sed:DateBirth>{}</sed:DateBirth></sed:ContextPerson>",
        escape_text(&p.family_name),
        escape_text(&p.forename),
        escape_text(&p.date_birth)
    )
}

/// An X009 (reminder) of `chased`, a `chased_sed` whose answer was due on `due`.
pub fn x009(
    version: &SedVersion,
    p: &ContextPerson,
    chased_sed: &SedType,
    chased: &DocumentId,
    due: NaiveDate,
) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}{}<sed:Reminder><sed:Item>\
         <sed:SedType>{chased_sed}</sed:SedType><sed:DocumentID>{chased}</sed:DocumentID>\
         <sed:Description>The answer to our {chased_sed} was due on {due}</sed:Description>\
         </sed:Item></sed:Reminder></sed:X009>",
        root("X009", version),
        person(p),
    )
    .into_bytes()
}

/// An X001 (closure) made by an auto-close rule on `date`, with the rule's reason.
pub fn x001(version: &SedVersion, p: &ContextPerson, date: NaiveDate, reason: &str) -> Vec<u8> {
    let reason: String = reason.trim().chars().take(2000).collect();
    let reason_text = if reason.is_empty() {
        String::new()
    } else {
        format!("<sed:ReasonText>{}</sed:ReasonText>", escape_text(&reason))
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}{}<sed:Closure><sed:Date>{date}</sed:Date>\
         <sed:ReasonType>other</sed:ReasonType>{reason_text}<sed:Mode>automatic</sed:Mode>\
         </sed:Closure></sed:X001>",
        root("X001", version),
        person(p),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::peer::{Craft, craft_with};
    use crate::ids::CaseId;

    fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn person_of_a003(version: &str) -> ContextPerson {
        let body = std::fs::read(root().join(format!("fixtures/sed/{version}/A003.xml"))).unwrap();
        let signer = crate::signing::Signer::from_files(
            &root().join("fixtures/pki/NL_SVB.key.pem"),
            &root().join("fixtures/pki/NL_SVB.crt.pem"),
        )
        .unwrap();
        let mut c = Craft::new(
            "NL:SVB",
            "BE:ONSS",
            "LA_BUC_02",
            "A003",
            &CaseId::random(),
            &body,
        );
        c.header.version = SedVersion::parse(version).unwrap();
        let envelope = craft_with(&signer, &c).unwrap().body;
        context_person(&envelope, &XmlLimits::default())
            .unwrap()
            .expect("A003 names its insured person")
    }

    fn valid(version: &str, sed: &str, body: &[u8]) {
        let v = SedVersion::parse(version).unwrap();
        let schema = crate::sed::validate::sed_schema_path(
            &root().join("sed-schemas"),
            &v,
            &SedType::parse(sed).unwrap(),
        );
        let doc = xml::parse(body, &XmlLimits::default()).unwrap();
        if let Err(e) = crate::sed::validate::validate_document(&schema, &doc) {
            panic!(
                "{sed} {version} is not valid: {e:?}\n{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn reminders_and_closures_are_valid_in_both_versions_and_the_person_is_not_shown() {
        for version in ["4.2", "4.3"] {
            let p = person_of_a003(version);
            assert_eq!(format!("{p:?}"), "ContextPerson(..)");
            let v = SedVersion::parse(version).unwrap();
            let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
            let x009 = x009(
                &v,
                &p,
                &SedType::parse("A003").unwrap(),
                &DocumentId::random(),
                day,
            );
            valid(version, "X009", &x009);
            let x001 = x001(&v, &p, day, "closes itself <after> 60 days & more");
            valid(version, "X001", &x001);
            let text = String::from_utf8(x001).unwrap();
            assert!(text.contains("&lt;after&gt; 60 days &amp; more"), "{text}");
            assert!(text.contains(&p.family_name));
        }
    }
}
