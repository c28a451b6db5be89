//! `firma authority issue`: decide and sign a capability token in process
//! (no server) and write it as a TOML seed (spec `ISS-12`).

use std::path::PathBuf;
use std::process::ExitCode;

use firma_core::policy::{Bundle, PolicySource};
use firma_core::token::{Seed, rfc3339};
use ring::rand::{SecureRandom, SystemRandom};

use super::Common;
use super::files::{self, CmdError, NewFile};
use super::issuer::{IssueRequest, Issued, Issuer, load_policies};
use crate::sidecar::embedded::DEV_POLICY;

/// `firma authority issue` arguments.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// The agent the token is for (`agt_…`).
    #[arg(long, value_name = "ID")]
    pub agent_id: String,
    /// The session the token is for.
    #[arg(long, value_name = "ID")]
    pub session_id: String,
    /// An action class to grant; repeat for more. Actions the issuance
    /// policies do not authorize are left out (with a warning).
    #[arg(long = "action", value_name = "CLASS", required = true)]
    pub actions: Vec<String>,
    /// Resources the token covers: `*`, a host, or `host/path` with an
    /// optional final `/*`.
    #[arg(long, value_name = "SCOPE", default_value = "*")]
    pub resource_scope: String,
    /// Requested lifetime; capped at `[authority] max_ttl_seconds`, and
    /// `0` or less means that maximum.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3600,
        allow_negative_numbers = true
    )]
    pub ttl_seconds: i64,
    /// Seed file to create (mode 0600, never overwritten). Default: stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Why `issue` stopped.
enum Failure {
    /// The issuance was denied: exit 1.
    Denied(&'static str, String),
    /// Bad input, config, key or file: exit 2.
    Cmd(CmdError),
}

impl From<CmdError> for Failure {
    fn from(e: CmdError) -> Self {
        Failure::Cmd(e)
    }
}

/// Run `firma authority issue`.
pub fn run(common: &Common, args: IssueArgs) -> ExitCode {
    match issue(common, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Cmd(e)) => e.exit(),
        Err(Failure::Denied(code, message)) => {
            eprintln!("error: issuance denied: {code}: {message}");
            ExitCode::from(1)
        }
    }
}

fn issue(common: &Common, args: IssueArgs) -> Result<(), Failure> {
    if let Some(out) = &args.output
        && files::exists(out)?
    {
        return Err(CmdError::Exists(out.clone()).into());
    }
    let loaded = files::load_config(common)?;
    let authority = &loaded.config.authority;
    let issuer = Issuer::load(authority).map_err(CmdError::from)?;
    let enforcement = enforcement_bundle(&loaded)?;

    let rng = SystemRandom::new();
    let mut entropy = [0u8; 10];
    rng.fill(&mut entropy)
        .map_err(|_| CmdError::Usage("the system random number generator failed".to_owned()))?;
    let request = IssueRequest {
        agent_id: args.agent_id,
        session_id: args.session_id,
        actions: args.actions,
        resource_scope: args.resource_scope,
        requested_ttl_secs: args.ttl_seconds,
    };
    let Issued {
        capability,
        refused,
    } = issuer
        .issue_detailed(&request, enforcement.version(), files::wall_now(), entropy)
        .map_err(|d| Failure::Denied(d.code, d.message))?;
    for r in &refused {
        eprintln!("warning: not granted: {r}");
    }
    let claims = capability.claims().clone();
    let seed = Seed {
        capability,
        budget_ceiling: None,
    }
    .to_toml();
    let actions: Vec<&str> = claims.action_set.iter().map(|a| a.as_str()).collect();
    match &args.output {
        Some(out) => {
            files::create_all(&[NewFile {
                path: out,
                bytes: seed.as_bytes(),
                mode: 0o600,
            }])?;
            eprintln!("wrote seed {} (mode 0600)", out.display());
            eprintln!("Sidecar (firma.toml):");
            eprintln!("  [sidecar.capability_seed]");
            eprintln!("  paths = [{}]", files::toml_path(out));
        }
        None => print!("{seed}"),
    }
    eprintln!(
        "issued {} to {} for session {}: actions [{}], resource scope `{}`, expires {}",
        claims.token_id,
        claims.agent_id,
        claims.session_id,
        actions.join(", "),
        claims.resource_scope,
        rfc3339(claims.expiry)
    );
    Ok(())
}

/// The enforcement bundle the Authority would serve (AUT-3): `policy_dir`
/// with its schema, or the built-in development policy for the embedded
/// default. Its version goes into the token's `context_hash`.
fn enforcement_bundle(loaded: &files::Loaded) -> Result<Bundle, CmdError> {
    let authority = &loaded.config.authority;
    if loaded.file.is_none() {
        let (name, text) = DEV_POLICY;
        return Bundle::compile(&[PolicySource { name, text }], None).map_err(|e| {
            CmdError::Usage(format!(
                "the built-in development policy does not compile: {e}"
            ))
        });
    }
    load_policies(
        &authority.policy_dir,
        authority.schema_path.as_deref(),
        "enforcement",
    )?
    .ok_or_else(|| {
        CmdError::Usage(format!(
            "enforcement policy directory `{}` (`[authority] policy_dir`) holds no `*.cedar` files; a token binds the \
             enforcement bundle version in its context_hash, so there must be one",
            authority.policy_dir.display()
        ))
    })
}
