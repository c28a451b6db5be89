//! SDC-37: two Sidecars never write one audit log.

mod support;

use support::{Config, PERMIT_ALL, SEED000_MAPPING, Workspace};

#[test]
fn sdc37_second_sidecar_on_the_same_audit_log_refuses_to_start() {
    let ws = Workspace::new("audit-lock");
    ws.setup(SEED000_MAPPING, PERMIT_ALL, &Config::default());
    let first = ws.start();
    let failure = ws.start_failure();
    assert_eq!(failure.code, Some(2), "{}", failure.stderr_text());
    let text = failure.stderr_text();
    assert!(
        text.contains("is in use by another firma process")
            && text.contains(&ws.audit_path().display().to_string()),
        "{text}"
    );
    // The first one still owns the log; once it is gone the lock is free.
    drop(first);
    let second = ws.start();
    drop(second);
}
