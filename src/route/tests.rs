//! The routing rules: the shipped Belgian rules against the real registry and
//! catalogue, each kind of decision on real SED fixtures, and `check` listing every
//! problem of a broken rule file.

use std::path::Path;

use super::*;
use crate::sed::xml::{self, XmlLimits};

fn catalogue() -> Catalogue {
    Catalogue::load(
        Path::new("buc-definitions"),
        Path::new("sed-schemas"),
        &[crate::ids::SedVersion::parse("4.2").unwrap()],
    )
    .expect("the catalogue loads")
}

fn registry() -> Registry {
    Registry::load(Path::new("fixtures/registry.toml")).expect("the registry loads")
}

fn belgium() -> Routing {
    Routing::load(Path::new("routing/belgium.toml")).expect("the Belgian rules load")
}

fn be() -> Country {
    Country::parse("BE").unwrap()
}

fn id(s: &str) -> InstitutionId {
    InstitutionId::parse(s).unwrap()
}

/// Route a fixture SED (edited by `edit`) addressed to `to`.
fn route_fixture(
    r: &Routing,
    buc: &str,
    sed: &str,
    to: &str,
    edit: impl Fn(String) -> String,
) -> Route {
    let text = std::fs::read_to_string(format!("fixtures/sed/4.2/{sed}.xml")).unwrap();
    let edited = edit(text);
    let doc =
        xml::parse(edited.as_bytes(), &XmlLimits::default()).expect("the edited fixture parses");
    let root = doc.get_root_readonly().expect("a root element");
    r.route(
        &BucType::parse(buc).unwrap(),
        &SedType::parse(sed).unwrap(),
        &id(to),
        &doc,
        root,
    )
}

fn delivered(route: Route) -> Vec<String> {
    match route {
        Route::Deliver { to, .. } => to.iter().map(|i| i.to_string()).collect(),
        Route::Triage { reason, .. } => panic!("went to triage: {reason}"),
    }
}

#[test]
fn the_belgian_rules_check_clean_against_the_registry_and_the_catalogue() {
    let problems = belgium().check(&catalogue(), &registry(), &be());
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The child's domicile decides the region (cooperation agreement of 6 September
/// 2017, art. 2, factors 1-2): one postal code per region, and its edges.
#[test]
fn family_benefits_go_to_the_region_of_the_childs_domicile() {
    let r = belgium();
    for (postcode, body) in [
        ("9000", "BE:OPGROEIEN"),
        ("1500", "BE:OPGROEIEN"),
        ("3999", "BE:OPGROEIEN"),
        ("8000", "BE:OPGROEIEN"),
        ("1000", "BE:IRISCARE"),
        ("1299", "BE:IRISCARE"),
        ("1300", "BE:FAMIWAL"),
        ("4000", "BE:FAMIWAL"),
        ("4699", "BE:FAMIWAL"),
        ("4800", "BE:FAMIWAL"),
        ("4960", "BE:FAMIWAL"),
        ("4700", "BE:MDG"),
        ("4780", "BE:MDG"),
    ] {
        let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:FBB", |t| {
            t.replace(
                "<sed:PostalCode>9000</sed:PostalCode>",
                &format!("<sed:PostalCode>{postcode}</sed:PostalCode>"),
            )
        });
        assert_eq!(
            delivered(got),
            vec![body.to_owned()],
            "postal code {postcode}"
        );
    }
}

/// A child abroad: the establishment of the parent's employer in Belgium decides
/// (factor 3); the fixture's employer is in Antwerp (2000).
#[test]
fn family_benefits_for_a_child_abroad_follow_the_employer() {
    let r = belgium();
    let abroad = |t: String| {
        t.replace(
            "<sed:PostalCode>9000</sed:PostalCode>\n      <sed:Country>BE</sed:Country>",
            "<sed:PostalCode>9000</sed:PostalCode>\n      <sed:Country>NL</sed:Country>",
        )
    };
    let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:FBB", abroad);
    assert_eq!(delivered(got), vec!["BE:OPGROEIEN".to_owned()]);
    let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:FBB", |t| {
        abroad(t).replace(
            "<sed:PostalCode>2000</sed:PostalCode>",
            "<sed:PostalCode>5000</sed:PostalCode>",
        )
    });
    assert_eq!(delivered(got), vec!["BE:FAMIWAL".to_owned()]);
}

/// Children in two regions, or no connecting factor in the SED: Family Benefits
/// Belgium keeps it (it decides conflicts of connecting factors).
#[test]
fn family_benefits_without_one_region_stay_with_fbb() {
    let r = belgium();
    let two_regions = |t: String| {
        // A second child, living in Brussels.
        let start = t.find("<sed:Child>").unwrap();
        let end = t.find("</sed:Child>").unwrap() + "</sed:Child>".len();
        let child = t[start..end].replace(
            "<sed:PostalCode>9000</sed:PostalCode>",
            "<sed:PostalCode>1050</sed:PostalCode>",
        );
        format!("{}{}\n  {}", &t[..end], "", child) + &t[end..]
    };
    let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:FBB", two_regions);
    assert_eq!(delivered(got), vec!["BE:FBB".to_owned()]);
    // Addressed to a regional body directly: it is delivered there, whatever the
    // content says.
    let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:FAMIWAL", |t| t);
    assert_eq!(delivered(got), vec!["BE:FAMIWAL".to_owned()]);
}

/// Employed in one State and self-employed in another (art. 13(3)): ONSS and
/// INASTI each receive the decision once; a self-employed posting addressed to
/// ONSS goes to INASTI.
#[test]
fn applicable_legislation_fans_out_and_follows_the_activity() {
    let r = belgium();
    let got = route_fixture(&r, "LA_BUC_02", "A003", "BE:ONSS", |t| {
        t.replace("<sed:RelevantArticle>13_1_a<", "<sed:RelevantArticle>13_3<")
    });
    assert_eq!(
        delivered(got),
        vec!["BE:ONSS".to_owned(), "BE:INASTI".to_owned()]
    );
    let got = route_fixture(&r, "LA_BUC_02", "A003", "BE:ONSS", |t| t);
    assert_eq!(delivered(got), vec!["BE:ONSS".to_owned()]);
    let got = route_fixture(&r, "LA_BUC_01", "A009", "BE:ONSS", |t| {
        t.replace("<sed:RelevantArticle>12_1<", "<sed:RelevantArticle>12_2<")
    });
    assert_eq!(delivered(got), vec!["BE:INASTI".to_owned()]);
}

/// INAMI is the liaison body for sickness: a SED naming a fund among its local
/// case numbers goes to that fund, any other stays with INAMI.
#[test]
fn sickness_addressed_to_inami_goes_to_the_fund_it_names() {
    let r = belgium();
    let got = route_fixture(&r, "S_BUC_01", "S072", "BE:INAMI", |t| {
        t.replace(
            "<sed:InstitutionID>BE:INAMI</sed:InstitutionID>",
            "<sed:InstitutionID>BE:SOLIDARIS-300</sed:InstitutionID>",
        )
    });
    assert_eq!(delivered(got), vec!["BE:SOLIDARIS-300".to_owned()]);
    let got = route_fixture(&r, "S_BUC_01", "S072", "BE:INAMI", |t| t);
    assert_eq!(delivered(got), vec!["BE:INAMI".to_owned()]);
}

#[test]
fn what_is_addressed_to_the_cbss_waits_for_an_operator() {
    let got = route_fixture(&belgium(), "H_BUC_01", "H001", "BE:CBSS", |t| t);
    assert!(
        matches!(&got, Route::Triage { rule: Some(r), .. } if r.contains("CBSS")),
        "{got:?}"
    );
}

#[test]
fn a_sed_no_rule_matches_goes_to_triage() {
    let r = Routing::parse(
        "[[rule]]\nname = \"pensions\"\nbuc = [\"P_BUC_*\"]\ndeliver = [\"BE:SFP\"]\n",
        None,
    )
    .unwrap();
    let got = route_fixture(&r, "LA_BUC_02", "A003", "BE:ONSS", |t| t);
    assert!(matches!(got, Route::Triage { rule: None, .. }), "{got:?}");
}

/// A broken rule file fails with every problem listed, not the first.
#[test]
fn check_lists_every_problem_of_a_broken_rule_file() {
    let r = Routing::parse(
        r#"
[sets.flanders]
ranges = [[1500, 3999]]

[[rule]]
name = "everything LA to ONSS"
buc = ["LA_BUC_*"]
deliver = ["BE:ONSS"]

[[rule]]
name = "shadowed"
buc = ["LA_BUC_02"]
sed = ["A003"]
deliver = ["BE:INASTI"]

[[rule]]
name = "unknown institution"
buc = ["P_BUC_*"]
deliver = ["BE:FAMIFED"]

[[rule]]
name = "unknown set and bad xpath"
buc = ["FB_BUC_*"]
when = [{ xpath = "sed:Child[", any_in_set = "wallonie" }]
deliver = ["BE:FAMIWAL"]

[[rule]]
name = "no such BUC"
buc = ["XX_BUC_*"]
deliver = ["BE:ONSS"]

[[rule]]
name = "not competent"
buc = ["UB_BUC_*"]
deliver = ["BE:SFP"]
"#,
        None,
    )
    .expect("the file parses");
    let problems = r.check(&catalogue(), &registry(), &be());
    let text = problems.join("\n");
    for expected in [
        "rule \"shadowed\": unreachable: rule \"everything LA to ONSS\"",
        "rule \"unknown institution\": deliver BE:FAMIFED is not an institution of BE",
        "rule \"unknown set and bad xpath\": \"sed:Child[\" is not an XPath 1.0 expression",
        "rule \"unknown set and bad xpath\": unknown set \"wallonie\"",
        "rule \"no such BUC\": no BUC of the catalogue matches \"XX_BUC_*\"",
        "rule \"no such BUC\": unreachable: it selects no BUC of the catalogue",
        "rule \"not competent\": delivers UB_BUC_01 to BE:SFP, which is not competent for it",
        // No rule delivers the sickness BUCs: they would all wait in triage.
        "S_BUC_02: no rule delivers it",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

/// A BUC no Belgian institution is competent for fails the check (here: the
/// registry without Fedris leaves the AW BUCs without one).
#[test]
fn a_buc_without_a_competent_belgian_institution_fails_the_check() {
    let mut reg = registry();
    reg.institutions.remove(&id("BE:FEDRIS"));
    let problems = belgium().check(&catalogue(), &reg, &be());
    assert!(
        problems
            .iter()
            .any(|p| p
                .starts_with("AW_BUC_01a: no institution of BE is competent for it as CaseOwner")),
        "{problems:#?}"
    );
}

#[test]
fn a_rule_needs_a_destination_or_triage_and_one_test_per_condition() {
    let e = Routing::parse(
        "[[rule]]\nname = \"x\"\nwhen = [{ xpath = \"sed:A\", exists = true, any_in = [\"1\"] }]\n",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("needs either a non-empty `deliver` or `triage = true`"),
        "{e}"
    );
    assert!(e.contains("needs exactly one of"), "{e}");
}

/// A sector selects every BUC of the sector, as its prefix pattern does.
#[test]
fn a_sector_selects_the_bucs_of_the_sector() {
    let r = Routing::parse(
        "[[rule]]\nname = \"family benefits\"\nsector = [\"FB\"]\ndeliver = [\"BE:FBB\"]\n",
        None,
    )
    .unwrap();
    assert_eq!(r.rules[0].bucs, Some(vec!["FB_BUC_*".to_owned()]));
    let got = route_fixture(&r, "FB_BUC_01", "F001", "BE:OPGROEIEN", |t| t);
    assert_eq!(delivered(got), vec!["BE:FBB".to_owned()]);
    let got = route_fixture(&r, "LA_BUC_02", "A003", "BE:ONSS", |t| t);
    assert!(matches!(got, Route::Triage { rule: None, .. }), "{got:?}");
    let e = Routing::parse(
        "[[rule]]\nname = \"x\"\nsector = [\"fb\"]\nbuc = [\"FB_BUC_01\"]\ndeliver = [\"BE:FBB\"]\n",
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("give `buc` or `sector`, not both"), "{e}");
}
