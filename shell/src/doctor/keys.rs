//! Keys and their permissions (DOC-6): the Authority's Ed25519 key pair and
//! the public key the Sidecar verifies tokens with, and the audit signing key.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use firma_core::config::{ConfigOrigin, SigningKey as AuditKey};
use firma_core::token::{PublicKey, SigningKey};

use super::Context;
use super::check::{Check, Findings, sh};

/// The reason dependent checks give when the config did not load.
pub const NO_CONFIG: &str = "the config did not load (see `config`)";

/// `authority-key`.
pub fn authority_key(cx: &Context) -> Check {
    const ID: &str = "authority-key";
    const TITLE: &str = "authority key";
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    if config.origin == ConfigOrigin::Embedded {
        return Check::skip(
            ID,
            TITLE,
            "no project config: the embedded default has no Authority",
        );
    }
    let link = &config.sidecar.authority;
    let key_file = &config.authority.key_file;
    if link.url.is_none() && link.public_key_path.is_none() && !key_file.exists() {
        return Check::skip(
            ID,
            TITLE,
            "policy-only mode (`[sidecar.authority] url` unset): no Authority key is used",
        );
    }
    let mut found = Findings::default();
    let regenerate = format!(
        "mv {0} {0}.old && firma authority generate-key -o {0} (tokens signed by the old key stop verifying)",
        sh(key_file)
    );
    let secret = read_secret(key_file, &mut found, &regenerate);
    let pub_file = key_file.with_extension("pub");
    let public = secret.as_ref().map(SigningKey::public_key);
    check_public(&pub_file, public.as_ref(), &mut found, &regenerate);
    let config_file = match &config.origin {
        ConfigOrigin::File(p) => p.display().to_string(),
        ConfigOrigin::Embedded => "firma.toml".to_owned(),
    };
    match &link.public_key_path {
        Some(p) if *p != pub_file => {
            if let Some(public) = &public {
                match std::fs::read(p) {
                    Ok(bytes) if bytes == public.to_bytes() => {}
                    Ok(_) => found.fail(
                        format!(
                            "`[sidecar.authority] public_key_path` {} is not the public half of {}: tokens the Authority issues will not verify",
                            p.display(),
                            key_file.display()
                        ),
                        format!(
                            "set `public_key_path = \"{}\"` under [sidecar.authority] in {config_file}",
                            pub_file.display()
                        ),
                    ),
                    Err(e) => found.fail(
                        format!(
                            "cannot read `[sidecar.authority] public_key_path` {}: {e}",
                            p.display()
                        ),
                        format!(
                            "set `public_key_path = \"{}\"` under [sidecar.authority] in {config_file}",
                            pub_file.display()
                        ),
                    ),
                }
            }
        }
        Some(_) => {}
        None if link.url.is_some() => found.warn(
            "`[sidecar.authority] public_key_path` is not set: capability tokens cannot be verified, every protected call is denied",
            format!(
                "set `public_key_path = \"{}\"` under [sidecar.authority] in {config_file}",
                pub_file.display()
            ),
        ),
        None => {}
    }
    found.into_check(
        ID,
        TITLE,
        format!(
            "{} (64 bytes, 0600), {} matches{}",
            key_file.display(),
            pub_file.display(),
            if link.public_key_path.is_some() {
                ", `[sidecar.authority] public_key_path` matches"
            } else {
                ""
            }
        ),
    )
}

/// The secret key: 0600, 64 raw bytes whose public half belongs to the seed.
fn read_secret(path: &Path, found: &mut Findings, regenerate: &str) -> Option<SigningKey> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            found.fail(
                format!("`[authority] key_file` {} does not exist", path.display()),
                format!("firma authority generate-key -o {}", sh(path)),
            );
            return None;
        }
        Err(e) => {
            found.fail(
                format!("cannot inspect {}: {e}", path.display()),
                format!("chmod 600 {}", sh(path)),
            );
            return None;
        }
    };
    loose(path, meta.mode(), found);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            found.fail(
                format!("cannot read {}: {e}", path.display()),
                format!("chmod 600 {}", sh(path)),
            );
            return None;
        }
    };
    if bytes.len() != 64 {
        found.fail(
            format!(
                "{} is {} bytes, expected 64 raw bytes (ed25519 seed and public key)",
                path.display(),
                bytes.len()
            ),
            regenerate.to_owned(),
        );
    }
    match SigningKey::from_bytes(&bytes) {
        Ok(k) => Some(k),
        Err(e) => {
            if bytes.len() == 64 {
                found.fail(format!("{}: {e}", path.display()), regenerate.to_owned());
            }
            None
        }
    }
}

/// The `.pub` beside the secret: 32 raw bytes equal to the secret's public half.
fn check_public(path: &Path, expected: Option<&PublicKey>, found: &mut Findings, regenerate: &str) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            found.fail(
                format!("cannot read the public key {}: {e}", path.display()),
                regenerate.to_owned(),
            );
            return;
        }
    };
    if let Ok(meta) = std::fs::metadata(path)
        && meta.mode() & 0o022 != 0
    {
        found.fail(
            format!(
                "{} has mode {:04o}: others may replace the key tokens are verified with",
                path.display(),
                meta.mode() & 0o7777
            ),
            format!("chmod 644 {}", sh(path)),
        );
    }
    match PublicKey::from_bytes(&bytes) {
        Err(e) => found.fail(format!("{}: {e}", path.display()), regenerate.to_owned()),
        Ok(public) => {
            if let Some(expected) = expected
                && public != *expected
            {
                found.fail(
                    format!(
                        "{} is not the public half of the secret key beside it",
                        path.display()
                    ),
                    regenerate.to_owned(),
                );
            }
        }
    }
}

/// A secret readable or writable by group or others fails the check.
fn loose(path: &Path, mode: u32, found: &mut Findings) {
    if mode & 0o077 != 0 {
        found.fail(
            format!(
                "{} has mode {:04o}, a secret key must be 0600",
                path.display(),
                mode & 0o7777
            ),
            format!("chmod 600 {}", sh(path)),
        );
    }
}

/// `audit-key`.
pub fn audit_key(cx: &Context) -> Check {
    const ID: &str = "audit-key";
    const TITLE: &str = "audit signing key";
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let key = &config.sidecar.audit.signing_key;
    let path = key.path();
    let generate = format!(
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {0} && chmod 600 {0}",
        sh(path)
    );
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match key {
                AuditKey::GenerateIfMissing(_) => Check::ok(
                    ID,
                    TITLE,
                    format!(
                        "{} does not exist yet; the sidecar creates it (0600) on first start",
                        path.display()
                    ),
                ),
                AuditKey::File(_) => Check::fail(
                    ID,
                    TITLE,
                    format!(
                        "`[sidecar.audit] signing_key_path` {} does not exist",
                        path.display()
                    ),
                    generate,
                ),
            };
        }
        Err(e) => {
            return Check::fail(
                ID,
                TITLE,
                format!("cannot inspect {}: {e}", path.display()),
                format!("chmod 600 {}", sh(path)),
            );
        }
    };
    let mut found = Findings::default();
    loose(path, meta.mode(), &mut found);
    match std::fs::read_to_string(path) {
        Err(e) => found.fail(
            format!("cannot read {}: {e}", path.display()),
            format!("chmod 600 {}", sh(path)),
        ),
        Ok(pem) => {
            if let Err(e) = firma_core::audit::P256Signer::from_pem(&pem) {
                found.fail(
                    format!("{} is not a P-256 private key in PEM: {e}", path.display()),
                    format!(
                        "mv {0} {0}.old && {generate} (a new key starts a new audit chain)",
                        sh(path)
                    ),
                );
            }
        }
    }
    found.into_check(ID, TITLE, format!("{} (P-256 PEM, 0600)", path.display()))
}
