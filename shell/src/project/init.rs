//! `firma init`: the interactive wizard and its scripted form (`PRJ-11`).

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use firma_core::config::{DEFAULT_AUTHORITY_LISTEN, DEFAULT_SIDECAR_LISTEN};

use super::ProjectError;
use super::packs::{self, Mapping};
use super::paths::{self, Dirs};
use super::scaffold::{self, InitPlan};

/// Agent profiles `--agent` accepts.
pub const PROFILES: &[&str] = &["generic", "codex", "claude-code"];
/// Model providers `--provider` accepts (each selects its mapping pack).
pub const PROVIDERS: &[&str] = &["anthropic", "openai"];
/// Authorities `--authority` accepts.
pub const AUTHORITIES: &[&str] = &["local"];

/// `firma init` arguments.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Agent profile: generic, codex or claude-code. Default: generic.
    #[arg(long, value_name = "PROFILE")]
    pub agent: Option<String>,
    /// Model provider: anthropic or openai (selects the mapping pack).
    /// Default: openai for codex, else anthropic.
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<String>,
    /// Workspace directory; the project goes in <DIR>/.firma. Default: the
    /// working directory.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Authority: `local` (a Mini Authority on this machine).
    #[arg(long, value_name = "KIND")]
    pub authority: Option<String>,
    /// Posture pack (see `firma policy list`). Default: dev.
    #[arg(long, value_name = "POSTURE")]
    pub posture: Option<String>,
    /// Mapping pack or rule file; repeat for more. Default: the provider's pack.
    #[arg(long = "mapping", value_name = "MAPPING")]
    pub mappings: Vec<String>,
    /// `[authority] listen_addr`. Default: 127.0.0.1:50051.
    #[arg(long, value_name = "ADDR")]
    pub authority_listen: Option<SocketAddr>,
    /// `[sidecar.interceptor] listen_addr`. Default: 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub sidecar_listen: Option<SocketAddr>,
    /// Runtime state directory written into firma.toml (audit log, capability
    /// seed). Default: $FIRMA_STATE_DIR, else $XDG_RUNTIME_DIR/firma, else
    /// /tmp/firma-$UID.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Use defaults for everything not given; never prompt.
    #[arg(short, long)]
    pub yes: bool,
    /// Rewrite existing generated files (signing keys and revocations are
    /// always kept).
    #[arg(long)]
    pub force: bool,
}

fn one_of(what: &str, value: &str, allowed: &[&str]) -> Result<String, ProjectError> {
    let value = if what == "agent profile" && value == "claude" {
        "claude-code"
    } else {
        value
    };
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ProjectError::Usage(format!(
            "unknown {what} `{value}`; choose one of: {}",
            allowed.join(", ")
        )))
    }
}

fn default_provider(agent: &str) -> &'static str {
    if agent == "codex" {
        "openai"
    } else {
        "anthropic"
    }
}

/// Asks questions on stderr and reads answers from stdin.
struct Prompter<R> {
    input: R,
}

impl<R: BufRead> Prompter<R> {
    /// Ask until the answer is allowed (empty = `default`).
    fn choose(
        &mut self,
        question: &str,
        default: &str,
        allowed: &[&str],
    ) -> Result<String, ProjectError> {
        loop {
            let answer = self.ask(&format!("{question} ({})", allowed.join(", ")), default)?;
            match one_of(question, &answer, allowed) {
                Ok(v) => return Ok(v),
                Err(e) => eprintln!("  {e}"),
            }
        }
    }

    fn ask(&mut self, question: &str, default: &str) -> Result<String, ProjectError> {
        eprint!("{question} [{default}]: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = self.input.read_line(&mut line).map_err(ProjectError::io(
            Path::new("<stdin>"),
            "read an answer from",
        ))?;
        if n == 0 {
            return Err(ProjectError::Usage(
                "stdin closed before every question was answered; pass --yes to use defaults"
                    .to_owned(),
            ));
        }
        let answer = line.trim();
        Ok(if answer.is_empty() { default } else { answer }.to_owned())
    }
}

/// Settings after flags, answers and defaults.
struct Answers {
    agent: String,
    provider: String,
    workspace: PathBuf,
}

fn answers(args: &InitArgs, cwd: &Path) -> Result<Answers, ProjectError> {
    let interactive = !args.yes && std::io::stdin().is_terminal();
    let flag_agent = args
        .agent
        .as_deref()
        .map(|a| one_of("agent profile", a, PROFILES))
        .transpose()?;
    let flag_provider = args
        .provider
        .as_deref()
        .map(|p| one_of("provider", p, PROVIDERS))
        .transpose()?;
    if let Some(a) = &args.authority {
        one_of("authority", a, AUTHORITIES)?;
    }
    if !interactive {
        let agent = flag_agent.unwrap_or_else(|| "generic".to_owned());
        let provider = flag_provider.unwrap_or_else(|| default_provider(&agent).to_owned());
        return Ok(Answers {
            agent,
            provider,
            workspace: args.workspace.clone().unwrap_or_else(|| cwd.to_path_buf()),
        });
    }
    let stdin = std::io::stdin();
    let mut p = Prompter {
        input: stdin.lock(),
    };
    eprintln!("firma init: set up a project (Enter keeps the default in brackets).");
    let agent = match flag_agent {
        Some(a) => a,
        None => p.choose("agent profile", "generic", PROFILES)?,
    };
    let provider = match flag_provider {
        Some(v) => v,
        None => p.choose("provider", default_provider(&agent), PROVIDERS)?,
    };
    let workspace = match &args.workspace {
        Some(w) => w.clone(),
        None => PathBuf::from(p.ask("workspace directory", &cwd.display().to_string())?),
    };
    if args.authority.is_none() {
        p.choose("authority", "local", AUTHORITIES)?;
    }
    Ok(Answers {
        agent,
        provider,
        workspace,
    })
}

/// Run `firma init`.
pub fn run(args: InitArgs) -> Result<(), ProjectError> {
    let cwd = std::env::current_dir().map_err(ProjectError::io(
        Path::new("."),
        "read the working directory",
    ))?;
    let a = answers(&args, &cwd)?;
    let dirs = Dirs::resolve(&cwd.join(&a.workspace), args.state_dir.as_deref())?;
    let posture = packs::posture(args.posture.as_deref().unwrap_or(packs::DEFAULT_POSTURE))?;
    let mapping_names = if args.mappings.is_empty() {
        vec![a.provider.clone()]
    } else {
        args.mappings.clone()
    };
    let mappings = mapping_names
        .iter()
        .map(|m| Mapping::resolve(m, &cwd))
        .collect::<Result<Vec<_>, _>>()?;
    let plan = InitPlan {
        dirs,
        agent: a.agent,
        provider: a.provider,
        posture,
        mappings,
        authority_listen: args.authority_listen.unwrap_or(DEFAULT_AUTHORITY_LISTEN),
        sidecar_listen: args.sidecar_listen.unwrap_or(DEFAULT_SIDECAR_LISTEN),
        force: args.force,
    };
    let report = scaffold::init(&plan)?;
    report.print();
    print_layout(&plan.dirs, &cwd);
    Ok(())
}

/// The layout summary and the next command.
pub fn print_layout(d: &Dirs, cwd: &Path) {
    println!();
    println!("Layout:");
    println!("  {}/", d.config.display());
    println!("    firma.toml  authority.key  authority.pub  audit.key  mapping-rules.toml");
    println!("    policies/  issuance-policies/");
    println!("  {}/", d.data.display());
    println!("    revocations.txt  generated-firma-ca/");
    println!(
        "  {}/   (state: pidfiles, logs, audit.jsonl)",
        d.state.display()
    );
    println!("    capabilities/");
    println!();
    println!("Next:");
    let here = paths::absolute(cwd).is_ok_and(|c| c.starts_with(&d.workspace));
    if here {
        println!("  firma sidecar start --detach");
    } else {
        println!(
            "  cd {} && firma sidecar start --detach",
            d.workspace.display()
        );
    }
}
