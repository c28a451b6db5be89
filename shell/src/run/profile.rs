//! Agent profiles (RUN-5): the variables each profile adds on top of the
//! proxy and CA variables every profile gets.
//!
//! - `generic`: `FIRMA_RUN_PROFILE=generic`; the environment (API keys,
//!   `HOME`, `PATH`, `TERM`) is inherited unchanged.
//! - `codex`: `FIRMA_RUN_PROFILE=codex`. Codex (a Rust binary with a Node
//!   launcher) honours `HTTPS_PROXY`, reads roots from `SSL_CERT_FILE` and,
//!   in its launcher, `NODE_EXTRA_CA_CERTS`, all in the common set;
//!   `OPENAI_API_KEY`, `ANTHROPIC_API_KEY` and `CODEX_HOME` pass through.
//! - `claude-code`: `FIRMA_RUN_PROFILE=claude-code`. Claude Code is a Node
//!   program: it trusts the Sidecar CA through `NODE_EXTRA_CA_CERTS` and
//!   honours `HTTPS_PROXY`; the `ANTHROPIC_*` and `CLAUDE_CODE_USE_*`
//!   variables pass through. The sensitive directories of `$HOME` (`.ssh`,
//!   `.aws`, `.azure`, `.kube`, `.gnupg`, `.config`) that exist are hidden
//!   behind empty tmpfs mounts.
//!
//! Every profile runs with a read-only root, a read-write workspace and the
//! common proxy and CA variables (`NO_PROXY` and `no_proxy` empty).

/// An agent profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// Any program: proxy and CA variables only.
    Generic,
    /// OpenAI Codex CLI.
    Codex,
    /// Anthropic Claude Code.
    #[value(alias = "claude")]
    ClaudeCode,
}

impl Profile {
    /// The profile's name.
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Generic => "generic",
            Profile::Codex => "codex",
            Profile::ClaudeCode => "claude-code",
        }
    }

    /// The variables the profile adds.
    pub fn env(self) -> Vec<(&'static str, &'static str)> {
        vec![("FIRMA_RUN_PROFILE", self.name())]
    }

    /// `$HOME`-relative directories hidden from the agent.
    pub fn masked_home_paths(self) -> &'static [&'static str] {
        match self {
            Profile::ClaudeCode => &[".ssh", ".aws", ".azure", ".kube", ".gnupg", ".config"],
            Profile::Generic | Profile::Codex => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RUN-5: every profile names itself; only claude-code masks `$HOME`
    /// directories.
    #[test]
    fn profile_env() {
        for p in [Profile::Generic, Profile::Codex, Profile::ClaudeCode] {
            assert_eq!(p.env(), vec![("FIRMA_RUN_PROFILE", p.name())]);
        }
        assert!(Profile::Generic.masked_home_paths().is_empty());
        assert!(Profile::ClaudeCode.masked_home_paths().contains(&".ssh"));
    }
}
