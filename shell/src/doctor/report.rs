//! The two renderings of the checks (DOC-14, DOC-15).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::check::{Check, Status};

/// One line per check — `[ok]  `, `[warn]`, `[FAIL]`, `[skip]`, title, `—`,
/// detail — each fix indented on its own `fix:` line, then a summary.
pub fn human(checks: &[Check]) -> String {
    let mut out = String::from("firma doctor\n");
    for c in checks {
        let tag = match c.status {
            Status::Ok => "[ok]  ",
            Status::Warn => "[warn]",
            Status::Fail => "[FAIL]",
            Status::Skip => "[skip]",
        };
        let _ = writeln!(out, "{tag} {} — {}", c.title, c.detail);
        for f in &c.fix {
            let _ = writeln!(out, "       fix: {f}");
        }
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let failed = count(Status::Fail);
    let _ = writeln!(
        out,
        "{} checks: {} ok, {} warn, {failed} failed, {} skipped — {}",
        checks.len(),
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Skip),
        if failed == 0 {
            "no problem that stops firma"
        } else {
            "fix the [FAIL] lines above"
        }
    );
    out
}

/// `{"ok": bool, "checks": [{"id","title","status","detail","fix"}]}` on
/// one line; `fix` is a list (empty when ok or skipped).
pub fn json(checks: &[Check]) -> String {
    let list: Vec<Value> = checks
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "title": c.title,
                "status": c.status.as_str(),
                "detail": c.detail,
                "fix": c.fix,
            })
        })
        .collect();
    let ok = checks.iter().all(|c| c.status != Status::Fail);
    json!({ "ok": ok, "checks": list }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Check> {
        vec![
            Check::ok("binary", "firma binary", "/usr/bin/firma (firma 0.1.0)"),
            Check::fail(
                "audit-key",
                "audit signing key",
                "/p/audit.key has mode 0644, a secret key must be 0600",
                "chmod 600 /p/audit.key",
            ),
            Check::skip("mitm-ca", "MITM CA", "HTTPS interception is disabled"),
        ]
    }

    // DOC-14
    #[test]
    fn human_lists_each_check_with_fix_lines_and_a_summary() {
        let text = human(&sample());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "firma doctor");
        assert_eq!(
            lines[1],
            "[ok]   firma binary — /usr/bin/firma (firma 0.1.0)"
        );
        assert_eq!(
            lines[2],
            "[FAIL] audit signing key — /p/audit.key has mode 0644, a secret key must be 0600"
        );
        assert_eq!(lines[3], "       fix: chmod 600 /p/audit.key");
        assert_eq!(lines[4], "[skip] MITM CA — HTTPS interception is disabled");
        assert_eq!(
            lines[5],
            "3 checks: 1 ok, 0 warn, 1 failed, 1 skipped — fix the [FAIL] lines above"
        );
        assert_eq!(lines.len(), 6);
    }

    // DOC-15
    #[test]
    fn json_is_one_object_with_ok_false_when_a_check_failed() {
        let v: Value = serde_json::from_str(&json(&sample())).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["checks"][1]["id"], "audit-key");
        assert_eq!(v["checks"][1]["status"], "fail");
        assert_eq!(v["checks"][1]["fix"][0], "chmod 600 /p/audit.key");
        assert_eq!(v["checks"][2]["fix"], json!([]));
        let mut keys: Vec<&str> = v["checks"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["detail", "fix", "id", "status", "title"]);
        let ok_only: Value = serde_json::from_str(&json(&sample()[..1])).unwrap();
        assert_eq!(ok_only["ok"], true);
    }
}
