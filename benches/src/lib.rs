//! Inputs shared by the criterion benches in `benches/core.rs`: the vendor
//! mapping packs and generated policy bundles of a given size.

use firma_core::ActionClass;

/// The vendor mapping packs shipped in `fixtures/packs/mappings`, as
/// `(file name, contents)`.
pub fn vendor_packs() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packs/mappings");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                name,
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect()
}

/// How generated policies are spread over actions.
#[derive(Clone, Copy, Debug)]
pub enum Spread {
    /// Policies cycle through all 45 action classes (a realistic bundle).
    AcrossActions,
    /// Every policy names the action under test (worst case for grouping);
    /// fillers are pinned to other agents, like the reference's fixture.
    SameAction,
    /// Every policy names the action under test and applies to every agent:
    /// Cedar must evaluate all of them (the true worst case).
    SameActionUnpinned,
}

/// A bundle of `n` policies shaped like the reference's benchmark fixture: one
/// host forbid, one context permit for the action under test, principal-scoped
/// permits filling up to `n`, and the permit that matches the request.
pub fn policy_text(n: usize, spread: Spread) -> String {
    let mut out = String::new();
    out.push_str(
        "forbid (principal, action, resource) when { resource.host == \"169.254.169.254\" };\n",
    );
    out.push_str(
        "permit (principal, action == Firma::Action::\"communication.external.send\", resource) when { context.risk_score < 80 };\n",
    );
    for i in 0..n.saturating_sub(3) {
        let action = match spread {
            Spread::AcrossActions => ActionClass::ALL[i % ActionClass::ALL.len()],
            Spread::SameAction | Spread::SameActionUnpinned => ActionClass::CodeRead,
        };
        let principal = match spread {
            Spread::SameActionUnpinned => "principal".to_owned(),
            Spread::AcrossActions | Spread::SameAction => {
                format!("principal == Firma::Agent::\"agent-{i}\"")
            }
        };
        out.push_str(&format!(
            "permit ({principal}, action == Firma::Action::\"{action}\", resource) when {{ context.action_count > {} }};\n",
            1000 + i
        ));
    }
    out.push_str(
        "permit (principal, action == Firma::Action::\"code.read\", resource) when { resource.host == \"api.github.com\" && context.risk_score < 50 };\n",
    );
    out
}
