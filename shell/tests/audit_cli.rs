//! `firma audit verify` run as the real binary (spec `AUD-11`, `AUD-13`,
//! `AUD-17`, `AUD-21`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use firma_core::audit::{AuditChain, P256Signer, RecordMeta, canonicalize};
use firma_core::decision::{Outcome, Stage};
use firma_core::engine::{Decision, Principal, RuleRef};
use firma_core::normalize::{Intent, Scheme};
use firma_core::{ActionClass, UnixTime};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/keys");
const PKCS8: &str = "TEST-ONLY-audit-p256-pkcs8.key.pem";
const PKCS8_PUB: &str = "TEST-ONLY-audit-p256-pkcs8.pub.pem";
const SEC1: &str = "TEST-ONLY-audit-p256-sec1.key.pem";
const SEC1_PUB: &str = "TEST-ONLY-audit-p256-sec1.pub.pem";
const ED25519: &str = "TEST-ONLY-ed25519.key.pem";

/// A fresh working directory holding copies of the test keys, so that paths in
/// messages are short and stable.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("audit_cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for key in [PKCS8, PKCS8_PUB, SEC1, SEC1_PUB, ED25519] {
        std::fs::copy(Path::new(KEYS).join(key), dir.join(key)).unwrap();
    }
    dir
}

fn decision(i: usize) -> Decision {
    Decision {
        outcome: Outcome::Allow,
        reason: None,
        stage: Stage::Policy,
        detail: format!("call {i}"),
        intent: Some(Intent {
            method: "GET".into(),
            scheme: Scheme::Http,
            connect: false,
            host: "wttr.in".into(),
            port: 80,
            authority: "wttr.in".into(),
            path: "/london".into(),
            query: Some("format=3".into()),
            forward_target: "/london?format=3".into(),
        }),
        action_class: Some(ActionClass::CommunicationExternalSend),
        provider: None,
        rule: Some(RuleRef {
            file: "mapping-rules.toml".into(),
            index: 1,
        }),
        matched_policies: vec!["default.cedar#0".into()],
        bundle_version: None,
        principal: Principal::default(),
    }
}

/// `n` records sealed with the key in `key_file`, one per line.
fn lines(n: usize, key_file: &str) -> Vec<String> {
    let pem = std::fs::read_to_string(Path::new(KEYS).join(key_file)).unwrap();
    let signer = P256Signer::from_pem(&pem).unwrap();
    let mut chain = AuditChain::genesis();
    (0..n)
        .map(|i| {
            let event_id = format!("aevt_{i}");
            let meta = RecordMeta {
                event_id: &event_id,
                timestamp: UnixTime::from_secs(1_790_000_000),
                latency_us: 7,
            };
            chain.seal(&decision(i), &meta, &signer)
        })
        .collect()
}

fn write_log(dir: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("audit.jsonl"), text).unwrap();
}

fn firma(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firma"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn verify(dir: &Path, key: &str) -> (i32, String, String) {
    let out = firma(dir, &["audit", "verify", "--key", key, "audit.jsonl"]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

// AUD-21, AUD-13: a good log verifies with the private key (PKCS#8 or SEC1) or the public key.
#[test]
fn aud_21_good_log_verifies_with_every_key_form() {
    let dir = workdir("good");
    for (signing, keys) in [(PKCS8, [PKCS8, PKCS8_PUB]), (SEC1, [SEC1, SEC1_PUB])] {
        write_log(&dir, &lines(3, signing));
        for key in keys {
            let (code, stdout, stderr) = verify(&dir, key);
            assert_eq!(code, 0, "{key}: {stderr}");
            assert_eq!(stdout, "ok: 3 records verified (audit.jsonl)\n");
            assert_eq!(stderr, "");
        }
    }
    write_log(&dir, &lines(1, PKCS8));
    assert_eq!(
        verify(&dir, PKCS8_PUB).1,
        "ok: 1 record verified (audit.jsonl)\n"
    );
    std::fs::write(dir.join("audit.jsonl"), "").unwrap();
    assert_eq!(
        verify(&dir, PKCS8_PUB),
        (
            0,
            "ok: 0 records verified (audit.jsonl)\n".into(),
            String::new()
        )
    );
}

// AUD-21, AUD-16: a tampered record fails with exit 1 and names the line.
#[test]
fn aud_21_tampered_log_fails_with_line_number() {
    let dir = workdir("tampered");
    let mut l = lines(3, PKCS8);
    l[1] = l[1].replacen("call 1", "call 9", 1);
    write_log(&dir, &l);
    let (code, stdout, stderr) = verify(&dir, PKCS8_PUB);
    assert_eq!((code, stdout.as_str()), (1, ""));
    assert!(
        stderr.starts_with("error: audit.jsonl: line 2: bad signature: "),
        "{stderr}"
    );
    insta::assert_snapshot!("tampered_bad_signature", stderr);
}

// AUD-21, AUD-14: a removed line and a foreign key are reported.
#[test]
fn aud_21_chain_and_key_errors() {
    let dir = workdir("chain");
    let l = lines(3, PKCS8);
    write_log(&dir, &[l[0].clone(), l[2].clone()]);
    let (code, _, stderr) = verify(&dir, PKCS8);
    assert_eq!(code, 1);
    insta::assert_snapshot!("dropped_line_bad_sequence", stderr);

    write_log(&dir, &l[1..]);
    let (code, _, stderr) = verify(&dir, PKCS8);
    assert_eq!(code, 1);
    insta::assert_snapshot!("dropped_head_bad_sequence", stderr);

    write_log(&dir, &l);
    let (code, _, stderr) = verify(&dir, SEC1_PUB);
    assert_eq!(code, 1);
    insta::assert_snapshot!("wrong_key", stderr);

    std::fs::write(dir.join("audit.jsonl"), format!("{}\nnot json\n", l[0])).unwrap();
    let (code, _, stderr) = verify(&dir, PKCS8);
    assert_eq!(code, 1);
    insta::assert_snapshot!("not_json", stderr);
}

// AUD-17, AUD-21: a torn last line is a warning, exit 0.
#[test]
fn aud_17_torn_tail_is_a_warning() {
    let dir = workdir("torn");
    let l = lines(3, PKCS8);
    let text = format!("{}\n{}\n{}", l[0], l[1], &l[2][..100]);
    std::fs::write(dir.join("audit.jsonl"), text).unwrap();
    let (code, stdout, stderr) = verify(&dir, PKCS8);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "ok: 2 records verified (audit.jsonl)\n");
    assert_eq!(
        stderr,
        "warning: audit.jsonl: line 3: torn last line (incomplete write), ignored\n"
    );
}

// AUD-21, AUD-13: unreadable files and unusable keys exit 2 naming the path.
#[test]
fn aud_21_input_errors_exit_2() {
    let dir = workdir("input");
    write_log(&dir, &lines(1, PKCS8));
    std::fs::write(dir.join("garbage.pem"), "not a key\n").unwrap();
    let mut messages = Vec::new();
    for key in ["missing.pem", "garbage.pem", ED25519] {
        let (code, stdout, stderr) = verify(&dir, key);
        assert_eq!((code, stdout.as_str()), (2, ""), "{key}: {stderr}");
        assert!(stderr.starts_with(&format!("error: {key}: ")), "{stderr}");
        messages.push(stderr);
    }
    let out = firma(&dir, &["audit", "verify", "--key", PKCS8, "missing.jsonl"]);
    assert_eq!(out.status.code(), Some(2));
    messages.push(String::from_utf8(out.stderr).unwrap());
    insta::assert_snapshot!("input_errors", messages.concat());
}

// AUD-21: every argument is documented in --help.
#[test]
fn aud_21_help_documents_arguments() {
    let out = firma(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &["audit", "verify", "--help"],
    );
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "--key <PEM>",
        "<AUDIT_LOG>",
        "BEGIN EC PRIVATE KEY",
        "Exit status",
    ] {
        assert!(help.contains(needle), "{needle} missing from:\n{help}");
    }
    let out = firma(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        &["audit", "verify", "x.jsonl"],
    );
    assert_eq!(out.status.code(), Some(2), "--key is required");
}

// AUD-11: openssl accepts the signature over the canonical bytes of the record without `signature`.
#[test]
fn aud_11_openssl_verifies_signature() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("note: `openssl` not found; skipping the ES256 interoperability check");
        return;
    }
    let dir = workdir("openssl");
    for (signing, public) in [(PKCS8, PKCS8_PUB), (SEC1, SEC1_PUB)] {
        for line in lines(2, signing) {
            let mut record: serde_json::Value = serde_json::from_str(&line).unwrap();
            let sig = record.as_object_mut().unwrap().remove("signature").unwrap();
            std::fs::write(dir.join("canonical.bin"), canonicalize(&record).unwrap()).unwrap();
            std::fs::write(dir.join("sig.b64"), sig["value"].as_str().unwrap()).unwrap();
            let run = |args: &[&str]| {
                let out = Command::new("openssl")
                    .args(args)
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            run(&["base64", "-d", "-A", "-in", "sig.b64", "-out", "sig.der"]);
            let said = run(&[
                "dgst",
                "-sha256",
                "-verify",
                public,
                "-signature",
                "sig.der",
                "canonical.bin",
            ]);
            assert_eq!(said.trim(), "Verified OK");
            // And it rejects a changed message, so the check above can fail.
            std::fs::write(
                dir.join("canonical.bin"),
                format!("{} ", canonicalize(&record).unwrap()),
            )
            .unwrap();
            let out = Command::new("openssl")
                .args([
                    "dgst",
                    "-sha256",
                    "-verify",
                    public,
                    "-signature",
                    "sig.der",
                    "canonical.bin",
                ])
                .current_dir(&dir)
                .output()
                .unwrap();
            assert!(!out.status.success());
        }
    }
}
