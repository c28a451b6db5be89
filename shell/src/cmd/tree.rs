//! `firma` with no arguments: the command tree (seed `002_…`), built from the
//! clap definitions so it can never list a command the binary does not have.

use clap::Command;

/// Render the tree: standalone commands first, then each command group with
/// its subcommands, then how to get help for one command.
pub fn render(cli: &Command) -> String {
    let visible = |c: &&Command| !c.is_hide_set() && c.get_name() != "help";
    let about = |c: &Command| {
        c.get_about()
            .map(|a| a.to_string())
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_owned()
    };
    let commands: Vec<&Command> = cli.get_subcommands().filter(visible).collect();
    let (groups, standalone): (Vec<&Command>, Vec<&Command>) = commands
        .into_iter()
        .partition(|c| c.get_subcommands().any(|s| visible(&s)));
    let width = groups
        .iter()
        .flat_map(|g| {
            g.get_subcommands()
                .filter(visible)
                .map(move |s| g.get_name().len() + 1 + s.get_name().len())
        })
        .chain(standalone.iter().map(|c| c.get_name().len()))
        .max()
        .unwrap_or(0);

    let mut out = String::new();
    if let Some(a) = cli.get_about() {
        out.push_str(&format!("{a}\n\n"));
    }
    out.push_str("Commands:\n");
    for c in &standalone {
        out.push_str(&format!("  firma {:<width$}  {}\n", c.get_name(), about(c)));
    }
    for g in &groups {
        out.push_str(&format!("\nfirma {} — {}\n", g.get_name(), about(g)));
        for s in g.get_subcommands().filter(visible) {
            let name = format!("{} {}", g.get_name(), s.get_name());
            out.push_str(&format!("  firma {name:<width$}  {}\n", about(s)));
        }
    }
    out.push_str(
        "\nRun `firma help <command>` (or `firma <command> --help`) for a command's options.\n",
    );
    out
}
