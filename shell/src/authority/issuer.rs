//! Token issuance shared by `firma authority issue` and the
//! `IssueCapability` RPC (spec `ISS-*`): loads the signing key and the
//! issuance policies, asks core for the decision and signs the claims.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use firma_core::config::AuthorityConfig;
use firma_core::policy::{Bundle, PolicySource};
use firma_core::time::UnixTime;
use firma_core::token::issuance::{self, IssuanceInput, IssuanceRequest, RefusedAction};
use firma_core::token::{Capability, SigningKey, new_token_id};

use crate::sidecar::startup::{StartupError, read_policy_dir};

/// What a caller asks for (CLI flags or `IssueCapabilityRequest`).
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// `agent_id`.
    pub agent_id: String,
    /// `session_id`.
    pub session_id: String,
    /// Requested action classes, as given (validated by `issue`).
    pub actions: Vec<String>,
    /// Requested resource scope (`*` when empty).
    pub resource_scope: String,
    /// Requested lifetime in seconds; `<= 0` means the maximum.
    pub requested_ttl_secs: i64,
}

/// Why nothing was issued: a machine code (`NO_POLICIES`, `NO_ACTIONS`,
/// `INVALID_REQUEST`, `NO_AUTHORIZED_ACTIONS`, `INTERNAL`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueDenial {
    /// Machine-readable code (the RPC's `deny_reason`).
    pub code: &'static str,
    /// Human-readable message (the RPC's `deny_message`).
    pub message: String,
}

/// Loading the issuer failed (key or issuance policies). The message names
/// the file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IssuerError(pub String);

/// A granted issuance with the requested actions that were narrowed away.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The signed token.
    pub capability: Capability,
    /// Requested actions the issuance policies did not authorize.
    pub refused: Vec<RefusedAction>,
}

/// The signing key, the issuance policies and the TTL limit.
pub struct Issuer {
    key: SigningKey,
    policies: Option<Bundle>,
    max_ttl: Duration,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("public_key", &self.key.public_key())
            .field("policies", &self.policies)
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

impl Issuer {
    /// Load `[authority] key_file` and compile `issuance_policy_dir`. A
    /// missing or empty issuance directory is not an error: every issuance
    /// is then denied `NO_POLICIES`.
    pub fn load(config: &AuthorityConfig) -> Result<Issuer, IssuerError> {
        let key = read_signing_key(&config.key_file)?;
        let policies = load_policies(
            &config.issuance_policy_dir,
            config.schema_path.as_deref(),
            "issuance",
        )?;
        Ok(Issuer {
            key,
            policies,
            max_ttl: config.max_ttl,
        })
    }

    /// Decide and sign. `bundle_version` is the enforcement bundle version
    /// current at issuance (it goes into `context_hash`); `token_id_entropy`
    /// is 10 random bytes from the caller.
    pub fn issue(
        &self,
        request: &IssueRequest,
        bundle_version: &str,
        now: UnixTime,
        token_id_entropy: [u8; 10],
    ) -> Result<Capability, IssueDenial> {
        self.issue_detailed(request, bundle_version, now, token_id_entropy)
            .map(|issued| issued.capability)
    }

    /// [`Issuer::issue`], also returning the requested actions that were
    /// narrowed away (ISS-6).
    pub fn issue_detailed(
        &self,
        request: &IssueRequest,
        bundle_version: &str,
        now: UnixTime,
        token_id_entropy: [u8; 10],
    ) -> Result<Issued, IssueDenial> {
        let token_id = new_token_id(now, token_id_entropy);
        let grant = issuance::decide(
            &IssuanceRequest {
                agent_id: &request.agent_id,
                session_id: &request.session_id,
                actions: &request.actions,
                resource_scope: &request.resource_scope,
                requested_ttl_secs: request.requested_ttl_secs,
            },
            &IssuanceInput {
                policies: self.policies.as_ref(),
                bundle_version,
                token_id: &token_id,
                now,
                max_ttl: self.max_ttl,
            },
        )
        .map_err(|d| IssueDenial {
            code: d.code.as_str(),
            message: d.message,
        })?;
        let capability = Capability::issue(&self.key, grant.claims).map_err(|e| IssueDenial {
            code: "INTERNAL",
            message: format!("cannot sign the token: {e}"),
        })?;
        Ok(Issued {
            capability,
            refused: grant.refused,
        })
    }
}

/// Read a secret key file (TOK-3): 64 raw bytes (seed ‖ public key) or a
/// 32-byte seed, not readable by group or others.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, IssuerError> {
    let fail = |what: String| {
        IssuerError(format!(
            "authority signing key `{}`: {what}",
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            fail("does not exist; create it with `firma authority generate-key`".to_owned())
        } else {
            fail(format!("cannot inspect: {e}"))
        }
    })?;
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "has mode {mode:04o}; it must not be readable by group or others (run `chmod 600 {}`)",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    SigningKey::from_bytes(&bytes).map_err(|e| fail(e.to_string()))
}

/// Compile every `*.cedar` in `dir` (sorted by name) with the schema
/// `schema_path`, else the directory's `*.cedarschema`, else the built-in
/// one. `None` when the directory does not exist or holds no `*.cedar`;
/// `what` names the policy set in messages (`issuance`, `enforcement`).
pub fn load_policies(
    dir: &Path,
    schema_path: Option<&Path>,
    what: &str,
) -> Result<Option<Bundle>, IssuerError> {
    let (files, dir_schema) = match read_policy_dir(dir) {
        Ok(found) => found,
        Err(StartupError::NoPolicies(_)) => return Ok(None),
        Err(StartupError::PolicyDir { path, source })
            if path == dir && source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(None);
        }
        Err(e) => return Err(IssuerError(format!("{what} policies: {e}"))),
    };
    let schema = match schema_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                IssuerError(format!("cannot read Cedar schema `{}`: {e}", p.display()))
            })?;
            Some((p.display().to_string(), text))
        }
        None => dir_schema,
    };
    let sources = PolicySource::of_pairs(&files);
    Bundle::compile(&sources, schema.as_ref().map(PolicySource::of_pair))
        .map(Some)
        .map_err(|e| IssuerError(format!("{what} policies in `{}`: {e}", dir.display())))
}
