//! The daemon's capability seed (DMN-6): with an Authority, Stage 1 needs a
//! token, so the daemon issues one in process for `[sidecar.authority]
//! agent_id`, requesting every action class with scope `*` (the issuance
//! policies narrow it), and rewrites `<state>/capabilities/daemon.toml`
//! atomically at half its lifetime.

use std::path::PathBuf;
use std::time::Duration;

use firma_core::ActionClass;
use firma_core::config::Config;
use firma_core::token::Seed;
use ring::rand::{SecureRandom, SystemRandom};

use super::{DaemonError, files};
use crate::authority::issuer::{IssueRequest, Issuer, load_policies};
use crate::sidecar::clock::wall_now;

/// The session id the daemon's token carries.
pub const SESSION_ID: &str = "daemon";

/// Issues the daemon seed from the config's `[authority]` section.
#[derive(Debug, Clone)]
pub struct SeedWriter {
    config: Config,
    agent_id: String,
    path: PathBuf,
}

impl SeedWriter {
    /// A writer for `path`. Fails when the config has no
    /// `[sidecar.authority] agent_id`.
    pub fn new(config: &Config, path: PathBuf) -> Result<SeedWriter, DaemonError> {
        let agent_id = config.sidecar.authority.agent_id.clone().ok_or_else(|| {
            DaemonError::Config(
                "`[sidecar.authority] agent_id` is not set: the daemon issues its capability seed for that agent \
                 (`firma init` writes one)"
                    .into(),
            )
        })?;
        if !config.sidecar.capability_seed_paths.contains(&path) {
            eprintln!(
                "[WARN] `[sidecar.capability_seed] paths` does not list `{}`: the sidecar will not load the daemon's \
                 token and denies protected calls TokenInvalid",
                path.display()
            );
        }
        Ok(SeedWriter {
            config: config.clone(),
            agent_id,
            path,
        })
    }

    /// Issue a fresh token (re-reading the key and both policy sets) and
    /// write the seed; returns its granted lifetime.
    pub fn issue(&self) -> Result<Duration, DaemonError> {
        let fail = |reason: String| DaemonError::Step {
            step: "issuing the daemon capability seed".into(),
            reason,
        };
        let authority = &self.config.authority;
        let issuer = Issuer::load(authority).map_err(|e| fail(e.to_string()))?;
        let bundle = load_policies(
            &authority.policy_dir,
            authority.schema_path.as_deref(),
            "enforcement",
        )
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| {
            fail(format!(
                "enforcement policy directory `{}` (`[authority] policy_dir`) holds no `*.cedar` files",
                authority.policy_dir.display()
            ))
        })?;
        let mut entropy = [0u8; 10];
        SystemRandom::new()
            .fill(&mut entropy)
            .map_err(|_| fail("the system random number generator failed".into()))?;
        let request = IssueRequest {
            agent_id: self.agent_id.clone(),
            session_id: SESSION_ID.into(),
            actions: ActionClass::ALL
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            resource_scope: "*".into(),
            requested_ttl_secs: 0,
        };
        let capability = issuer
            .issue(&request, bundle.version(), wall_now(), entropy)
            .map_err(|d| fail(format!("issuance denied: {}: {}", d.code, d.message)))?;
        let claims = capability.claims();
        let ttl = claims.expiry.saturating_since(claims.issued_at);
        let text = Seed {
            capability,
            budget_ceiling: None,
        }
        .to_toml();
        files::write_atomic(&self.path, text.as_bytes(), 0o600)?;
        Ok(ttl)
    }
}

/// When to re-issue a seed of lifetime `ttl`: at half of it, at least 1 s.
pub fn reissue_after(ttl: Duration) -> Duration {
    (ttl / 2).max(Duration::from_secs(1))
}
