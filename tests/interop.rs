//! Interoperability with independent tools: signatures made by the switch verify
//! with `xmlsec1`, signatures made by `xmlsec1` verify with the switch, and every
//! schema and example validates with `xmllint`.

mod common;

use common::*;
use eessi_switch::harness::peer::{Craft, craft_with};
use eessi_switch::ids::CaseId;
use eessi_switch::sed::xml::{XmlLimits, parse};
use eessi_switch::signing::registry::load_certificate;

fn cert(name: &str) -> String {
    format!("{ROOT}/fixtures/pki/{name}.crt.pem")
}
fn key(name: &str) -> String {
    format!("{ROOT}/fixtures/pki/{name}.key.pem")
}

#[test]
fn a_sed_signed_by_the_switch_verifies_with_xmlsec1_and_a_tampered_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    for (inst, sed, buc) in [
        ("BE_ONSS", "A009", "LA_BUC_04"),
        ("NL_SVB", "A003", "LA_BUC_02"),
        ("DE_TK", "H001", "H_BUC_01"),
    ] {
        let id = inst.replacen('_', ":", 1);
        let m = craft_with(
            &signer(inst),
            &Craft::new(&id, "BE:INAMI", buc, sed, &CaseId::random(), &fixture(sed)),
        )
        .unwrap();
        let f = dir.path().join(format!("{sed}.xml"));
        std::fs::write(&f, &m.body).unwrap();
        let (ok, out) = tool(
            "xmlsec1",
            &[
                "--verify",
                "--pubkey-cert-pem",
                &cert(inst),
                f.to_str().unwrap(),
            ],
        );
        assert!(ok, "{inst} {sed}: {out}");
        // The envelope validates against the envelope schema.
        let (ok, out) = tool(
            "xmllint",
            &[
                "--noout",
                "--schema",
                &format!("{ROOT}/sed-schemas/envelope.xsd"),
                f.to_str().unwrap(),
            ],
        );
        assert!(ok, "{out}");
        let tampered = String::from_utf8(m.body.clone()).unwrap().replacen(
            "<sed:Forename>",
            "<sed:Forename>Z",
            1,
        );
        std::fs::write(&f, tampered).unwrap();
        let (ok, _) = tool(
            "xmlsec1",
            &[
                "--verify",
                "--pubkey-cert-pem",
                &cert(inst),
                f.to_str().unwrap(),
            ],
        );
        assert!(!ok, "xmlsec1 accepted a tampered document");
    }
}

#[test]
fn a_document_signed_by_xmlsec1_verifies_with_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let c = Craft::new(
        "NL:SVB",
        "BE:ONSS",
        "LA_BUC_02",
        "A003",
        &CaseId::random(),
        &fixture("A003"),
    );
    let doc = parse(&fixture("A003"), &XmlLimits::default()).unwrap();
    let sed = eessi_switch::sed::xml::c14n(
        &doc,
        eessi_switch::sed::xml::C14nScope::Subtree(doc.get_root_readonly().unwrap()),
    )
    .unwrap();
    let unsigned =
        eessi_switch::sed::envelope::render_unsigned(&c.header, &String::from_utf8(sed).unwrap());
    // A template with the contract's algorithms, filled in by xmlsec1.
    let template = unsigned.replace(
        "</sbdh:StandardBusinessDocument>",
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
<ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI="">
<ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
</ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
<ds:DigestValue/>
</ds:Reference>
</ds:SignedInfo>
<ds:SignatureValue/>
<ds:KeyInfo><ds:X509Data><ds:X509Certificate/></ds:X509Data></ds:KeyInfo>
</ds:Signature>
</sbdh:StandardBusinessDocument>"##,
    );
    let t = dir.path().join("template.xml");
    let out = dir.path().join("signed.xml");
    std::fs::write(&t, template).unwrap();
    let (ok, log) = tool(
        "xmlsec1",
        &[
            "--sign",
            "--privkey-pem",
            &format!("{},{}", key("NL_SVB"), cert("NL_SVB")),
            "--output",
            out.to_str().unwrap(),
            t.to_str().unwrap(),
        ],
    );
    assert!(ok, "{log}");
    let signed = std::fs::read(&out).unwrap();
    let doc = parse(&signed, &XmlLimits::default()).unwrap();
    let registered = load_certificate(std::path::Path::new(&cert("NL_SVB"))).unwrap();
    eessi_switch::signing::verify(&doc, &[registered])
        .expect("the switch verifies xmlsec1's signature");
    // Signed by xmlsec1 with another institution's key: refused.
    let (ok, log) = tool(
        "xmlsec1",
        &[
            "--sign",
            "--privkey-pem",
            &format!("{},{}", key("NL_UWV"), cert("NL_UWV")),
            "--output",
            out.to_str().unwrap(),
            t.to_str().unwrap(),
        ],
    );
    assert!(ok, "{log}");
    let doc = parse(&std::fs::read(&out).unwrap(), &XmlLimits::default()).unwrap();
    let registered = load_certificate(std::path::Path::new(&cert("NL_SVB"))).unwrap();
    assert!(eessi_switch::signing::verify(&doc, &[registered]).is_err());
    // The CLI agrees with the library.
    let (ok, log) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &["verify", "--cert", &cert("NL_UWV"), out.to_str().unwrap()],
    );
    assert!(ok && log.contains("OK"), "{log}");
}

#[test]
fn receipts_and_errors_signed_by_the_switch_verify_with_xmlsec1_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let r = eessi_switch::sed::signal::render_receipt(
        &eessi_switch::ids::MessageId::random(),
        &eessi_switch::ids::DocumentId::random(),
        1,
        &eessi_switch::switch::sha256_b64(b"x"),
        "2026-11-27T10:15:01Z",
    );
    let e = eessi_switch::sed::signal::render_error(
        "3f1c0d5e-9a2b-47c6-8e0d-1f2a3b4c5d6e",
        eessi_switch::sed::signal::ErrorCode::SchemaInvalid,
        "1 schema violation",
    );
    for (name, unsigned) in [("receipt", r), ("error", e)] {
        let signed = eessi_switch::signing::sign(unsigned.as_bytes(), &signer("AP_BE")).unwrap();
        let f = dir.path().join(format!("{name}.xml"));
        std::fs::write(&f, signed).unwrap();
        let (ok, out) = tool(
            "xmlsec1",
            &[
                "--verify",
                "--pubkey-cert-pem",
                &cert("AP_BE"),
                f.to_str().unwrap(),
            ],
        );
        assert!(ok, "{name}: {out}");
        let (ok, out) = tool(
            "xmllint",
            &[
                "--noout",
                "--schema",
                &format!("{ROOT}/sed-schemas/signal.xsd"),
                f.to_str().unwrap(),
            ],
        );
        assert!(ok, "{name}: {out}");
    }
}

#[test]
fn every_sed_example_validates_with_xmllint_and_with_the_switch() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("fixtures/sed/4.2")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let sed = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let schema = format!("{ROOT}/sed-schemas/4.2/{sed}.xsd");
        let (ok, out) = tool(
            "xmllint",
            &["--noout", "--schema", &schema, path.to_str().unwrap()],
        );
        assert!(ok, "{sed}: {out}");
        let (ok, out) = tool(
            env!("CARGO_BIN_EXE_eessi-switch"),
            &[
                "validate",
                "--sed",
                &sed,
                "--schemas",
                &format!("{ROOT}/sed-schemas"),
                path.to_str().unwrap(),
            ],
        );
        assert!(ok, "{sed}: {out}");
        n += 1;
    }
    assert!(n >= 7, "only {n} examples");
    for entry in std::fs::read_dir(root().join("fixtures/sed/4.2/invalid")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let sed = name.split('-').next().unwrap();
        let (ok, _) = tool(
            "xmllint",
            &[
                "--noout",
                "--schema",
                &format!("{ROOT}/sed-schemas/4.2/{sed}.xsd"),
                path.to_str().unwrap(),
            ],
        );
        assert!(!ok, "{name} should be invalid for xmllint");
        let (ok, out) = tool(
            env!("CARGO_BIN_EXE_eessi-switch"),
            &[
                "validate",
                "--sed",
                sed,
                "--schemas",
                &format!("{ROOT}/sed-schemas"),
                path.to_str().unwrap(),
            ],
        );
        assert!(
            !ok && out.contains(":line "),
            "{name} should be invalid for the switch, with lines: {out}"
        );
    }
}

#[test]
fn buc_check_passes_on_the_shipped_definitions_and_fails_on_a_broken_one() {
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "buc",
            "check",
            "--definitions",
            &format!("{ROOT}/buc-definitions"),
            "--schemas",
            &format!("{ROOT}/sed-schemas"),
            "--version",
            "4.2",
            "--version",
            "4.3",
        ],
    );
    assert!(ok, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let defs = dir.path().join("defs");
    std::fs::create_dir_all(defs.join("subprocesses")).unwrap();
    std::fs::copy(
        root().join("buc-definitions/seds.toml"),
        defs.join("seds.toml"),
    )
    .unwrap();
    std::fs::write(
        defs.join("T_BUC_01.toml"),
        "buc = \"T_BUC_01\"\nsector = \"T\"\ntitle = \"t\"\nmultilateral = false\ninitial = \"start\"\n[states.start]\n[states.dead_end]\n[states.orphan]\n[[transitions]]\nfrom = [\"start\"]\nsed = \"A003\"\nby = \"CaseOwner\"\nto = \"dead_end\"\n[[transitions]]\nfrom = [\"dead_end\"]\nsed = \"Q123\"\nby = \"Counterparty\"\nto = \"dead_end\"\n",
    )
    .unwrap();
    let (ok, out) = tool(
        env!("CARGO_BIN_EXE_eessi-switch"),
        &[
            "buc",
            "check",
            "--definitions",
            defs.to_str().unwrap(),
            "--schemas",
            &format!("{ROOT}/sed-schemas"),
        ],
    );
    assert!(!ok, "{out}");
    for expected in [
        "unknown SED Q123",
        "SED without a schema",
        "orphan is unreachable",
        "dead_end has no way out",
        "A003 opens the case (the case owner sends it in start) but is not declared `starter = true`",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}
