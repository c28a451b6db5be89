//! The capability seeds the Sidecar holds in Authority mode (DOC-17): every
//! file of `[sidecar.capability_seed] paths` parses, verifies under
//! `[sidecar.authority] public_key_path` and has not expired.

use firma_core::UnixTime;
use firma_core::token::{PublicKey, Seed, rfc3339};

use super::Context;
use super::check::{Check, Findings, sh};
use super::keys::NO_CONFIG;

const ID: &str = "capability-seed";
const TITLE: &str = "capability seed";

/// `capability-seed`.
pub fn check(cx: &Context) -> Check {
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let link = &config.sidecar.authority;
    if link.url.is_none() {
        return Check::skip(
            ID,
            TITLE,
            "policy-only mode (`[sidecar.authority] url` unset): Stage 1 needs no capability token",
        );
    }
    let Some(key_path) = &link.public_key_path else {
        return Check::skip(
            ID,
            TITLE,
            "`[sidecar.authority] public_key_path` is unset (see `authority-key`)",
        );
    };
    let Some(key) = std::fs::read(key_path)
        .ok()
        .and_then(|b| PublicKey::from_bytes(&b).ok())
    else {
        return Check::skip(
            ID,
            TITLE,
            format!(
                "{} is not a usable public key (see `authority-key`)",
                key_path.display()
            ),
        );
    };
    let config_file = match &config.origin {
        firma_core::config::ConfigOrigin::File(p) => p.display().to_string(),
        firma_core::config::ConfigOrigin::Embedded => "firma.toml".to_owned(),
    };
    let daemon_seed = cx.state_dir.join("capabilities").join("daemon.toml");
    let paths = &config.sidecar.capability_seed_paths;
    let state = sh(&cx.state_dir);
    if paths.is_empty() {
        return Check::fail(
            ID,
            TITLE,
            "`[sidecar.capability_seed] paths` is empty: every protected call is denied `TokenInvalid`",
            format!(
                "add `paths = [\"{}\"]` under [sidecar.capability_seed] in {config_file}",
                daemon_seed.display()
            ),
        );
    }
    let running = cx.daemon.sidecar.is_some();
    let restart = format!(
        "firma sidecar stop --state-dir {state} && firma sidecar start --detach --state-dir {state}"
    );
    let now = now();
    let mut found = Findings::default();
    let mut valid = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !running => {
                found.warn(
                    format!(
                        "{} does not exist yet (`firma sidecar start` writes {})",
                        path.display(),
                        daemon_seed.display()
                    ),
                    format!("firma sidecar start --detach --state-dir {state}"),
                );
                continue;
            }
            Err(e) => {
                found.fail(
                    format!("cannot read capability seed {}: {e}", path.display()),
                    if *path == daemon_seed {
                        restart.clone()
                    } else {
                        format!(
                            "issue it with `firma authority issue` or remove it from `[sidecar.capability_seed] paths` in {config_file}"
                        )
                    },
                );
                continue;
            }
        };
        match Seed::parse(path, &text, &key) {
            Err(e) => found.fail(
                e.to_string(),
                format!(
                    "re-issue {} (`firma sidecar start` re-issues the daemon seed), or fix the file at the position named",
                    path.display()
                ),
            ),
            Ok(seed) => {
                let claims = seed.capability.claims();
                if claims.is_expired(now) {
                    let fix = if running && *path == daemon_seed {
                        restart.clone()
                    } else {
                        format!("re-issue {} with `firma authority issue`", path.display())
                    };
                    let problem = format!(
                        "{} expired at {}: protected calls are denied `TokenExpired`",
                        path.display(),
                        rfc3339(claims.expiry)
                    );
                    if running {
                        found.fail(problem, fix);
                    } else {
                        found.warn(problem, fix);
                    }
                } else {
                    valid.push(format!(
                        "{} (agent {}, {} action class{}, expires {})",
                        path.display(),
                        claims.agent_id,
                        claims.action_set.len(),
                        if claims.action_set.len() == 1 {
                            ""
                        } else {
                            "es"
                        },
                        rfc3339(claims.expiry)
                    ));
                }
            }
        }
    }
    found.into_check(ID, TITLE, format!("valid: {}", valid.join(", ")))
}

fn now() -> UnixTime {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    UnixTime::from_nanos(nanos)
}
