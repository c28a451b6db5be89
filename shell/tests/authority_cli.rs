//! The offline `firma authority` subcommands through the real binary (spec
//! `ISS-10`..`ISS-19`): key generation, in-process issuance to a seed file,
//! the revocation file, and TLS material checked with `openssl`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use firma_core::policy::{Bundle, PolicySource};
use firma_core::token::{PublicKey, Seed, context_hash, parse_revocations};

const ENFORCEMENT: &str = "permit(principal, action, resource);\n";
const ISSUANCE: &str = r#"@id("reads")
permit(principal, action == Firma::Action::"code.read", resource);
@id("no-bob")
forbid(principal == Firma::Agent::"agt_bob", action, resource);
"#;

/// A fresh directory for one test, with no config above it.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("authority-cli")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `firma authority <args>` in `dir`, with no config or state from the
/// environment.
fn firma(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firma"))
        .arg("authority")
        .args(args)
        .current_dir(dir)
        .env_remove("FIRMA_CONFIG")
        .env("FIRMA_STATE_DIR", dir.join("state"))
        .output()
        .expect("run firma")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A workspace with a config, enforcement and issuance policies and a key.
fn authority_dir(name: &str, extra: &str) -> PathBuf {
    let dir = scratch(name);
    fs::write(
        dir.join("firma.toml"),
        format!(
            "[sidecar.audit]\nsigning_key_path = \"audit.key\"\n\n[authority]\nkey_file = \"keys/authority.key\"\n{extra}"
        ),
    )
    .unwrap();
    fs::create_dir_all(dir.join("keys")).unwrap();
    fs::create_dir_all(dir.join("policies")).unwrap();
    fs::create_dir_all(dir.join("issuance-policies")).unwrap();
    fs::write(dir.join("policies/p.cedar"), ENFORCEMENT).unwrap();
    fs::write(dir.join("issuance-policies/i.cedar"), ISSUANCE).unwrap();
    let o = firma(&dir, &["-c", "firma.toml", "generate-key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    dir
}

fn public_key(dir: &Path) -> PublicKey {
    PublicKey::from_bytes(&fs::read(dir.join("keys/authority.pub")).unwrap()).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl")
}

/// ISS-10, ISS-11: 64/32 raw bytes, 0600/0644, never overwritten, exit 2
/// naming the file.
#[test]
fn iss_11_generate_key_modes_sizes_and_no_overwrite() {
    let dir = scratch("generate-key");
    let o = firma(&dir, &["generate-key", "-o", "k/signing.key"]);
    assert_eq!(code(&o), 2, "missing directory is refused");
    assert!(err(&o).contains("k/signing.key"), "{}", err(&o));

    let o = firma(&dir, &["generate-key", "-o", "signing.key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let secret = fs::read(dir.join("signing.key")).unwrap();
    let public = fs::read(dir.join("signing.pub")).unwrap();
    assert_eq!((secret.len(), public.len()), (64, 32));
    assert_eq!(mode(&dir.join("signing.key")), 0o600);
    assert_eq!(mode(&dir.join("signing.pub")), 0o644);
    assert_eq!(&secret[32..], &public[..], "public half of the pair");
    assert!(out(&o).contains("public_key_path = "), "{}", out(&o));

    // Never overwritten: a second run fails and changes nothing.
    let o = firma(&dir, &["generate-key", "--output", "signing.key"]);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("signing.key` already exists"),
        "{}",
        err(&o)
    );
    assert_eq!(fs::read(dir.join("signing.key")).unwrap(), secret);
    assert_eq!(fs::read(dir.join("signing.pub")).unwrap(), public);

    // Only the public half present: still refused, no secret written.
    fs::write(dir.join("other.pub"), b"x").unwrap();
    let o = firma(&dir, &["generate-key", "-o", "other.key"]);
    assert_eq!(code(&o), 2);
    assert!(!dir.join("other.key").exists());
    assert_eq!(fs::read(dir.join("other.pub")).unwrap(), b"x");

    // A `.pub` secret path would collide with its own public key.
    let o = firma(&dir, &["generate-key", "-o", "x.pub"]);
    assert_eq!(code(&o), 2);
    assert!(!dir.join("x.pub").exists());

    // Defaults: the configured key_file, else ./firma-authority.key.
    let o = firma(&dir, &["generate-key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(fs::read(dir.join("firma-authority.key")).unwrap().len(), 64);
    assert_eq!(fs::read(dir.join("firma-authority.pub")).unwrap().len(), 32);
    fs::write(
        dir.join("firma.toml"),
        "[sidecar.audit]\nsigning_key_path = \"audit.key\"\n[authority]\nkey_file = \"conf.key\"\n",
    )
    .unwrap();
    let o = firma(&dir, &["-c", "firma.toml", "generate-key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(mode(&dir.join("conf.key")), 0o600);
    assert_eq!(mode(&dir.join("conf.pub")), 0o644);
}

/// ISS-12, ISS-20: `issue` writes a seed that loads under the public key,
/// narrows with a warning, never overwrites, denies with exit 1, and refuses
/// an unusable key or issuance policy set.
#[test]
fn iss_12_issue_writes_a_verifiable_seed() {
    let dir = authority_dir("issue", "max_ttl_seconds = 600\n");
    let o = firma(
        &dir,
        &[
            "-c",
            "firma.toml",
            "issue",
            "--agent-id",
            "agt_alice",
            "--session-id",
            "sess_1",
            "--action",
            "code.read",
            "--action",
            "code.write",
            "--resource-scope",
            "api.github.com/repos/o/r",
            "--ttl-seconds",
            "99999",
            "-o",
            "seed.toml",
        ],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        err(&o).contains("warning: not granted: `code.write` (no permit policy applies)"),
        "{}",
        err(&o)
    );
    let seed_path = dir.join("seed.toml");
    assert_eq!(mode(&seed_path), 0o600);
    let text = fs::read_to_string(&seed_path).unwrap();
    let seed = Seed::parse(&seed_path, &text, &public_key(&dir)).unwrap();
    let c = seed.capability.claims();
    assert_eq!(c.agent_id, "agt_alice");
    assert_eq!(c.session_id, "sess_1");
    let actions: Vec<&str> = c.action_set.iter().map(|a| a.as_str()).collect();
    assert_eq!(actions, ["code.read"]);
    assert_eq!(c.resource_scope.as_str(), "api.github.com/repos/o/r");
    assert_eq!(
        c.expiry.saturating_since(c.issued_at).as_secs(),
        600,
        "clamped to max_ttl_seconds"
    );
    // The context hash binds the enforcement bundle version.
    let version = Bundle::compile(
        &[PolicySource {
            name: "p.cedar",
            text: ENFORCEMENT,
        }],
        None,
    )
    .unwrap()
    .version()
    .to_owned();
    assert_eq!(
        c.context_hash,
        context_hash(
            "agt_alice",
            &c.action_set,
            "api.github.com/repos/o/r",
            &version
        )
    );

    // Never overwrites the seed.
    let again = [
        "-c",
        "firma.toml",
        "issue",
        "--agent-id",
        "agt_alice",
        "--session-id",
        "sess_1",
        "--action",
        "code.read",
        "-o",
        "seed.toml",
    ];
    let o = firma(&dir, &again);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    assert_eq!(fs::read_to_string(&seed_path).unwrap(), text);

    // stdout: the seed itself, defaults `*` and max TTL for `0`.
    let o = firma(
        &dir,
        &[
            "-c",
            "firma.toml",
            "issue",
            "--agent-id",
            "agt_alice",
            "--session-id",
            "sess_2",
            "--action",
            "code.read",
            "--ttl-seconds",
            "0",
        ],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    let s = Seed::parse(Path::new("<stdout>"), &out(&o), &public_key(&dir)).unwrap();
    let c2 = s.capability.claims();
    assert!(c2.resource_scope.is_any());
    assert_eq!(c2.expiry.saturating_since(c2.issued_at).as_secs(), 600);
    assert_ne!(c2.token_id, c.token_id);

    // Denials: exit 1 with the code; nothing written.
    let deny = |agent: &str, action: &str| {
        firma(
            &dir,
            &[
                "-c",
                "firma.toml",
                "issue",
                "--agent-id",
                agent,
                "--session-id",
                "s",
                "--action",
                action,
                "-o",
                "denied.toml",
            ],
        )
    };
    let o = deny("agt_bob", "code.read");
    assert_eq!(code(&o), 1);
    assert!(
        err(&o).contains("NO_AUTHORIZED_ACTIONS") && err(&o).contains("policy `no-bob`"),
        "{}",
        err(&o)
    );
    let o = deny("bob", "code.read");
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("INVALID_REQUEST"), "{}", err(&o));
    let o = deny("agt_alice", "code.reed");
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("`code.reed`"), "{}", err(&o));
    fs::remove_file(dir.join("issuance-policies/i.cedar")).unwrap();
    let o = deny("agt_alice", "code.read");
    assert_eq!(code(&o), 1);
    assert!(err(&o).contains("NO_POLICIES"), "{}", err(&o));
    assert!(!dir.join("denied.toml").exists());

    // ISS-20: issuance policies that do not compile are refused naming the file.
    fs::write(
        dir.join("issuance-policies/i.cedar"),
        "permit(principal, action, resource) when { context.nope };\n",
    )
    .unwrap();
    let o = deny("agt_alice", "code.read");
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("i.cedar"), "{}", err(&o));

    // ISS-20: a loose or missing key is refused naming the file (exit 2).
    fs::write(dir.join("issuance-policies/i.cedar"), ISSUANCE).unwrap();
    let key = dir.join("keys/authority.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let o = deny("agt_alice", "code.read");
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("authority.key") && err(&o).contains("0644"),
        "{}",
        err(&o)
    );
    fs::remove_file(&key).unwrap();
    let o = deny("agt_alice", "code.read");
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("authority.key") && err(&o).contains("generate-key"),
        "{}",
        err(&o)
    );
}

/// ISS-13, ISS-14, ISS-15, ISS-16: add (idempotent, bad ids refused), list,
/// remove, compact.
#[test]
fn iss_13_to_16_revocations_round_trip() {
    let dir = authority_dir("revocations", "max_ttl_seconds = 3600\n");
    let rev = |args: &[&str]| {
        let mut all = vec!["-c", "firma.toml", "revocations"];
        all.extend_from_slice(args);
        firma(&dir, &all)
    };
    let file = dir.join("revocations.txt");
    let a = "ctok_01j0000000e008000000000001";
    let b = "ctok_01j0000000e008000000000002";

    let o = rev(&["add", "tok_123"]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("tok_123"), "{}", err(&o));
    assert!(!file.exists(), "a refused id creates nothing");

    let o = rev(&["add", b, "--reason", "leaked\tkey"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(mode(&file), 0o644);
    let o = rev(&["add", a]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = rev(&["add", a, "--reason", "again"]);
    assert_eq!(code(&o), 0);
    assert!(out(&o).contains("already revoked"), "{}", out(&o));
    let text = fs::read_to_string(&file).unwrap();
    let now = firma_core::time::UnixTime::from_secs(4_000_000_000);
    let (entries, warnings) = parse_revocations(&text, now);
    assert!(warnings.is_empty());
    let ids: Vec<&str> = entries.iter().map(|e| e.token_id.as_str()).collect();
    assert_eq!(ids, [b, a], "appended in order, no duplicate");
    assert_eq!(entries[0].reason, "leaked key");
    assert_eq!(entries[1].reason, "operator-revoked");

    let o = rev(&["list"]);
    assert_eq!(code(&o), 0);
    let listed = out(&o);
    let lines: Vec<&str> = listed
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(lines, [a, b], "sorted by token id");
    let o = rev(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v[0]["token_id"], a);
    assert_eq!(v[1]["reason"], "leaked key");
    assert_eq!(v[1]["expired"], false);

    let o = rev(&["remove", "ctok_bad"]);
    assert_eq!(code(&o), 2);
    let o = rev(&["remove", "ctok_01j0000000e008000000000003"]);
    assert_eq!(code(&o), 2, "an id not in the file is reported");
    assert_eq!(fs::read_to_string(&file).unwrap(), text);
    let o = rev(&["remove", a]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let o = rev(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["token_id"], b);

    // compact: expired, duplicate and bad lines go; the rest is sorted.
    let mut t = fs::read_to_string(&file).unwrap();
    t.push_str("ctok_01j0000000e008000000000009\t2020-01-01T00:00:00Z\told\n");
    t.push_str(&format!("{a}\t2099-01-01T00:00:00Z\tfuture\n"));
    t.push_str(&format!("{a}\t2098-01-01T00:00:00Z\tdup\n"));
    t.push_str("garbage\n");
    fs::write(&file, &t).unwrap();
    let o = rev(&["compact"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).contains("kept 2, dropped 3 (1 expired, 1 duplicate(s), 1 unreadable"),
        "{}",
        out(&o)
    );
    let compacted = fs::read_to_string(&file).unwrap();
    let (entries, warnings) = parse_revocations(&compacted, now);
    assert!(warnings.is_empty());
    let ids: Vec<&str> = entries.iter().map(|e| e.token_id.as_str()).collect();
    assert_eq!(ids, [a, b]);
    assert_eq!(entries[0].reason, "future", "the later revocation is kept");
    assert_eq!(mode(&file), 0o644);
}

/// ISS-10, ISS-17: four files with their modes, a chain `openssl` accepts, and
/// nothing written when any target exists.
#[test]
fn iss_17_init_tls() {
    let dir = scratch("init-tls");
    let o = firma(
        &dir,
        &[
            "init-tls",
            "--out-dir",
            "tls",
            "--host",
            "authority.test",
            "--host",
            "10.1.2.3",
        ],
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    let tls = dir.join("tls");
    for (name, m) in [
        ("authority-ca.crt", 0o644),
        ("authority-ca.key", 0o600),
        ("authority-tls.crt", 0o644),
        ("authority-tls.key", 0o600),
    ] {
        assert_eq!(mode(&tls.join(name)), m, "{name}");
    }
    assert!(out(&o).contains("tls_cert_path = "), "{}", out(&o));
    assert!(out(&o).contains("url = \"https://127.0.0.1:50051\""));
    assert!(out(&o).contains("ca_cert_path = "));
    let v = openssl(
        &tls,
        &["verify", "-CAfile", "authority-ca.crt", "authority-tls.crt"],
    );
    assert!(v.status.success(), "{}{}", out(&v), err(&v));
    let san = openssl(
        &tls,
        &[
            "x509",
            "-in",
            "authority-tls.crt",
            "-noout",
            "-ext",
            "subjectAltName",
            "-subject",
        ],
    );
    let san = out(&san);
    for want in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "DNS:authority.test",
        "IP Address:10.1.2.3",
        "CN = firma-authority",
    ] {
        assert!(san.contains(want), "{want} in {san}");
    }
    let ca = openssl(
        &tls,
        &["x509", "-in", "authority-ca.crt", "-noout", "-subject"],
    );
    assert!(out(&ca).contains("CN = Firma Authority CA"), "{}", out(&ca));

    // One existing target: refused, nothing written.
    let other = dir.join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("authority-tls.key"), "keep").unwrap();
    let o = firma(&dir, &["init-tls", "--out-dir", "other"]);
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("authority-tls.key"), "{}", err(&o));
    let names: Vec<String> = fs::read_dir(&other)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["authority-tls.key"]);
    assert_eq!(
        fs::read_to_string(other.join("authority-tls.key")).unwrap(),
        "keep"
    );

    let o = firma(
        &dir,
        &["init-tls", "--out-dir", "bad", "--host", "not a host"],
    );
    assert_eq!(code(&o), 2);
    assert!(!dir.join("bad").exists());
}

/// ISS-18, ISS-19: a client CA, a client certificate `openssl` verifies for
/// client auth, the identity printed, and a mismatched CA key refused.
#[test]
fn iss_18_19_client_ca_and_client_cert() {
    let dir = scratch("client-ca");
    let o = firma(&dir, &["generate-client-ca"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert_eq!(mode(&dir.join("firma-client-ca.crt")), 0o644);
    assert_eq!(mode(&dir.join("firma-client-ca.key")), 0o600);
    assert!(
        out(&o).contains("mtls_client_ca_cert_path = "),
        "{}",
        out(&o)
    );
    let o = firma(&dir, &["generate-client-ca"]);
    assert_eq!(code(&o), 2, "never overwrites");

    let issue = |extra: &[&str], cert: &str, key: &str| {
        let mut args = vec![
            "-c",
            "firma.toml",
            "issue-client-cert",
            "--cert-out",
            cert,
            "--key-out",
            key,
        ];
        args.extend_from_slice(extra);
        firma(&dir, &args)
    };
    // No client CA configured: a clear error.
    fs::write(
        dir.join("firma.toml"),
        "[sidecar.audit]\nsigning_key_path = \"audit.key\"\n",
    )
    .unwrap();
    let o = issue(&["--cn", "sc"], "c.crt", "c.key");
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("mtls_client_ca_cert_path"), "{}", err(&o));

    let config = |ca_key: &str| {
        fs::write(
            dir.join("firma.toml"),
            format!(
                "[sidecar.audit]\nsigning_key_path = \"audit.key\"\n[authority]\ntls_cert_path = \"s.crt\"\n\
                 tls_key_path = \"s.key\"\nauthorized_clients_path = \"clients.toml\"\n\
                 mtls_client_ca_cert_path = \"firma-client-ca.crt\"\nmtls_client_ca_key_path = \"{ca_key}\"\n"
            ),
        )
        .unwrap();
    };
    config("firma-client-ca.key");
    let o = issue(
        &[
            "--cn",
            "sidecar-1",
            "--san",
            "sc1.firma.internal",
            "--days",
            "30",
        ],
        "c.crt",
        "c.key",
    );
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(
        out(&o).contains("identity: sc1.firma.internal"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("[[clients]]\n  identity = \"sc1.firma.internal\""),
        "{}",
        out(&o)
    );
    assert_eq!(mode(&dir.join("c.crt")), 0o644);
    assert_eq!(mode(&dir.join("c.key")), 0o600);
    let v = openssl(
        &dir,
        &[
            "verify",
            "-CAfile",
            "firma-client-ca.crt",
            "-purpose",
            "sslclient",
            "c.crt",
        ],
    );
    assert!(v.status.success(), "{}{}", out(&v), err(&v));
    let v = openssl(
        &dir,
        &[
            "verify",
            "-CAfile",
            "firma-client-ca.crt",
            "-purpose",
            "sslserver",
            "c.crt",
        ],
    );
    assert!(!v.status.success(), "client-auth only");

    // Without --san the identity is the CN.
    let o = issue(&["--cn", "sidecar-2"], "d.crt", "d.key");
    assert_eq!(code(&o), 0, "{}", err(&o));
    assert!(out(&o).contains("identity = \"sidecar-2\""), "{}", out(&o));

    // A CA key that is not the certificate's: refused, nothing written.
    let o = firma(
        &dir,
        &[
            "generate-client-ca",
            "--cert-out",
            "x.crt",
            "--key-out",
            "x.key",
        ],
    );
    assert_eq!(code(&o), 0);
    config("x.key");
    let o = issue(&["--cn", "sidecar-3"], "e.crt", "e.key");
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("public keys differ"), "{}", err(&o));
    assert!(!dir.join("e.crt").exists() && !dir.join("e.key").exists());

    // A CA key readable by others: refused.
    config("firma-client-ca.key");
    fs::set_permissions(
        dir.join("firma-client-ca.key"),
        fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let o = issue(&["--cn", "sidecar-3"], "e.crt", "e.key");
    assert_eq!(code(&o), 2);
    assert!(err(&o).contains("0640"), "{}", err(&o));
    assert!(!dir.join("e.crt").exists());
}

/// ISS-12: without a firma.toml, `issue` uses the embedded default (key and
/// issuance policies in the state directory) and binds the built-in
/// development policy's version, like the Authority server.
#[test]
fn iss_12_issue_on_the_embedded_default() {
    let dir = scratch("issue-embedded");
    let args = [
        "issue",
        "--agent-id",
        "agt_a",
        "--session-id",
        "s",
        "--action",
        "code.read",
    ];
    let o = firma(&dir, &args);
    assert_eq!(code(&o), 2);
    assert!(
        err(&o).contains("state/authority.key") && err(&o).contains("generate-key"),
        "{}",
        err(&o)
    );
    let o = firma(&dir, &["generate-key", "-o", "state/authority.key"]);
    assert_eq!(code(&o), 0, "{}", err(&o));
    fs::create_dir_all(dir.join("state/issuance-policies")).unwrap();
    fs::write(dir.join("state/issuance-policies/i.cedar"), ISSUANCE).unwrap();
    let o = firma(&dir, &args);
    assert_eq!(code(&o), 0, "{}", err(&o));
    let key = PublicKey::from_bytes(&fs::read(dir.join("state/authority.pub")).unwrap()).unwrap();
    let seed = Seed::parse(Path::new("<stdout>"), &out(&o), &key).unwrap();
    let dev = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packs/policies/dev.cedar"),
    )
    .unwrap();
    let version = Bundle::compile(
        &[PolicySource {
            name: "dev.cedar",
            text: &dev,
        }],
        None,
    )
    .unwrap()
    .version()
    .to_owned();
    let c = seed.capability.claims();
    assert_eq!(
        c.context_hash,
        context_hash("agt_a", &c.action_set, "*", &version)
    );
}
