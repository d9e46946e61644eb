//! Replays the fuzzers' saved corpus and every saved crash (`fuzz/corpus/<target>`,
//! `fuzz/regressions/<target>`) through the same code the fuzz targets run, so a
//! finding that was fixed stays fixed.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(dir)
            .join(target);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for e in entries {
            let file = e.unwrap().path();
            if file
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            run(&std::fs::read(&file).unwrap());
            n += 1;
        }
    }
    n
}

#[test]
fn the_saved_fuzz_corpus_replays_without_a_panic() {
    let envelope = replay("envelope", eessi_switch::fuzz::envelope::run);
    let adapter = replay("adapter", eessi_switch::fuzz::adapter::run);
    let buc_step = replay("buc_step", eessi_switch::fuzz::buc_step::run);
    assert!(
        envelope >= 50 && adapter >= 5 && buc_step >= 50,
        "corpus too small: {envelope} {adapter} {buc_step}"
    );
}
