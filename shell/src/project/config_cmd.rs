//! `firma config`: choose a project's posture and mapping packs
//! (`PRJ-12`). Scaffolds the project first when it has no `firma.toml`.

use std::path::{Path, PathBuf};

use firma_core::config::{DEFAULT_AUTHORITY_LISTEN, DEFAULT_SIDECAR_LISTEN};

use super::ProjectError;
use super::init::print_layout;
use super::packs::{self, Mapping};
use super::paths::Dirs;
use super::scaffold::{self, InitPlan};

/// `firma config` arguments.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// Posture pack. Default: the posture in .firma/policies/, else dev.
    #[arg(long, value_name = "POSTURE")]
    pub posture: Option<String>,
    /// Mapping pack or rule file; repeat for more. Default: the packs
    /// recorded in .firma/mapping-rules.toml, else anthropic.
    #[arg(long = "mapping", value_name = "MAPPING")]
    pub mappings: Vec<String>,
    /// Workspace directory (the project is <DIR>/.firma). Default: the
    /// working directory.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Runtime state directory, used only when a new project is scaffolded.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Replace generated files even when they were edited by hand.
    #[arg(long)]
    pub force: bool,
    /// Print the pack catalogue (same as `firma policy list`) and exit.
    #[arg(long)]
    pub list_templates: bool,
}

/// Run `firma config`.
pub fn run(args: ConfigArgs) -> Result<(), ProjectError> {
    if args.list_templates {
        print!("{}", packs::catalogue());
        return Ok(());
    }
    let cwd = std::env::current_dir().map_err(ProjectError::io(
        Path::new("."),
        "read the working directory",
    ))?;
    let workspace = cwd.join(args.workspace.as_deref().unwrap_or(Path::new(".")));
    let dirs = Dirs::resolve(&workspace, args.state_dir.as_deref())?;
    let resolve = |names: &[String]| {
        names
            .iter()
            .map(|m| Mapping::resolve(m, &cwd))
            .collect::<Result<Vec<_>, _>>()
    };
    let Some(config) = scaffold::parse_config(&dirs.config_file())? else {
        println!(
            "no project at {}: scaffolding one (as `firma init --yes`)",
            dirs.config.display()
        );
        let names = if args.mappings.is_empty() {
            vec!["anthropic".to_owned()]
        } else {
            args.mappings.clone()
        };
        let plan = InitPlan {
            posture: packs::posture(args.posture.as_deref().unwrap_or(packs::DEFAULT_POSTURE))?,
            mappings: resolve(&names)?,
            dirs,
            agent: "generic".to_owned(),
            provider: "anthropic".to_owned(),
            authority_listen: DEFAULT_AUTHORITY_LISTEN,
            sidecar_listen: DEFAULT_SIDECAR_LISTEN,
            force: args.force,
        };
        scaffold::init(&plan)?.print();
        print_layout(&plan.dirs, &cwd);
        return Ok(());
    };
    let posture = match &args.posture {
        Some(p) => packs::posture(p)?,
        None => {
            let dir = dirs.config.join("policies");
            match scaffold::recorded_posture(&dir)? {
                Some(p) => p,
                None => packs::posture(packs::DEFAULT_POSTURE)?,
            }
        }
    };
    let names = if args.mappings.is_empty() {
        let rules = dirs.config.join("mapping-rules.toml");
        let text = std::fs::read_to_string(&rules).unwrap_or_default();
        // Recorded names were resolved when written: custom files are
        // absolute, so the base does not matter for them.
        packs::recorded_packs(&text).unwrap_or_else(|| vec!["anthropic".to_owned()])
    } else {
        args.mappings.clone()
    };
    let mappings = resolve(&names)?;
    let report = scaffold::configure(&config, &dirs, posture, &mappings, args.force)?;
    report.print();
    println!();
    println!("posture {}, mappings {}", posture.name, names.join(", "));
    println!(
        "A running Authority pushes the new posture to its Sidecars; restart the daemon (`firma sidecar stop`, then `firma sidecar start --detach`) to load new mapping rules."
    );
    Ok(())
}
