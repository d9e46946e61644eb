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
