use super::*;
use crate::sed::xml::XmlLimits;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sed-schemas")
}

fn v42() -> SedVersion {
    SedVersion::parse("4.2").unwrap()
}

fn a004() -> Arc<Model> {
    model(&dir(), &v42(), &SedType::parse("A004").unwrap()).unwrap()
}

fn find<'a>(list: &'a [Element], name: &str) -> &'a Element {
    list.iter().find(|n| n.name == name).unwrap()
}

#[test]
fn a_schema_reads_as_groups_and_fields_with_their_facets() {
    let m = a004();
    assert_eq!(m.sed, "A004");
    assert_eq!((m.generation.as_str(), m.version.as_str()), ("4", "2"));
    let names: Vec<_> = m.children.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["InsuredPerson", "Disagreement", "LocalCaseNumbers"]);
    let person = find(&m.children, "InsuredPerson");
    assert_eq!(person.type_name.as_deref(), Some("PersonType"));
    let Kind::Group(pc) = &person.kind else {
        panic!()
    };
    let address = find(pc, "Address");
    assert_eq!((address.min, address.max), (0, u32::MAX));
    let Kind::Group(ident) = &find(pc, "PersonIdentification").kind else {
        panic!()
    };
    let Kind::Field(birth, _) = &find(ident, "DateBirth").kind else {
        panic!()
    };
    assert_eq!(birth.base, Base::Date);
    let Kind::Group(dis) = &find(&m.children, "Disagreement").kind else {
        panic!()
    };
    let Kind::Field(reason, _) = &find(dis, "Reason").kind else {
        panic!()
    };
    assert_eq!((reason.min_len, reason.max_len), (Some(1), Some(2000)));
    let Kind::Field(country, _) = &find(dis, "ProposedMemberState").kind else {
        panic!()
    };
    assert!(country.choices.contains(&"BE".to_owned()));
    assert_eq!(find(dis, "ProposedMemberState").min, 0);
}

/// Every schema of every version reads as a form, and every example SED read into
/// its fields and written back from them validates against the same schema: the
/// form loses nothing a valid SED holds.
#[test]
fn every_example_sed_goes_through_its_form_and_still_validates() {
    let limits = XmlLimits::default();
    let mut seen = 0;
    for v in ["4.2", "4.3"] {
        let version = SedVersion::parse(v).unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/sed")
            .join(v);
        for entry in std::fs::read_dir(&fixtures).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let sed = SedType::parse(&name).unwrap();
            let m = model(&dir(), &version, &sed).unwrap_or_else(|e| panic!("{v} {name}: {e}"));
            let bytes = std::fs::read(&path).unwrap();
            let values = values_of(&m, &bytes, &name, 10_000);
            assert!(
                values.values().any(|x| !x.is_empty()),
                "{v} {name}: no value read"
            );
            let (built, issues) = check(&dir(), &version, &sed, &m, &values, &limits);
            assert!(issues.is_empty(), "{v} {name}: {issues:?}\n{}", built.xml);
            // Read back, the same values.
            let again = values_of(&m, built.xml.as_bytes(), &name, 10_000);
            let trimmed = |vs: &Values| -> Values {
                vs.iter()
                    .map(|(k, x)| (k.clone(), x.trim().to_owned()))
                    .collect()
            };
            assert_eq!(trimmed(&again), trimmed(&values), "{v} {name}");
            seen += 1;
        }
    }
    assert!(seen > 500, "{seen} example SEDs");
}

#[test]
fn an_empty_form_names_what_is_missing_where_it_is_missing() {
    let m = a004();
    let version = v42();
    let sed = SedType::parse("A004").unwrap();
    let (built, issues) = check(
        &dir(),
        &version,
        &sed,
        &m,
        &Values::new(),
        &XmlLimits::default(),
    );
    // The required groups are written, the optional ones left out.
    assert!(built.xml.contains("<Disagreement>"), "{}", built.xml);
    assert!(!built.xml.contains("LocalCaseNumbers"), "{}", built.xml);
    assert!(!issues.is_empty());
    // A required field left empty is one "missing" issue at that field.
    let reason: Vec<_> = issues
        .iter()
        .filter(|i| i.field == "Disagreement/Reason")
        .collect();
    assert_eq!(reason.len(), 1, "{issues:?}");
    assert!(reason[0].missing);
    assert!(!reason[0].detail.contains("{http"), "{issues:?}");
    assert!(
        issues
            .iter()
            .any(|i| i.field == "InsuredPerson/PersonIdentification/FamilyName")
    );
}

#[test]
fn a_bad_value_is_located_at_its_field_and_a_good_one_passes() {
    let m = a004();
    let version = v42();
    let sed = SedType::parse("A004").unwrap();
    let fixture =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sed/4.2/A004.xml"))
            .unwrap();
    let mut values = values_of(&m, &fixture, "A004", 1000);
    let birth = "InsuredPerson/PersonIdentification/DateBirth";
    assert_eq!(values[birth], "1985-07-31");
    values.insert(birth.into(), "31/07/1985".into());
    values.insert("Disagreement/ProposedMemberState".into(), "XX".into());
    // A value with a line break and markup stays one line and is escaped.
    values.insert(
        "Disagreement/Reason".into(),
        "a <b> & c\nsecond line".into(),
    );
    let (built, issues) = check(&dir(), &version, &sed, &m, &values, &XmlLimits::default());
    let at: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert!(issues.iter().all(|i| !i.missing), "{issues:?}");
    assert!(at.contains(&birth), "{issues:?}");
    assert!(
        at.contains(&"Disagreement/ProposedMemberState"),
        "{issues:?}"
    );
    assert!(!at.contains(&"Disagreement/Reason"), "{issues:?}");
    assert!(
        built.xml.contains("a &lt;b&gt; &amp; c&#10;second line"),
        "{}",
        built.xml
    );
    values.insert(birth.into(), "1985-07-31".into());
    values.insert("Disagreement/ProposedMemberState".into(), "BE".into());
    let (_, issues) = check(&dir(), &version, &sed, &m, &values, &XmlLimits::default());
    assert!(issues.is_empty(), "{issues:?}");
}

#[test]
fn repeating_elements_count_their_instances_within_bounds() {
    let m = a004();
    let person = find(&m.children, "InsuredPerson");
    let Kind::Group(pc) = &person.kind else {
        panic!()
    };
    let address = find(pc, "Address");
    let mut values = Values::new();
    assert_eq!(instances(&values, "InsuredPerson", address), 1);
    values.insert("InsuredPerson/Address[3]/Town".into(), "Gent".into());
    values.insert("#InsuredPerson/Address".into(), "3".into());
    assert_eq!(instances(&values, "InsuredPerson", address), 3);
    values.insert("#InsuredPerson/Address".into(), "100000".into());
    assert_eq!(instances(&values, "InsuredPerson", address), REPEAT_MAX);
    // Empty optional instances are not written.
    let built = build(&m, &values);
    assert_eq!(built.xml.matches("<Address>").count(), 1, "{}", built.xml);
    // Each start tag's line names its path.
    let line = built
        .xml
        .lines()
        .position(|l| l.contains("<Town>"))
        .unwrap();
    assert_eq!(built.lines[line], "InsuredPerson/Address[3]/Town");
}

#[test]
fn a_form_whose_counts_ask_for_too_much_is_cut() {
    let m = a004();
    let mut values = Values::new();
    // Fifty addresses, each filled: more lines than a body may hold are not written.
    values.insert("#InsuredPerson/Address".into(), "50".into());
    for i in 1..=50 {
        for f in ["Street", "Town", "PostCode", "Region", "BuildingName"] {
            values.insert(format!("InsuredPerson/Address[{i}]/{f}"), "x".into());
        }
    }
    let built = build_within(&m, &values, 100);
    // Past the bound nothing new starts; the groups open then are closed.
    assert!(
        built.lines.len() <= 100 + DEPTH_MAX,
        "{}",
        built.lines.len()
    );
    assert!(built.lines.len() >= 100);
    // The lines written still name their paths, and the body is closed.
    assert!(built.xml.ends_with("</A004>"));
    assert_eq!(built.xml.lines().count(), built.lines.len() + 1);
}
