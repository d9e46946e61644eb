//! Tests of the adapter engine and of the shipped adapters: golden files for each
//! national fixture (rewritten with `UPDATE_GOLDEN=1`, reviewed in the diff),
//! schema validation of every output by libxml2 and of every golden file, both
//! sides, by `xmllint`, the list of shipped adapters against their BUCs and the
//! demo configuration's grants, refusal of every invalid fixture with the right
//! error, and load-time checking of broken definitions written into a temporary
//! directory. Paths are relative to the crate root, where `cargo test` runs.

use std::path::Path;
use std::process::Command;

use super::*;
use crate::sed::validate::sed_schema_path;

fn v42() -> SedVersion {
    SedVersion::parse("4.2").expect("4.2 is a version")
}

fn shipped() -> Adapters {
    Adapters::load(Path::new("adapters")).unwrap_or_else(|e| panic!("{e}"))
}

fn translate_fixture(adapter: &str, fixture: &Path) -> Result<Translated, AdaptError> {
    let adapters = shipped();
    let adapter = adapters
        .get(adapter)
        .unwrap_or_else(|| panic!("no adapter {adapter}"));
    let bytes = std::fs::read(fixture).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    adapter.translate(&bytes, &XmlLimits::default(), &v42())
}

/// Compare `actual` with the golden file, or rewrite it under `UPDATE_GOLDEN=1`.
fn check_golden(golden: &Path, actual: &str) {
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden.parent().expect("golden files live in a directory"))
            .expect("create the golden directory");
        std::fs::write(golden, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            golden.display()
        )
    });
    if expected == actual {
        return;
    }
    let first = expected
        .lines()
        .zip(actual.lines())
        .position(|(e, a)| e != a)
        .unwrap_or(expected.lines().count().min(actual.lines().count()));
    panic!(
        "{} differs from the translation, first at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
         (run with UPDATE_GOLDEN=1 to accept the new output and review the diff)\n\
         --- full actual output ---\n{actual}",
        golden.display(),
        first + 1,
        expected.lines().nth(first).unwrap_or("<end of file>"),
        actual.lines().nth(first).unwrap_or("<end of output>"),
    );
}

/// The output must satisfy the SED schema, by libxml2 through our own
/// `validate_document` and by the independent `xmllint`.
fn check_valid(translated: &Translated) {
    let schema = sed_schema_path(Path::new("sed-schemas"), &v42(), &translated.sed);
    let doc = crate::sed::xml::parse(translated.sed_xml.as_bytes(), &XmlLimits::default())
        .unwrap_or_else(|e| panic!("output does not parse: {e}\n{}", translated.sed_xml));
    validate_document(&schema, &doc)
        .unwrap_or_else(|e| panic!("output is not a valid SED: {e}\n{}", translated.sed_xml));

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{}.xml", translated.sed));
    std::fs::write(&file, &translated.sed_xml).expect("write the output");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("xmllint runs");
    assert!(
        out.status.success(),
        "xmllint refuses the output: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        translated.sed_xml
    );
}

/// The header a received SED of the golden files arrives under: from the
/// foreign institution the national golden message writes to, to the Belgian
/// institution that wrote it.
fn golden_header(forward: &Translated) -> Header {
    Header {
        from: forward.to.clone(),
        to: forward.from.clone(),
        case_id: CaseId::parse("0123456789abcdef0123456789abcdef").expect("case id"),
    }
}

/// What the envelope of the golden received SED says about the document: the
/// reverse writes its id (and, in a reply format, the document it answers).
fn golden_document() -> ReceivedDocument {
    ReceivedDocument {
        id: DocumentId::parse("00112233445566778899aabbccddeeff").expect("document id"),
        version: 1,
        related: Some(DocumentId::parse("fedcba9876543210fedcba9876543210").expect("document id")),
    }
}

fn read_golden(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every shipped adapter, both ways: `golden/national.xml` translates to
/// `golden/sed.xml` (a valid SED), and `golden/received.sed.xml` (a SED as a
/// foreign institution sends it) comes back as `golden/received.national.xml`
/// (valid against the national XSD, which `to_national` checks), with the
/// envelope's facts about the document.
#[test]
fn every_adapter_matches_its_golden_files_both_ways() {
    let adapters = shipped();
    for name in adapters.names() {
        let adapter = adapters.get(name).expect("listed");
        let dir = Path::new("adapters").join(name).join("golden");
        let national = read_golden(&dir.join("national.xml"));
        let forward = adapter
            .translate(&national, &XmlLimits::default(), &v42())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_golden(&dir.join("sed.xml"), &forward.sed_xml);
        check_valid(&forward);

        let received = read_golden(&dir.join("received.sed.xml"));
        let back = adapter
            .to_national_of(
                &received,
                &golden_header(&forward),
                Some(&golden_document()),
                &XmlLimits::default(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        check_golden(&dir.join("received.national.xml"), &back);
    }
    assert!(adapters.names().len() >= 19, "{:?}", adapters.names());
}

#[test]
fn shipped_adapters_keep_their_routing_facts() {
    let adapters = shipped();
    let onss = adapters.get("onss-posting").expect("onss-posting");
    assert_eq!(
        (onss.buc.as_str(), onss.sed.as_str()),
        ("LA_BUC_04", "A009")
    );
    let t = translate_fixture(
        "onss-posting",
        Path::new("fixtures/national/onss-posting.xml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((t.from.as_str(), t.to.as_str()), ("BE:ONSS", "NL:SVB"));
    assert_eq!(t.case_id, None);
    assert!(t.sed_xml.starts_with(
        "<sed:A009 xmlns:sed=\"http://ec.europa.eu/eessi/ns/4_2\" sedGVer=\"4\" sedVer=\"2\">"
    ));
    let inasti = adapters.get("inasti-decision").expect("inasti-decision");
    assert_eq!(
        (inasti.buc.as_str(), inasti.sed.as_str()),
        ("LA_BUC_02", "A003")
    );
    let sed = SedType::parse("A003").expect("sed type");
    let for_a003: Vec<&str> = adapters.for_sed(&sed).map(|a| a.name.as_str()).collect();
    assert_eq!(for_a003, ["inasti-decision"]);
}

/// The shipped adapters, by sector (issue 10: at least one per sector), each
/// for a SED its BUC carries: an adapter for a SED its BUC cannot send would
/// have every submission refused.
#[test]
fn every_sector_has_adapters_for_seds_their_buc_carries() {
    let expected = [
        ("onss-posting", "LA_BUC_04", "A009"),
        ("inasti-decision", "LA_BUC_02", "A003"),
        ("onss-disagreement", "LA_BUC_02", "A004"),
        ("inasti-approval", "LA_BUC_02", "A012"),
        ("onem-periods", "UB_BUC_01", "U002"),
        ("onem-wages", "UB_BUC_01", "U004"),
        ("onem-frontier-periods", "UB_BUC_01", "U017"),
        ("onem-family", "UB_BUC_01", "U006"),
        ("sfp-pension-claim", "P_BUC_01", "P2000"),
        ("sfp-periods", "P_BUC_01", "P5000"),
        ("sfp-decision", "P_BUC_01", "P6000"),
        ("fb-competence", "FB_BUC_01", "F001"),
        ("fb-decision", "FB_BUC_01", "F002"),
        ("inami-entitlement", "S_BUC_01a", "S072"),
        ("inami-claim", "S_BUC_19", "S080"),
        ("fedris-accident", "AW_BUC_01b", "DA002"),
        ("onss-recovery", "R_BUC_07", "R017"),
        ("h-information", "H_BUC_01", "H001"),
        ("h-reply", "H_BUC_01", "H002"),
    ];
    let adapters = shipped();
    let mut names: Vec<&str> = expected.iter().map(|(n, _, _)| *n).collect();
    names.sort_unstable();
    assert_eq!(adapters.names(), names);
    let (catalogue, _) =
        crate::buc::definition::Catalogue::load_unchecked(Path::new("buc-definitions"))
            .unwrap_or_else(|e| panic!("{e}"));
    for (name, buc, sed) in expected {
        let a = adapters.get(name).expect("listed");
        assert_eq!((a.buc.as_str(), a.sed.as_str()), (buc, sed), "{name}");
        let def = catalogue
            .get(&a.buc)
            .unwrap_or_else(|| panic!("{name}: no BUC {buc}"));
        assert!(
            def.sed_types().contains(&a.sed),
            "{name}: {buc} does not carry {sed}"
        );
    }
    let sectors: std::collections::BTreeSet<&str> = expected
        .iter()
        .filter_map(|(_, buc, _)| buc.split('_').next())
        .collect();
    assert_eq!(
        sectors.into_iter().collect::<Vec<_>>(),
        ["AW", "FB", "H", "LA", "P", "R", "S", "UB"]
    );
}

/// Every golden file, both sides, is valid by the independent `xmllint`: the
/// national ones against the adapter's XSD, the SEDs (the one the adapter
/// made and the one written as a foreign institution would send it) against
/// the SED's schema.
#[test]
fn every_golden_file_is_valid_by_xmllint_both_sides() {
    let adapters = shipped();
    for name in adapters.names() {
        let adapter = adapters.get(name).expect("listed");
        let dir = Path::new("adapters").join(name).join("golden");
        let sed_schema = sed_schema_path(Path::new("sed-schemas"), &v42(), &adapter.sed);
        for (schema, files) in [
            (&adapter.schema, ["national.xml", "received.national.xml"]),
            (&sed_schema, ["sed.xml", "received.sed.xml"]),
        ] {
            let out = Command::new("xmllint")
                .arg("--noout")
                .arg("--schema")
                .arg(schema)
                .args(files.iter().map(|f| dir.join(f)))
                .output()
                .expect("xmllint runs");
            assert!(
                out.status.success(),
                "{name}: xmllint refuses a golden file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// The demo configuration grants every adapter it names to Belgian
/// institutions of the registry that handle the adapter's BUC, and grants each
/// new adapter: a grant to an unknown adapter or institution, or to one
/// without the competence, is a grant nobody can use.
#[test]
fn the_demo_grants_adapters_to_institutions_that_send_their_sed() {
    use crate::ids::Role;
    let config = crate::config::Config::load(Path::new("fixtures/config/be.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let registry = crate::signing::registry::Registry::load(&config.registry)
        .unwrap_or_else(|e| panic!("{e}"));
    let adapters = shipped();
    let grants = &config.http.adapter_grants;
    for (name, institutions) in grants {
        let adapter = adapters
            .get(name)
            .unwrap_or_else(|| panic!("a grant of the unknown adapter {name}"));
        assert!(!institutions.is_empty(), "{name}: granted to nobody");
        for id in institutions {
            let inst = registry
                .institution(id)
                .unwrap_or_else(|| panic!("{name}: {id} is not in the registry"));
            assert_eq!(id.country(), config.country, "{name}: {id}");
            assert!(
                [Role::CaseOwner, Role::Counterparty]
                    .into_iter()
                    .any(|r| inst.handles(&adapter.buc, r)),
                "{name}: {id} does not handle {}",
                adapter.buc
            );
        }
    }
    for name in [
        "sfp-periods",
        "sfp-decision",
        "onem-frontier-periods",
        "onem-family",
        "fb-decision",
        "inami-claim",
        "h-reply",
    ] {
        assert!(grants.contains_key(name), "{name} is granted to nobody");
    }
}

/// P6000's amount carries its currency in an attribute, which the engine maps
/// only as a constant: sfp-decision has one national element per currency,
/// at most one of them (a choice), and each reads back only its own.
#[test]
fn a_pension_amount_keeps_its_currency_both_ways() {
    let adapters = shipped();
    let sfp = adapters.get("sfp-decision").expect("sfp-decision");
    let dir = Path::new("adapters/sfp-decision/golden");
    let national = std::fs::read_to_string(dir.join("national.xml")).expect("golden");
    let chf = national.replace("<EUR>1873.46</EUR>", "<CHF>2101.15</CHF>");
    let t = sfp
        .translate(chf.as_bytes(), &XmlLimits::default(), &v42())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        t.sed_xml
            .contains("<sed:MonthlyGrossAmount currency=\"CHF\">2101.15</sed:MonthlyGrossAmount>"),
        "{}",
        t.sed_xml
    );
    assert_eq!(t.sed_xml.matches("MonthlyGrossAmount").count(), 2);
    check_valid(&t);
    let two = national.replace("<EUR>1873.46</EUR>", "<EUR>1.00</EUR><CHF>2.00</CHF>");
    assert!(matches!(
        sfp.translate(two.as_bytes(), &XmlLimits::default(), &v42()),
        Err(AdaptError::NationalInvalid(_))
    ));

    let received = std::fs::read_to_string(dir.join("received.sed.xml")).expect("golden");
    let header = golden_header(&t);
    let back = |sed: &str| {
        sfp.to_national(sed.as_bytes(), &header, &XmlLimits::default())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let pln = back(&received.replace("currency=\"EUR\">412.80<", "currency=\"PLN\">1750.00<"));
    assert!(
        pln.contains("<MonthlyGrossAmount>\n      <PLN>1750.00</PLN>\n    </MonthlyGrossAmount>"),
        "{pln}"
    );
    assert!(!pln.contains("<EUR>"), "{pln}");
    // A currency the format has no element for is left out; the rest comes back.
    let usd = back(&received.replace("currency=\"EUR\"", "currency=\"USD\""));
    assert!(!usd.contains("MonthlyGrossAmount"), "{usd}");
    assert!(usd.contains("<Outcome>2</Outcome>"), "{usd}");
}

#[test]
fn optional_national_parts_leave_no_sed_elements_and_case_id_is_carried() {
    let national =
        std::fs::read_to_string("fixtures/national/inasti-decision.xml").expect("fixture");
    // Drop the person's address and the self-employed activity (both optional),
    // add an end date, a case id and text that needs escaping.
    let start = national.find("    <Address>").expect("person address");
    let end = national.find("</Address>").expect("end of address") + "</Address>\n".len();
    let mut edited = format!("{}{}", &national[..start], &national[end..]);
    let start = edited.find("  <SelfEmployedActivity>").expect("activity");
    let end = edited
        .find("</SelfEmployedActivity>")
        .expect("end of activity")
        + "</SelfEmployedActivity>\n".len();
    edited.replace_range(start..end, "");
    let edited = edited
        .replace(
            "<Receiver>DE:DRV</Receiver>",
            "<Receiver>DE:DRV</Receiver>\n  <CaseId>0123456789abcdef0123456789abcdef</CaseId>",
        )
        .replace(
            "<StartDate>2026-01-01</StartDate>",
            "<StartDate>2026-01-01</StartDate>\n    <EndDate>2027-12-31</EndDate>",
        )
        .replace(
            "<LastName>Dubois</LastName>",
            "<LastName>Dubois &amp; D&lt;</LastName>",
        );
    let adapters = shipped();
    let t = adapters
        .get("inasti-decision")
        .expect("adapter")
        .translate(edited.as_bytes(), &XmlLimits::default(), &v42())
        .unwrap_or_else(|e| panic!("{e}\n{edited}"));
    assert_eq!(
        t.case_id.as_ref().map(CaseId::as_str),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert!(!t.sed_xml.contains("<sed:Address>"), "{}", t.sed_xml);
    assert!(!t.sed_xml.contains("<sed:Employer>"), "{}", t.sed_xml);
    assert!(
        t.sed_xml
            .contains("<sed:FamilyName>Dubois &amp; D&lt;</sed:FamilyName>"),
        "{}",
        t.sed_xml
    );
    assert!(
        t.sed_xml.contains(
            "<sed:StartDate>2026-01-01</sed:StartDate>\n      <sed:EndDate>2027-12-31</sed:EndDate>"
        ),
        "{}",
        t.sed_xml
    );
    check_valid(&t);
}

fn expect_invalid_with_lines(name: &str, result: Result<Translated, AdaptError>) {
    match result {
        Err(AdaptError::NationalInvalid(vs)) => assert!(
            vs.iter().any(|v| v.line.is_some()),
            "{name}: no violation has a line: {vs:?}"
        ),
        other => panic!("{name}: expected NationalInvalid, got {other:?}"),
    }
}

#[test]
fn every_invalid_national_fixture_is_refused_with_the_right_error() {
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir("fixtures/national/invalid")
        .expect("invalid fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_owned();
        let adapter = ["onss-posting", "inasti-decision"]
            .into_iter()
            .find(|a| name.starts_with(a))
            .unwrap_or_else(|| panic!("{name}: no adapter for this fixture"));
        let result = translate_fixture(adapter, &path);
        match name.trim_start_matches(adapter) {
            "-malformed" => assert!(
                matches!(
                    result,
                    Err(AdaptError::Xml(XmlError::NotWellFormed {
                        line: Some(_),
                        ..
                    }))
                ),
                "{name}: {result:?}"
            ),
            "-doctype" => assert!(
                matches!(result, Err(AdaptError::Xml(XmlError::Doctype))),
                "{name}: {result:?}"
            ),
            "-missing-ssin" | "-bad-date" | "-bad-article" | "-wrong-namespace" => {
                expect_invalid_with_lines(&name, result)
            }
            other => panic!("{name}: no expectation for {other:?}; add one here"),
        }
        seen += 1;
    }
    assert_eq!(seen, 6, "every invalid fixture is checked");
}

#[test]
fn invalid_fixtures_name_the_offending_element() {
    let result = translate_fixture(
        "onss-posting",
        Path::new("fixtures/national/invalid/onss-posting-bad-date.xml"),
    );
    match result {
        Err(AdaptError::NationalInvalid(vs)) => assert!(
            vs.iter().any(|v| v.element.as_deref()
                == Some("/PostingNotification/Posting/StartDate")
                && v.line == Some(43)),
            "{vs:?}"
        ),
        other => panic!("expected NationalInvalid, got {other:?}"),
    }
}

/// A definition refused at load with exactly these problems (each named by a
/// fragment of its text), all listed at once.
fn expect_definition_problems(loaded: Result<Adapters, AdaptError>, expected: &[&str]) {
    match loaded {
        Err(AdaptError::Definition { problems, .. }) => {
            for n in expected {
                assert!(
                    problems.iter().any(|p| p.contains(n)),
                    "no problem mentions {n:?}: {problems:#?}"
                );
            }
            assert_eq!(problems.len(), expected.len(), "{problems:#?}");
        }
        other => panic!("expected Definition, got {other:?}"),
    }
}

// ---- a tiny adapter of our own, for the engine's rules ----

const TINY_XSD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="urn:test:tiny"
           targetNamespace="urn:test:tiny" elementFormDefault="qualified">
  <xs:element name="Msg">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="From" type="xs:string"/>
        <xs:element name="To" type="xs:string"/>
        <xs:element name="Ref" type="xs:string" minOccurs="0"/>
        <xs:element name="Doc" type="xs:string" minOccurs="0"/>
        <xs:element name="Answers" type="xs:string" minOccurs="0"/>
        <xs:element name="Updates" type="xs:string" minOccurs="0"/>
        <xs:element name="Gender" type="xs:string"/>
        <xs:element name="Name" type="xs:string" minOccurs="0"/>
        <xs:element name="Missing" type="xs:string" minOccurs="0"/>
        <xs:element name="Nick" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="Item" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="Code" type="xs:string" minOccurs="0"/>
            </xs:sequence>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"#;

const TINY_TOML: &str = r#"
name = "tiny"
title = "test adapter"
national_schema = "national.xsd"
buc = "LA_BUC_04"
sed = "A009"

[namespaces]
t = "urn:test:tiny"

[envelope]
from = "t:From"
to = "t:To"

[codes.gender]
"1" = "male"
"2" = "female"

[[map]]
to = "Person/Id/Sex"
codes = "gender"
from = "t:Gender"

[[map]]
to = "Person/Id/Name"
from = "t:Name"

[[map]]
to = "Person/Nick"
from = "t:Nick"
required = false

[[map]]
to = "Optional/Group/Code"
from = "t:Missing"
required = false

[[map]]
to = "Item"
each = "t:Item"
required = false
[[map.fields]]
to = "Inner/Code"
from = "t:Code"
required = false
transform = "upper"
[[map.fields]]
to = "Inner/Fixed"
value = "x"
attributes = { kind = "a&b" }
"#;

fn tiny_adapter(toml: &str) -> (tempfile::TempDir, Result<Adapters, AdaptError>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let adapter_dir = dir.path().join("tiny");
    std::fs::create_dir(&adapter_dir).expect("mkdir");
    std::fs::write(adapter_dir.join("national.xsd"), TINY_XSD).expect("write xsd");
    std::fs::write(adapter_dir.join("adapter.toml"), toml).expect("write toml");
    let loaded = Adapters::load(dir.path());
    (dir, loaded)
}

fn tiny(body: &str) -> Result<Translated, AdaptError> {
    let (_dir, loaded) = tiny_adapter(TINY_TOML);
    let adapters = loaded.unwrap_or_else(|e| panic!("{e}"));
    let xml =
        format!("<Msg xmlns=\"urn:test:tiny\"><From>BE:ONSS</From><To>NL:SVB</To>{body}</Msg>");
    adapters
        .get("tiny")
        .expect("tiny")
        .translate(xml.as_bytes(), &XmlLimits::default(), &v42())
}

#[test]
fn shared_prefixes_optional_groups_and_repetition() {
    let t = tiny("<Gender>2</Gender><Name>Ann</Name><Item><Code>ab</Code></Item><Item/>")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        t.sed_xml,
        "<sed:A009 xmlns:sed=\"http://ec.europa.eu/eessi/ns/4_2\" sedGVer=\"4\" sedVer=\"2\">\n\
         \x20 <sed:Person>\n\
         \x20   <sed:Id>\n\
         \x20     <sed:Sex>female</sed:Sex>\n\
         \x20     <sed:Name>Ann</sed:Name>\n\
         \x20   </sed:Id>\n\
         \x20 </sed:Person>\n\
         \x20 <sed:Item>\n\
         \x20   <sed:Inner>\n\
         \x20     <sed:Code>AB</sed:Code>\n\
         \x20     <sed:Fixed kind=\"a&amp;b\">x</sed:Fixed>\n\
         \x20   </sed:Inner>\n\
         \x20 </sed:Item>\n\
         \x20 <sed:Item>\n\
         \x20   <sed:Inner>\n\
         \x20     <sed:Fixed kind=\"a&amp;b\">x</sed:Fixed>\n\
         \x20   </sed:Inner>\n\
         \x20 </sed:Item>\n\
         </sed:A009>\n"
    );
}

#[test]
fn mapping_issues_name_every_field() {
    // Gender 9 is valid national XML (xs:string) but not in the code table; the
    // name is required and absent; two nicknames cannot fill one element.
    match tiny("<Gender>9</Gender><Nick>a</Nick><Nick>b</Nick>") {
        Err(AdaptError::Mapping(issues)) => {
            assert_eq!(issues.len(), 3, "{issues:?}");
            assert!(
                issues.iter().any(|i| i.field == "t:Gender"
                    && i.value.as_deref() == Some("9")
                    && i.message.contains("gender")),
                "{issues:?}"
            );
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == "t:Name" && i.message.contains("Person/Id/Name")),
                "{issues:?}"
            );
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == "t:Nick" && i.message.contains("2 nodes")),
                "{issues:?}"
            );
        }
        other => panic!("expected Mapping, got {other:?}"),
    }
}

#[test]
fn a_bad_institution_id_in_the_envelope_is_a_mapping_issue() {
    let (_dir, loaded) = tiny_adapter(TINY_TOML);
    let adapters = loaded.unwrap_or_else(|e| panic!("{e}"));
    let xml = "<Msg xmlns=\"urn:test:tiny\"><From>be:onss</From><To>NL:SVB</To>\
               <Gender>1</Gender><Name>A</Name></Msg>";
    match adapters.get("tiny").expect("tiny").translate(
        xml.as_bytes(),
        &XmlLimits::default(),
        &v42(),
    ) {
        Err(AdaptError::Mapping(issues)) => assert!(
            issues
                .iter()
                .any(|i| i.field == "t:From" && i.value.as_deref() == Some("be:onss")),
            "{issues:?}"
        ),
        other => panic!("expected Mapping, got {other:?}"),
    }
}

#[test]
fn load_reports_every_problem_of_a_broken_definition() {
    let broken = r#"
name = "tiny"
title = "broken"
national_schema = "missing.xsd"
buc = "LA BUC 04"
sed = "A009"

[namespaces]
t = "urn:test:tiny"

[envelope]
from = "t:From["
to = "q:To"

[codes.gender]
"1" = "male"

[[map]]
to = "Person/Sex"
from = "t:Gender"
codes = "sexes"

[[map]]
to = "Person/Name"
from = "nosuchfunction(t:Name)"
transform = "lower"

[[map]]
to = "Item"
each = "t:Item"
[[map.fields]]
to = "Bad Name"
value = "x"
[[map.fields]]
to = "Code"
from = "t:Code"
value = "both"
"#;
    let (dir, loaded) = tiny_adapter(broken);
    match loaded {
        Err(AdaptError::Definition { path, problems }) => {
            assert_eq!(path, dir.path().join("tiny/adapter.toml"));
            let has = |needle: &str| {
                assert!(
                    problems.iter().any(|p| p.contains(needle)),
                    "no problem mentions {needle:?}: {problems:#?}"
                )
            };
            has("missing.xsd");
            has("buc");
            has("t:From[");
            has("undeclared namespace prefix(es) q");
            has("unknown code table \"sexes\"");
            has("nosuchfunction");
            has("unknown transform \"lower\"");
            has("\"Bad Name\"");
            has("exactly one of");
            assert_eq!(problems.len(), 9, "{problems:#?}");
        }
        other => panic!("expected Definition, got {other:?}"),
    }
}

#[test]
fn load_names_each_broken_file_when_several_are_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["one", "two"] {
        let d = dir.path().join(name);
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("adapter.toml"), "name = \"x\"\n").expect("write");
    }
    // A directory without adapter.toml is not an adapter.
    std::fs::create_dir(dir.path().join("notes")).expect("mkdir");
    match Adapters::load(dir.path()) {
        Err(AdaptError::Definition { path, problems }) => {
            assert_eq!(path, dir.path());
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(problems[0].contains("one/adapter.toml"), "{problems:?}");
            assert!(problems[1].contains("two/adapter.toml"), "{problems:?}");
        }
        other => panic!("expected Definition, got {other:?}"),
    }
}

#[test]
fn a_schema_that_does_not_compile_is_a_definition_problem() {
    let (dir, _) = tiny_adapter(TINY_TOML);
    std::fs::write(dir.path().join("tiny/national.xsd"), "<xs:schema/>").expect("write");
    match Adapters::load(dir.path()) {
        Err(AdaptError::Definition { problems, .. }) => assert!(
            problems.iter().any(|p| p.contains("does not compile")),
            "{problems:?}"
        ),
        other => panic!("expected Definition, got {other:?}"),
    }
}

#[test]
fn adapters_can_be_shared_across_tasks() {
    // Adapters hold no libxml2 object, so one loaded set can serve every worker.
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Adapters>();
    shareable::<Translated>();
    shareable::<AdaptError>();
}

// ---- the reverse direction ----

#[test]
fn load_refuses_a_code_table_that_cannot_be_turned_round() {
    let toml = TINY_TOML.replace("\"2\" = \"female\"", "\"2\" = \"female\"\n\"9\" = \"male\"");
    let (_dir, loaded) = tiny_adapter(&toml);
    match loaded {
        Err(AdaptError::Definition { problems, .. }) => assert!(
            problems
                .iter()
                .any(|p| p.contains("\"gender\" is not invertible: 1, 9")
                    && p.contains("[reverse_codes.gender]")),
            "{problems:#?}"
        ),
        other => panic!("expected Definition, got {other:?}"),
    }
    // Declaring the reverse makes it loadable; a declared choice the table
    // does not back is refused.
    let declared = format!("{toml}\n[reverse_codes.gender]\nmale = \"1\"\nfemale = \"2\"\n");
    let (_dir, loaded) = tiny_adapter(&declared);
    loaded.unwrap_or_else(|e| panic!("{e}"));
    let wrong = format!("{toml}\n[reverse_codes.gender]\nmale = \"2\"\n");
    let (_dir, loaded) = tiny_adapter(&wrong);
    match loaded {
        Err(AdaptError::Definition { problems, .. }) => {
            let has = |n: &str| problems.iter().any(|p| p.contains(n));
            assert!(has("\"male\" -> \"2\""), "{problems:#?}");
            assert!(has("\"female\" has no national value"), "{problems:#?}");
        }
        other => panic!("expected Definition, got {other:?}"),
    }
}

#[test]
fn load_refuses_a_definition_whose_reverse_cannot_be_built_listing_every_reason() {
    let toml = format!(
        "{TINY_TOML}
[[map]]
to = \"Person/Joined\"
from = \"concat(t:Name, t:Gender)\"

[[map]]
to = \"Person/Unknown\"
from = \"t:Nowhere\"

[[map]]
to = \"Item\"
each = \"t:Item\"
required = false
[[map.fields]]
to = \"Inner/Code\"
from = \"t:Code\"

[[map]]
to = \"Whole\"
from = \"t:Item\"

[[map]]
to = \"Person/Gone\"
from = \"t:Name\"
one_way = \" \"
"
    );
    let (_dir, loaded) = tiny_adapter(&toml);
    expect_definition_problems(
        loaded,
        &[
            "\"concat(t:Name, t:Gender)\" is not a simple path",
            "Nowhere is not declared there in the national schema",
            "both map to SED Item and no constant",
            "\"t:Item\" names a national element with children",
            "`one_way` needs the reason",
        ],
    );
}

#[test]
fn the_reverse_names_sed_paths_for_what_the_national_format_needs() {
    let (_dir, loaded) = tiny_adapter(TINY_TOML);
    let adapters = loaded.unwrap_or_else(|e| panic!("{e}"));
    let tiny = adapters.get("tiny").expect("tiny");
    let header = Header {
        from: InstitutionId::parse("NL:SVB").expect("id"),
        to: InstitutionId::parse("BE:ONSS").expect("id"),
        case_id: CaseId::parse("0123456789abcdef0123456789abcdef").expect("case"),
    };
    let ns = "xmlns:sed=\"http://ec.europa.eu/eessi/ns/4_2\"";
    // No name, a sex the table does not know, and the wrong SED.
    let sed = format!(
        "<sed:A009 {ns}><sed:Person><sed:Id><sed:Sex>other</sed:Sex></sed:Id></sed:Person></sed:A009>"
    );
    match tiny.to_national(sed.as_bytes(), &header, &XmlLimits::default()) {
        Err(AdaptError::Mapping(issues)) => {
            assert_eq!(issues.len(), 2, "{issues:?}");
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == "Person/Id/Sex" && i.value.as_deref() == Some("other")),
                "{issues:?}"
            );
            assert!(
                issues
                    .iter()
                    .any(|i| i.field == "Person/Id/Name" && i.message.contains("Name")),
                "{issues:?}"
            );
        }
        other => panic!("expected Mapping, got {other:?}"),
    }
    let wrong = format!("<sed:A003 {ns}/>");
    assert!(matches!(
        tiny.to_national(wrong.as_bytes(), &header, &XmlLimits::default()),
        Err(AdaptError::Mapping(i)) if i[0].message.contains("A009")
    ));
    let ok = format!(
        "<sed:A009 {ns}><sed:Person><sed:Id><sed:Sex>female</sed:Sex><sed:Name>Ann</sed:Name></sed:Id></sed:Person>\
         <sed:Item><sed:Inner><sed:Code>AB</sed:Code><sed:Fixed>x</sed:Fixed></sed:Inner></sed:Item>\
         <sed:Item><sed:Inner><sed:Fixed>other</sed:Fixed><sed:Code>ZZ</sed:Code></sed:Inner></sed:Item></sed:A009>"
    );
    let national = tiny
        .to_national(ok.as_bytes(), &header, &XmlLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    // National order (From, To, Gender, Name, Item), codes turned round, and
    // the second Item dropped: its constant contradicts the adapter's.
    assert_eq!(
        national,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Msg xmlns=\"urn:test:tiny\">\n  <From>NL:SVB</From>\n  \
         <To>BE:ONSS</To>\n  <Gender>2</Gender>\n  <Name>Ann</Name>\n  <Item>\n    <Code>AB</Code>\n  </Item>\n</Msg>\n"
    );
}

// ---- replies, updates and references ----

/// The tiny adapter with every optional envelope field.
fn tiny_replying() -> (tempfile::TempDir, Adapters) {
    let toml = TINY_TOML.replace(
        "to = \"t:To\"\n",
        "to = \"t:To\"\nreference = \"t:Ref\"\ndocument_id = \"t:Doc\"\nanswers = \"t:Answers\"\nupdates = \"t:Updates\"\n",
    );
    let (dir, loaded) = tiny_adapter(&toml);
    (dir, loaded.unwrap_or_else(|e| panic!("{e}")))
}

fn tiny_message(adapters: &Adapters, envelope: &str) -> Result<Translated, AdaptError> {
    let xml = format!(
        "<Msg xmlns=\"urn:test:tiny\"><From>BE:ONSS</From><To>NL:SVB</To>{envelope}\
         <Gender>1</Gender><Name>A</Name></Msg>"
    );
    adapters
        .get("tiny")
        .expect("tiny")
        .translate(xml.as_bytes(), &XmlLimits::default(), &v42())
}

#[test]
fn a_national_message_names_what_it_answers_updates_and_its_reference() {
    let (_dir, adapters) = tiny_replying();
    let answered = "0123456789abcdef0123456789abcdef";
    let updated = "fedcba9876543210fedcba9876543210";
    let t = tiny_message(
        &adapters,
        &format!(
            "<Ref>  ONSS/2026/7 </Ref><Answers>{answered}</Answers><Updates>{updated}</Updates>"
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.reference.as_deref(), Some("ONSS/2026/7"));
    assert_eq!(t.answers.as_ref().map(DocumentId::as_str), Some(answered));
    assert_eq!(t.updates.as_ref().map(DocumentId::as_str), Some(updated));
    // None of it is in the SED body: the envelope carries it.
    assert!(!t.sed_xml.contains(answered) && !t.sed_xml.contains("ONSS/2026/7"));
    let none = tiny_message(&adapters, "").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (none.reference, none.answers, none.updates),
        (None, None, None)
    );

    // Each bad value is an issue at its national path, with the value; the
    // received document's id is not the sender's to give.
    let long = "r".repeat(REFERENCE_LEN_MAX + 1);
    match tiny_message(
        &adapters,
        &format!(
            "<Ref>{long}</Ref><Doc>{answered}</Doc><Answers>ABC</Answers><Updates>1</Updates>"
        ),
    ) {
        Err(AdaptError::Mapping(issues)) => {
            let at = |field: &str| {
                issues
                    .iter()
                    .find(|i| i.field == field)
                    .unwrap_or_else(|| panic!("no issue at {field}: {issues:?}"))
            };
            assert!(at("t:Ref").message.contains("255"), "{issues:?}");
            assert_eq!(at("t:Answers").value.as_deref(), Some("ABC"));
            assert_eq!(at("t:Updates").value.as_deref(), Some("1"));
            let doc = at("t:Doc");
            assert!(
                doc.message.contains("received messages only")
                    && doc.message.contains("t:Answers or t:Updates"),
                "{doc:?}"
            );
            assert_eq!(issues.len(), 4, "{issues:?}");
        }
        other => panic!("expected Mapping, got {other:?}"),
    }
    match tiny_message(&adapters, "<Ref>a b</Ref>") {
        Err(AdaptError::Mapping(issues)) => {
            assert_eq!(issues[0].field, "t:Ref", "{issues:?}");
        }
        other => panic!("expected Mapping, got {other:?}"),
    }
}

#[test]
fn a_received_sed_carries_its_document_id_what_it_answers_and_what_it_updates() {
    let (_dir, adapters) = tiny_replying();
    let tiny = adapters.get("tiny").expect("tiny");
    let ns = "xmlns:sed=\"http://ec.europa.eu/eessi/ns/4_2\"";
    let sed = format!(
        "<sed:A009 {ns}><sed:Person><sed:Id><sed:Sex>male</sed:Sex><sed:Name>Ann</sed:Name></sed:Id></sed:Person></sed:A009>"
    );
    let doc = crate::sed::xml::parse(sed.as_bytes(), &XmlLimits::default()).expect("parse");
    let mut env = crate::sed::envelope::tests::header();
    env.document_version = 2;
    env.related = Some(DocumentId::parse("00000000000000000000000000000001").expect("id"));
    let national = tiny
        .received_to_national(doc.get_root_readonly(), &env, &XmlLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let d = env.document_id.as_str();
    assert_eq!(
        national,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Msg xmlns=\"urn:test:tiny\">\n  <From>NL:SVB</From>\n  \
             <To>BE:ONSS</To>\n  <Doc>{d}</Doc>\n  <Answers>00000000000000000000000000000001</Answers>\n  \
             <Updates>{d}</Updates>\n  <Gender>1</Gender>\n  <Name>Ann</Name>\n</Msg>\n"
        )
    );
    // A first version answering nothing: only its id; without the document's
    // facts (`to_national`), none of them.
    env.document_version = 1;
    env.related = None;
    let first = tiny
        .received_to_national(doc.get_root_readonly(), &env, &XmlLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(first.contains(&format!("<Doc>{d}</Doc>")), "{first}");
    assert!(
        !first.contains("<Answers>") && !first.contains("<Updates>"),
        "{first}"
    );
    let plain = tiny
        .to_national(sed.as_bytes(), &Header::of(&env), &XmlLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !plain.contains("<Doc>") && !plain.contains("<Ref>"),
        "{plain}"
    );
}

#[test]
fn load_refuses_envelope_fields_the_national_schema_cannot_hold() {
    let toml = TINY_TOML.replace(
        "to = \"t:To\"\n",
        "to = \"t:To\"\nreference = \"t:Nowhere\"\nanswers = \"t:Item\"\nupdates = \"t:To\"\ndocument_id = \"concat(t:Doc, 'x')\"\n",
    );
    let (_dir, loaded) = tiny_adapter(&toml);
    expect_definition_problems(
        loaded,
        &[
            "envelope.reference: XPath \"t:Nowhere\": Nowhere is not declared",
            "envelope.answers: XPath \"t:Item\" names no national element with a value",
            "envelope.updates: XPath \"t:To\" names the same national element as envelope.to",
            "envelope.document_id: XPath \"concat(t:Doc, 'x')\" is not a simple path",
        ],
    );
}

/// Every shipped format carries the institution's reference, takes updates and
/// is told the received document's id; the reply formats name what they
/// answer. Their golden messages use them.
#[test]
fn shipped_formats_carry_references_replies_and_updates() {
    let adapters = shipped();
    let replies = [
        "fb-decision",
        "h-reply",
        "inasti-approval",
        "onem-family",
        "onem-frontier-periods",
        "onem-periods",
        "onem-wages",
        "onss-disagreement",
    ];
    for name in adapters.names() {
        let adapter = adapters.get(name).expect("listed");
        let e = &adapter.plan.envelope;
        assert!(
            e.case_id.is_some()
                && e.reference.is_some()
                && e.updates.is_some()
                && e.document_id.is_some(),
            "{name}"
        );
        assert_eq!(e.answers.is_some(), replies.contains(&name), "{name}");
        let dir = Path::new("adapters").join(name).join("golden");
        let t = adapter
            .translate(
                &read_golden(&dir.join("national.xml")),
                &XmlLimits::default(),
                &v42(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(t.reference.is_some(), "{name}");
        assert_eq!(t.updates, None, "{name}");
        if replies.contains(&name) {
            assert!(t.case_id.is_some() && t.answers.is_some(), "{name}");
        }
        let back = std::fs::read_to_string(dir.join("received.national.xml")).expect("golden");
        assert!(
            back.contains(&format!(
                "<DocumentId>{}</DocumentId>",
                golden_document().id
            )),
            "{name}"
        );
        assert!(!back.contains("<Reference>"), "{name}");
    }
}

// ---- round trip: national -> SED -> national keeps every mapped field ----

/// Every mapped national leaf (path below the root, its schema type) and the
/// national elements of `one_way` groups, which do not come back.
type Leaves = Vec<(Vec<String>, String)>;

fn mapped_leaves(plan: &definition::Plan) -> (Leaves, Vec<Vec<String>>) {
    fn walk(
        model: &model::Model,
        entries: &[definition::Entry],
        prefix: &[String],
        context: &str,
        leaves: &mut Leaves,
        one_way: &mut Vec<Vec<String>>,
    ) {
        let typed = |steps: &[String]| {
            steps.iter().fold(context.to_owned(), |t, s| {
                model
                    .child(&t, s)
                    .expect("checked at load")
                    .type_key
                    .clone()
            })
        };
        for entry in entries {
            match entry {
                definition::Entry::Leaf(l) if !l.one_way => {
                    if let definition::Source::XPath(_) = l.source {
                        leaves.push(([prefix, &l.national].concat(), typed(&l.national)));
                    }
                }
                definition::Entry::Each(g) => {
                    let path = [prefix, &g.national].concat();
                    if g.one_way {
                        one_way.push(path);
                    } else {
                        walk(
                            model,
                            &g.fields,
                            &path,
                            &typed(&g.national),
                            leaves,
                            one_way,
                        );
                    }
                }
                definition::Entry::Leaf(_) => {}
            }
        }
    }
    let (mut leaves, mut one_way) = (Vec::new(), Vec::new());
    let model = &plan.model;
    walk(
        model,
        &plan.entries,
        &[],
        &model.root.type_key,
        &mut leaves,
        &mut one_way,
    );
    leaves.sort();
    leaves.dedup();
    (leaves, one_way)
}

fn national_nodes(doc: &libxml::tree::Document, path: &[String]) -> Vec<libxml::tree::Node> {
    let root = doc.get_root_element().expect("root");
    reverse::descend(root, path, |n| n.get_child_elements(), |n| n.get_name())
}

/// A Belgian check-digit number: `base` followed by 97 - (base mod 97).
fn with_mod97(base: u64, width: usize) -> String {
    format!("{base:0width$}{:02}", 97 - base % 97)
}

/// Values every national type of the shipped formats admits (and the SED's).
/// A new national type needs a generator here, so that the round trip covers it.
fn value_strategy(
    model: &model::Model,
    type_key: &str,
) -> proptest::strategy::BoxedStrategy<String> {
    use proptest::prelude::*;
    if let Some(values) = model.enumerations.get(type_key) {
        return proptest::sample::select(values.clone()).boxed();
    }
    match type_key {
        // SSIN: birth date, a counter, two check digits (born before 2000).
        "SsinType" => (0u64..100, 1u64..13, 1u64..29, 1u64..998)
            .prop_map(|(y, m, d, n)| with_mod97(((y * 100 + m) * 100 + d) * 1000 + n, 9))
            .boxed(),
        "CompanyNumberType" => (0u64..2, 0u64..10_000_000)
            .prop_map(|(first, rest)| with_mod97(first * 10_000_000 + rest, 8))
            .boxed(),
        "DateType" => "(19[5-9][0-9]|20[0-3][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])".boxed(),
        "CountryType" => proptest::sample::select(vec!["BE", "NL", "DE", "FR", "LU", "PL", "IT"])
            .prop_map(str::to_owned)
            .boxed(),
        "TextType" | "LongTextType" | "Text2000Type" => {
            "[A-Za-z][A-Za-z0-9 '&<-]{0,30}[A-Za-z0-9]".boxed()
        }
        "CountType" => (0u32..100).prop_map(|n| n.to_string()).boxed(),
        "InstitutionIdType" => "(AT|DE|FR|NL):[A-Z][A-Z0-9_]{0,7}".boxed(),
        "IbanType" => "BE[0-9]{14}".boxed(),
        "BicType" => "[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?".boxed(),
        "xs:boolean" => proptest::sample::select(vec!["true", "false"])
            .prop_map(str::to_owned)
            .boxed(),
        "AmountType" => (0u64..10_000_000, 0u64..100)
            .prop_map(|(e, c)| format!("{e}.{c:02}"))
            .boxed(),
        other => panic!("no value generator for national type {other}: add one"),
    }
}

#[test]
fn every_adapter_round_trips_every_mapped_field() {
    use proptest::test_runner::{Config, TestRunner};
    let adapters = shipped();
    for name in adapters.names() {
        let adapter = adapters.get(name).expect("listed");
        let (leaves, one_way) = mapped_leaves(&adapter.plan);
        let golden =
            std::fs::read_to_string(Path::new("adapters").join(name).join("golden/national.xml"))
                .expect("golden national");
        let parse = |text: &str| {
            libxml::parser::Parser::default()
                .parse_string(text)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"))
        };
        // The golden message without its one-way parts: they come back as
        // something else by design (the adapter says why).
        let doc = parse(&golden);
        for path in &one_way {
            for mut node in national_nodes(&doc, path) {
                node.unlink();
            }
        }
        let template = doc.to_string();
        let slots: Vec<(usize, String)> = leaves
            .iter()
            .enumerate()
            .flat_map(|(i, (path, t))| {
                national_nodes(&doc, path)
                    .into_iter()
                    .map(move |_| (i, t.clone()))
            })
            .collect();
        assert!(
            !slots.is_empty(),
            "{name}: no mapped national value to vary"
        );
        let strategy: Vec<_> = slots
            .iter()
            .map(|(_, t)| value_strategy(&adapter.plan.model, t))
            .collect();
        let mut runner = TestRunner::new(Config::with_cases(24));
        runner
            .run(&strategy, |values| {
                let doc = parse(&template);
                let mut values = values.into_iter();
                let mut sent: Vec<Vec<String>> = vec![Vec::new(); leaves.len()];
                for (i, (path, _)) in leaves.iter().enumerate() {
                    for mut node in national_nodes(&doc, path) {
                        let v = values.next().expect("one value per slot");
                        // libxml2 reads entity references in new content.
                        node.set_content(&crate::sed::xml::escape(&v))
                            .expect("set content");
                        sent[i].push(v);
                    }
                }
                let national = doc.to_string();
                let forward = adapter
                    .translate(national.as_bytes(), &XmlLimits::default(), &v42())
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{national}"));
                let back = adapter
                    .to_national(
                        forward.sed_xml.as_bytes(),
                        &golden_header(&forward),
                        &XmlLimits::default(),
                    )
                    .unwrap_or_else(|e| panic!("{name}: {e}\n{}", forward.sed_xml));
                let back_doc = parse(&back);
                for (i, (path, _)) in leaves.iter().enumerate() {
                    let got: Vec<String> = national_nodes(&back_doc, path)
                        .iter()
                        .map(|n| n.get_content())
                        .collect();
                    proptest::prop_assert_eq!(&got, &sent[i], "{} {}", name, path.join("/"));
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// A national message its schema refuses names each violation by its national
/// path (positions where siblings share a name), not by the bare element name
/// or a SED path.
#[test]
fn a_schema_violation_names_the_national_path() {
    let adapters = shipped();
    let posting = adapters.get("onss-posting").expect("shipped");
    let bad = std::fs::read("fixtures/national/invalid/onss-posting-bad-date.xml").unwrap();
    match posting.translate(&bad, &XmlLimits::default(), &v42()) {
        Err(AdaptError::NationalInvalid(vs)) => {
            assert!(
                vs.iter()
                    .any(|v| v.element.as_deref() == Some("/PostingNotification/Posting/StartDate")),
                "{vs:?}"
            );
        }
        other => panic!("expected NationalInvalid, got {other:?}"),
    }
    // Two workplaces, the second one broken: the position says which.
    let good = std::fs::read_to_string("adapters/onss-posting/golden/national.xml").unwrap();
    let start = good.find("<Workplace>").expect("a workplace");
    let end = good.find("</Workplace>").expect("its end") + "</Workplace>".len();
    let second = good[start..end].replace("<Country>NL</Country>", "<Country>nl</Country>");
    let two = format!("{}\n    {}{}", &good[..end], second, &good[end..]);
    match posting.translate(two.as_bytes(), &XmlLimits::default(), &v42()) {
        Err(AdaptError::NationalInvalid(vs)) => assert!(
            vs.iter().any(|v| v.element.as_deref()
                == Some("/PostingNotification/HostWorkplaces/Workplace[2]/Country")),
            "{vs:?}"
        ),
        other => panic!("expected NationalInvalid, got {other:?}"),
    }
}

/// An element of the SED an adapter built is traced back to the national field
/// it came from (what a refusal of that SED names); a constant has none.
#[test]
fn a_sed_element_is_traced_back_to_its_national_field() {
    let adapters = shipped();
    let posting = adapters.get("onss-posting").expect("shipped");
    let sed = std::fs::read_to_string("adapters/onss-posting/golden/sed.xml").unwrap();
    let line_of = |needle: &str| {
        sed.lines()
            .position(|l| l.contains(needle))
            .expect("in the golden SED") as u32
            + 1
    };
    assert_eq!(
        posting.national_path_of(&sed, line_of("<sed:FamilyName>"), "FamilyName"),
        Some("/PostingNotification/Worker/LastName".to_owned())
    );
    assert_eq!(
        posting.national_path_of(&sed, line_of("<sed:PostalCode>2800"), "PostalCode"),
        Some("/PostingNotification/Employer/Address/PostalCode".to_owned())
    );
    // `Type` is the constant "residence": no national field.
    assert_eq!(
        posting.national_path_of(&sed, line_of("<sed:Type>residence"), "Type"),
        None
    );
    // A line where no element of that name starts.
    assert_eq!(posting.national_path_of(&sed, 1, "FamilyName"), None);
}
