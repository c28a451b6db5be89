//! Tamper evidence (spec `AUD-11`, `AUD-14`, `AUD-18`): three sealed records,
//! then fuzzer-chosen byte edits. Unless the edits leave the three records'
//! bytes intact (only appending a torn tail or dropping the final `\n`),
//! verification must not report a clean log of three records.
//!
//! Input: 4-byte edit ops `[op, pos_hi, pos_lo, byte]`; `op % 3` is 0
//! overwrite, 1 insert, 2 delete; `pos` wraps to the log length.
//!
//! Setting `FIRMA_FUZZ_WRITE_SEEDS=<dir>` writes the sealed logs to `<dir>`
//! once at start-up (`cargo xtask fuzz` seeds `audit_verify` this way).
#![no_main]

use std::sync::LazyLock;

use firma_core::audit::verify_log;
use firma_fuzz::{sealed_log, verifier};
use libfuzzer_sys::fuzz_target;

static LOG: LazyLock<Vec<u8>> = LazyLock::new(|| sealed_log(3));

fn write_seeds(dir: &str) {
    let dir = std::path::Path::new(dir);
    let full = sealed_log(4);
    let mut torn = sealed_log(3);
    torn.extend_from_slice(full.get(torn.len()..torn.len() + 40).unwrap_or_default());
    for (name, bytes) in [
        ("seed-sealed-1.jsonl", sealed_log(1)),
        ("seed-sealed-4.jsonl", full),
        ("seed-sealed-3-torn-tail.jsonl", torn),
    ] {
        if let Err(e) = std::fs::write(dir.join(name), bytes) {
            eprintln!("cannot write seed {name}: {e}");
            std::process::exit(2);
        }
    }
}

fuzz_target!(
    init: {
        if let Ok(dir) = std::env::var("FIRMA_FUZZ_WRITE_SEEDS") {
            write_seeds(&dir);
        }
    },
    |data: &[u8]| {
        let original: &[u8] = &LOG;
        let mut log = original.to_vec();
        for op in data.chunks_exact(4) {
            let [kind, hi, lo, byte] = [op[0], op[1], op[2], op[3]];
            let pos = usize::from(u16::from_be_bytes([hi, lo])) % (log.len() + 1);
            match kind % 3 {
                0 if pos < log.len() => log[pos] = byte,
                1 => log.insert(pos, byte),
                2 if pos < log.len() => {
                    log.remove(pos);
                }
                _ => {}
            }
        }
        let report = verify_log(&log, verifier());
        if log == original {
            assert!(report.is_ok() && report.verified == 3, "clean log fails: {report:?}");
        }
        // Records after the third (a torn tail) and a missing final `\n` do
        // not touch the three sealed records; every other edit does.
        let records_intact = log.starts_with(original) || original.starts_with(&log);
        if !records_intact {
            assert!(
                !(report.is_ok() && report.verified == 3),
                "tampered log verifies clean: {report:?}\n{}",
                String::from_utf8_lossy(&log)
            );
        }
    }
);
