//! `firma` with no arguments prints the command tree; `firma help <cmd>`
//! prints one command's help (issue 6, seed `002_…`).

use std::process::Command;

fn firma(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_firma"))
        .args(args)
        .output()
        .expect("run firma");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bare_firma_prints_the_command_tree() {
    let (code, out, err) = firma(&[]);
    assert_eq!(code, 0, "stderr: {err}");
    for line in [
        "firma init ",
        "firma config ",
        "firma monitor ",
        "firma sidecar start ",
        "firma sidecar stop ",
        "firma sidecar status ",
        "firma authority generate-key ",
        "firma authority issue ",
        "firma authority revocations ",
        "firma authority init-tls ",
        "firma authority generate-client-ca ",
        "firma authority issue-client-cert ",
        "firma policy list ",
        "firma policy validate ",
        "firma policy test ",
        "firma audit verify ",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(line)),
            "missing `{line}` in:\n{out}"
        );
    }
    // Groups are headed by their own line; hidden commands never show.
    assert!(out.contains("\nfirma sidecar — "), "{out}");
    assert!(out.contains("\nfirma authority — "), "{out}");
    assert!(!out.contains("__"), "a hidden command leaked:\n{out}");
    assert!(out.contains("firma help <command>"), "{out}");
}

#[test]
fn help_names_one_command() {
    let (code, out, err) = firma(&["help", "sidecar", "start"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("Usage: firma sidecar start"), "{out}");
    assert!(out.contains("--detach"), "{out}");

    let (code, out, _) = firma(&["help", "authority", "issue"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: firma authority issue"), "{out}");

    // An unknown command is a usage error, with the tree's hint.
    let (code, _, err) = firma(&["help", "no-such-command"]);
    assert_eq!(code, 2, "{err}");
}
