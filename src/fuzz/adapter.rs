//! Untrusted national messages through every adapter's `translate` (hardened
//! parse, national XSD validation, declarative mapping). The first input byte
//! picks the adapter; the rest is the message. Nothing may panic or crash.

use std::path::Path;
use std::sync::OnceLock;

use crate::adapt::{Adapter, Adapters};
use crate::ids::SedVersion;
use crate::sed::xml::XmlLimits;

fn adapters() -> &'static Vec<Adapter> {
    static A: OnceLock<Vec<Adapter>> = OnceLock::new();
    A.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
        let all = Adapters::load(&root.join("adapters")).expect("adapters/");
        all.names()
            .into_iter()
            .filter_map(|n| all.get(n).cloned())
            .collect()
    })
}

/// One fuzz input; panics only on a broken invariant.
pub fn run(data: &[u8]) {
    let list = adapters();
    let Some((&pick, national)) = data.split_first() else {
        return;
    };
    let adapter = &list[usize::from(pick) % list.len()];
    let version = SedVersion::parse("4.2").expect("constant version");
    if let Ok(t) = adapter.translate(national, &XmlLimits::default(), &version) {
        // A translation must at least be a SED of the adapter's type.
        assert_eq!(t.sed, adapter.sed);
        assert_eq!(t.buc, adapter.buc);
    }
}
