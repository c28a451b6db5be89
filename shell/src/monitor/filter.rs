//! Which lines are shown: `--decision` and `--action-class` on audit
//! records, `--since` on every source (MON-6, MON-7).

use firma_core::UnixTime;

use super::record::AuditView;

/// An audit outcome as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Decision {
    /// `ALLOW`.
    Allow,
    /// `DENY`.
    Deny,
    /// `PASSTHROUGH`.
    Passthrough,
    /// `ABORT`.
    Abort,
}

impl Decision {
    /// The `decision.outcome` value it matches.
    pub fn outcome(self) -> &'static str {
        match self {
            Decision::Allow => "ALLOW",
            Decision::Deny => "DENY",
            Decision::Passthrough => "PASSTHROUGH",
            Decision::Abort => "ABORT",
        }
    }
}

/// The filters of one monitor run.
#[derive(Debug, Default)]
pub struct Filter {
    /// `--decision`.
    pub decision: Option<Decision>,
    /// `--action-class` (exact match).
    pub action_class: Option<String>,
    /// `--since` as an instant.
    pub since: Option<UnixTime>,
}

/// Per-source memory for `--since`: lines without a time of their own
/// (continuations, unparsable lines) share the verdict of the last timed
/// line before them; before any timed line they are hidden.
#[derive(Debug, Default)]
pub struct SinceState {
    last: bool,
}

impl Filter {
    /// Whether an audit line is shown. `view` is `None` for a line that is
    /// not a JSON object: it never matches `--decision`/`--action-class`.
    pub fn audit(&self, view: Option<&AuditView>, st: &mut SinceState) -> bool {
        if self.decision.is_some() || self.action_class.is_some() {
            let Some(v) = view else { return false };
            if let Some(d) = self.decision
                && v.outcome.as_deref() != Some(d.outcome())
            {
                return false;
            }
            if let Some(c) = &self.action_class
                && v.action_class.as_deref() != Some(c.as_str())
            {
                return false;
            }
        }
        self.since_ok(view.and_then(|v| v.time), st)
    }

    /// Whether a component log line with time `time` is shown.
    pub fn component(&self, time: Option<UnixTime>, st: &mut SinceState) -> bool {
        self.since_ok(time, st)
    }

    fn since_ok(&self, time: Option<UnixTime>, st: &mut SinceState) -> bool {
        let Some(since) = self.since else {
            return true;
        };
        match time {
            Some(t) => {
                st.last = t >= since;
                st.last
            }
            None => st.last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(outcome: &str, class: Option<&str>, secs: u64) -> AuditView {
        AuditView {
            outcome: Some(outcome.into()),
            action_class: class.map(Into::into),
            time: Some(UnixTime::from_secs(secs)),
            ..AuditView::default()
        }
    }

    #[test]
    fn decision_and_class_apply_to_records_only() {
        let f = Filter {
            decision: Some(Decision::Deny),
            action_class: Some("a.b".into()),
            since: None,
        };
        let st = &mut SinceState::default();
        assert!(f.audit(Some(&view("DENY", Some("a.b"), 1)), st));
        assert!(!f.audit(Some(&view("ALLOW", Some("a.b"), 1)), st));
        assert!(!f.audit(Some(&view("DENY", Some("a.c"), 1)), st));
        assert!(!f.audit(Some(&view("DENY", None, 1)), st));
        assert!(!f.audit(None, st));
        assert!(f.component(None, st));
        assert!(Filter::default().audit(None, st));
    }

    #[test]
    fn since_keeps_later_lines_and_their_continuations() {
        let f = Filter {
            since: Some(UnixTime::from_secs(100)),
            ..Filter::default()
        };
        let st = &mut SinceState::default();
        assert!(!f.component(None, st));
        assert!(!f.component(Some(UnixTime::from_secs(99)), st));
        assert!(!f.component(None, st));
        assert!(f.component(Some(UnixTime::from_secs(100)), st));
        assert!(f.component(None, st));
        assert!(f.audit(Some(&view("ALLOW", None, 150)), st));
        assert!(!f.audit(Some(&view("ALLOW", None, 50)), st));
    }
}
