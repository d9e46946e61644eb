//! Untrusted bytes through the inbound path's XML stages: precheck + strict parse,
//! the SBDH envelope reader, then XML-DSig verification with the registry's
//! certificates for the envelope's Sender (or, when the envelope cannot be read,
//! with NL:SVB's, so the signature code is reached on any parseable document).
//! Nothing may panic or crash; every failure must be an `Err`.

use std::path::Path;
use std::sync::OnceLock;

use crate::ids::InstitutionId;
use crate::sed::envelope;
use crate::sed::xml::{self, C14nScope, XmlLimits};
use crate::signing::{Registry, dsig};

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
        Registry::load(&root.join("fixtures/registry.toml")).expect("fixtures/registry.toml")
    })
}

/// One fuzz input; panics only on a broken invariant.
pub fn run(data: &[u8]) {
    let reg = registry();
    let limits = XmlLimits::default();
    // The same limits as the switch, whose precheck must refuse what is too big.
    let Ok(doc) = xml::parse(data, &limits) else {
        return;
    };
    let fallback = InstitutionId::parse("NL:SVB").expect("constant id");
    let signer = match envelope::read(&doc) {
        Ok((header, sed)) => {
            // The content digest of check 9 canonicalises the SED element.
            let _ = xml::c14n(&doc, C14nScope::Subtree(sed));
            header.sender
        }
        Err(_) => fallback,
    };
    let trusted = reg
        .institution(&signer)
        .map(|i| i.certificates.as_slice())
        .unwrap_or(&[]);
    let _ = dsig::verify(&doc, trusted);
}
