//! A SED read from its stored envelope and shown readably: every element a labelled
//! field (`FamilyName` → "Family name"), dates in words, country codes as names,
//! nested sections as nested definition lists. Read with quick-xml (no libxml2 on
//! the async threads), bounded in depth, elements and text; the SBDH around the SED
//! and the signature are left out (the raw XML is shown separately).

use maud::{Markup, html};
use quick_xml::events::Event;

use super::fmt::sed_date;
use super::i18n::{Lang, has, t};

/// One element of the SED.
#[derive(Debug, Default, PartialEq)]
pub struct Field {
    pub name: String,
    pub text: String,
    pub children: Vec<Field>,
}

const DEPTH_MAX: usize = 32;
const FIELDS_MAX: usize = 5000;
const TEXT_MAX: usize = 4096;

/// The SED element `sed` (its local name, e.g. `X009`) of a stored envelope, as a
/// tree; `None` if the envelope does not hold one or breaks the bounds.
pub fn read(envelope: &[u8], sed: &str) -> Option<Field> {
    let mut reader = quick_xml::Reader::from_reader(envelope);
    let mut stack: Vec<Field> = Vec::new();
    let mut count = 0usize;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let local = e.local_name().as_ref().to_owned();
                if stack.is_empty() && local != sed {
                    continue;
                }
                count += 1;
                if stack.len() >= DEPTH_MAX || count > FIELDS_MAX {
                    return None;
                }
                stack.push(Field {
                    name: local,
                    ..Field::default()
                });
            }
            Event::Empty(e) => {
                if stack.is_empty() {
                    continue;
                }
                let local = e.local_name().as_ref().to_owned();
                count += 1;
                if count > FIELDS_MAX {
                    return None;
                }
                stack.last_mut()?.children.push(Field {
                    name: local,
                    ..Field::default()
                });
            }
            Event::Text(e) => {
                if let Some(top) = stack.last_mut()
                    && top.text.len() < TEXT_MAX
                {
                    top.text.push_str(&e);
                }
            }
            Event::GeneralRef(e) => {
                if let Some(top) = stack.last_mut()
                    && top.text.len() < TEXT_MAX
                {
                    top.text.push('&');
                    top.text.push_str(&e);
                    top.text.push(';');
                }
            }
            Event::CData(e) => {
                if let Some(top) = stack.last_mut()
                    && top.text.len() < TEXT_MAX
                {
                    let raw = &*e;
                    top.text.push_str(&quick_xml::escape::escape(raw));
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    continue;
                };
                done.text = quick_xml::escape::unescape(done.text.trim())
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                if done.name == "Signature" {
                    // never part of a SED's content
                } else if let Some(parent) = stack.last_mut() {
                    parent.children.push(done);
                } else {
                    return Some(done);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// An element name as words: `FamilyName` → "Family name",
/// `PINPersonInEachInstitution` → "PIN person in each institution".
pub fn label(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()))
            });
        if (boundary || c == '_') && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        if c != '_' {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let mut out: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let acronym = w.len() > 1 && w.chars().all(|c| c.is_uppercase() || c.is_ascii_digit());
        if acronym || i == 0 {
            out.push(w.clone());
        } else {
            out.push(w.to_lowercase());
        }
    }
    out.join(" ")
}

/// A value in words: a date, a country code (in an element that names a country)
/// as the country's name; else as it is.
fn value(lang: Lang, name: &str, text: &str) -> String {
    if let Some(d) = sed_date(lang, text) {
        return d;
    }
    let key = format!("country.{text}");
    if name.contains("Country") && text.len() == 2 && has(&key) {
        return format!("{} ({text})", t(lang, &key));
    }
    text.to_owned()
}

fn fields(lang: Lang, list: &[Field]) -> Markup {
    html! {
        dl {
            @for f in list {
                dt { (super::i18n::field_label(lang, &f.name)) }
                @if f.children.is_empty() {
                    dd data-field=(f.name) { (value(lang, &f.name, &f.text)) }
                } @else {
                    dd { (fields(lang, &f.children)) }
                }
            }
        }
    }
}

/// The SED as a readable section, or a note that it cannot be shown.
pub fn render(lang: Lang, envelope: &[u8], sed: &str) -> Markup {
    match read(envelope, sed) {
        Some(root) => html! { div class="sed" { (fields(lang, &root.children)) } },
        None => html! { p { (t(lang, "case.sed_unreadable")) } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("FamilyName"), "Family name");
        assert_eq!(
            label("PINPersonInEachInstitution"),
            "PIN person in each institution"
        );
        assert_eq!(label("DateBirth"), "Date birth");
        assert_eq!(label("InstitutionID"), "Institution ID");
        assert_eq!(label("Item"), "Item");
    }

    #[test]
    fn a_stored_sed_renders_as_labelled_fields_with_dates_and_countries_in_words() {
        let xml = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sed/4.2/X009.xml"
        ))
        .unwrap();
        // Wrapped as an envelope would be, with a signature beside it.
        let mut env = b"<Env><Header><Type>x</Type></Header><Payload>".to_vec();
        let body = String::from_utf8(xml).unwrap();
        let body = body.split_once("?>").map(|(_, b)| b).unwrap();
        env.extend_from_slice(body.replace("Peeters", "Peeters &amp; Co").as_bytes());
        env.extend_from_slice(
            b"</Payload><ds:Signature xmlns:ds=\"x\"><ds:X>1</ds:X></ds:Signature></Env>",
        );
        let root = read(&env, "X009").expect("the SED is found");
        assert_eq!(root.name, "X009");
        let html = render(Lang::Fr, &env, "X009").into_string();
        assert!(
            html.contains(
                "<dt>Nom de famille</dt><dd data-field=\"FamilyName\">Peeters &amp; Co</dd>"
            ),
            "{html}"
        );
        assert!(html.contains(">9 septembre 1961<"), "{html}");
        assert!(html.contains(">Belgique (BE)<"), "{html}");
        assert!(
            html.contains("<dt>NIP de la personne dans chaque institution</dt><dd><dl>"),
            "{html}"
        );
        assert!(!html.contains("Signature"));
        // In English, the element names in words.
        let en = render(Lang::En, &env, "X009").into_string();
        assert!(
            en.contains("<dt>PIN person in each institution</dt>"),
            "{en}"
        );
        assert!(read(&env, "X010").is_none());
        assert!(read(b"<X009><a>", "X009").is_none(), "truncated");
        let deep = format!(
            "{}{}",
            "<X009>".to_owned() + &"<a>".repeat(40),
            "</a>".repeat(40) + "</X009>"
        );
        assert!(read(deep.as_bytes(), "X009").is_none(), "too deep");
    }
}
