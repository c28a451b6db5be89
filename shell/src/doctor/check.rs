//! One diagnosis: the data every check produces (DOC-3).

/// The verdict of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// Broken: the exit code is 1.
    Fail,
    /// Not run: an earlier check it depends on failed, or it does not apply.
    Skip,
}

impl Status {
    /// The JSON value: `ok`, `warn`, `fail` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skip => "skip",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    /// Stable identifier, e.g. `audit-key`.
    pub id: &'static str,
    /// Short human title.
    pub title: &'static str,
    /// The verdict.
    pub status: Status,
    /// What was found (for a skip: why it did not run).
    pub detail: String,
    /// For a warn or fail: the commands or edits that fix it, one per entry.
    pub fix: Vec<String>,
}

impl Check {
    /// A passing check.
    pub fn ok(id: &'static str, title: &'static str, detail: impl Into<String>) -> Check {
        Check {
            id,
            title,
            status: Status::Ok,
            detail: detail.into(),
            fix: Vec::new(),
        }
    }

    /// A warning with its fix.
    pub fn warn(
        id: &'static str,
        title: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            id,
            title,
            status: Status::Warn,
            detail: detail.into(),
            fix: vec![fix.into()],
        }
    }

    /// A failure with its fix.
    pub fn fail(
        id: &'static str,
        title: &'static str,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            id,
            title,
            status: Status::Fail,
            detail: detail.into(),
            fix: vec![fix.into()],
        }
    }

    /// A check that did not run, and why.
    pub fn skip(id: &'static str, title: &'static str, why: impl Into<String>) -> Check {
        Check {
            id,
            title,
            status: Status::Skip,
            detail: why.into(),
            fix: Vec::new(),
        }
    }
}

/// Collects the problems of a check that looks at several things (a key and
/// its public half, a directory's owner and mode): the worst status wins,
/// details and fixes accumulate.
#[derive(Debug, Default)]
pub struct Findings {
    problems: Vec<String>,
    fixes: Vec<String>,
    failed: bool,
}

impl Findings {
    /// A problem that only warrants a warning.
    pub fn warn(&mut self, problem: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(problem.into());
        self.fixes.push(fix.into());
    }

    /// A problem that fails the check.
    pub fn fail(&mut self, problem: impl Into<String>, fix: impl Into<String>) {
        self.failed = true;
        self.warn(problem, fix);
    }

    /// The check: ok with `ok_detail` when nothing was found, else warn or
    /// fail with every problem (`; `-separated) and every distinct fix.
    pub fn into_check(self, id: &'static str, title: &'static str, ok_detail: String) -> Check {
        if self.problems.is_empty() {
            return Check::ok(id, title, ok_detail);
        }
        let mut fix: Vec<String> = Vec::new();
        for f in self.fixes {
            if !fix.contains(&f) {
                fix.push(f);
            }
        }
        Check {
            id,
            title,
            status: if self.failed {
                Status::Fail
            } else {
                Status::Warn
            },
            detail: self.problems.join("; "),
            fix,
        }
    }
}

/// `path` shell-quoted when it needs it, for fix commands.
pub fn sh(path: &std::path::Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,=".contains(&b))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
