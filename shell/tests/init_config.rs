//! `firma init`, `firma config` and `firma policy list` through the real
//! binary (spec `PRJ-*`). HOME, XDG_DATA_HOME and FIRMA_STATE_DIR point into
//! a scratch directory; stdin is never a terminal here.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use firma_core::config::Config;
use firma_core::mapping::{RuleSet, RuleSource};

/// A scratch directory with its own HOME, data and state directories.
struct Env {
    root: PathBuf,
}

impl Env {
    fn new(name: &str) -> Env {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("init_config")
            .join(name);
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("home")).unwrap();
        Env { root }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data/firma")
    }

    fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    fn ws(&self) -> PathBuf {
        self.root.join("proj")
    }

    fn cfg(&self, rel: &str) -> PathBuf {
        self.ws().join(".firma").join(rel)
    }

    fn command(&self, cwd: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firma"));
        c.args(args)
            .current_dir(cwd)
            .env("HOME", self.root.join("home"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("FIRMA_STATE_DIR", self.state())
            .env_remove("FIRMA_CONFIG")
            .stdin(Stdio::null());
        c
    }

    /// Run `firma <args>` in the scratch root.
    fn run(&self, args: &[&str]) -> Output {
        self.command(&self.root, args).output().expect("run firma")
    }

    /// `init` scripted into `./proj` plus `extra` flags; asserts success.
    fn init(&self, extra: &[&str]) -> String {
        let mut args = vec![
            "init",
            "--agent",
            "codex",
            "--provider",
            "openai",
            "--workspace",
            "./proj",
            "--authority",
            "local",
            "--yes",
        ];
        args.extend_from_slice(extra);
        ok(&self.run(&args))
    }
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn parse_config(path: &Path) -> Config {
    let text = fs::read_to_string(path).unwrap();
    Config::parse(path, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Every file of a tree with its bytes, for before/after comparisons.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// PRJ-1, PRJ-2, PRJ-4, PRJ-11: the scripted form writes every file of the
/// layout with its mode, and the firma.toml parses with core.
#[test]
fn prj1_init_scripted_writes_the_layout() {
    let env = Env::new("layout");
    let out = env.init(&[]);
    for (path, want) in [
        (env.ws().join(".firma"), 0o700),
        (env.cfg("firma.toml"), 0o644),
        (env.cfg("authority.key"), 0o600),
        (env.cfg("authority.pub"), 0o644),
        (env.cfg("audit.key"), 0o600),
        (env.cfg("mapping-rules.toml"), 0o644),
        (env.cfg("policies"), 0o700),
        (env.cfg("policies/dev.cedar"), 0o644),
        (env.cfg("issuance-policies"), 0o700),
        (env.cfg("issuance-policies/default.cedar"), 0o644),
        (env.data(), 0o700),
        (env.data().join("revocations.txt"), 0o644),
        (env.data().join("generated-firma-ca"), 0o700),
        (env.state().join("capabilities"), 0o700),
    ] {
        assert_eq!(mode(&path), want, "{}", path.display());
        assert!(out.contains(&path.display().to_string()), "{out}");
    }
    assert_eq!(fs::read(env.cfg("authority.key")).unwrap().len(), 64);
    assert_eq!(fs::read(env.cfg("authority.pub")).unwrap().len(), 32);
    assert!(
        fs::read_to_string(env.cfg("audit.key"))
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert!(
        fs::read(env.data().join("revocations.txt"))
            .unwrap()
            .is_empty()
    );
    assert!(out.contains("firma sidecar start --detach"), "{out}");

    let cfg = parse_config(&env.cfg("firma.toml"));
    assert_eq!(cfg.project.agent.as_deref(), Some("codex"));
    assert_eq!(cfg.authority.key_file, env.cfg("authority.key"));
    assert_eq!(
        cfg.authority.revocation_file,
        env.data().join("revocations.txt")
    );
    assert_eq!(
        cfg.sidecar.capability_seed_paths,
        vec![env.state().join("capabilities/daemon.toml")]
    );
    assert_eq!(cfg.sidecar.ca_dir, env.data().join("generated-firma-ca"));
    let agent = cfg.sidecar.authority.agent_id.clone().expect("agent_id");
    assert!(agent.starts_with("agt_") && agent.len() == 30, "{agent}");
    let issuance = fs::read_to_string(env.cfg("issuance-policies/default.cedar")).unwrap();
    assert!(issuance.contains(&format!("\"{agent}\"")), "{issuance}");
    // The provider chose the mapping pack.
    let rules = fs::read_to_string(env.cfg("mapping-rules.toml")).unwrap();
    assert!(rules.contains("# firma-packs: openai\n"), "{rules}");
    assert!(rules.contains("api.openai.com"));
}

/// PRJ-11: without a terminal and without flags, init uses every default
/// in the working directory.
#[test]
fn prj11_init_without_a_terminal_uses_defaults() {
    let env = Env::new("defaults");
    fs::create_dir_all(env.ws()).unwrap();
    ok(&env.command(&env.ws(), &["init"]).output().unwrap());
    let cfg = parse_config(&env.cfg("firma.toml"));
    assert_eq!(cfg.project.agent.as_deref(), Some("generic"));
    assert_eq!(cfg.project.name.as_deref(), Some("proj"));
    assert_eq!(
        cfg.authority.listen_addr,
        "127.0.0.1:50051".parse().unwrap()
    );
    assert_eq!(
        cfg.sidecar.interceptor.listen_addr,
        "127.0.0.1:8080".parse().unwrap()
    );
    let rules = fs::read_to_string(env.cfg("mapping-rules.toml")).unwrap();
    assert!(rules.contains("# firma-packs: anthropic\n"), "{rules}");
    assert!(env.cfg("policies/dev.cedar").is_file());
}

/// PRJ-3, PRJ-4: a second init keeps every file; --force rewrites the
/// generated ones but keeps keys, revocations and the agent id.
#[test]
fn prj3_reinit_keeps_files_and_force_rewrites_generated_ones() {
    let env = Env::new("reinit");
    env.init(&[]);
    fs::write(env.data().join("revocations.txt"), "ctok_x\n").unwrap();
    let before = snapshot(&env.ws());
    let out = env.init(&["--posture", "strict", "--mapping", "github"]);
    assert_eq!(snapshot(&env.ws()), before, "a second init changed files");
    assert!(!out.contains("wrote"), "{out}");
    assert!(out.contains("kept"), "{out}");

    let agent = parse_config(&env.cfg("firma.toml"))
        .sidecar
        .authority
        .agent_id
        .unwrap();
    let key = fs::read(env.cfg("authority.key")).unwrap();
    let audit = fs::read(env.cfg("audit.key")).unwrap();
    let mut edited = fs::read_to_string(env.cfg("firma.toml")).unwrap();
    edited.push_str("# my note\n");
    fs::write(env.cfg("firma.toml"), &edited).unwrap();
    let out = env.init(&[
        "--force",
        "--posture",
        "strict",
        "--mapping",
        "github",
        "--sidecar-listen",
        "127.0.0.1:18080",
    ]);
    assert!(
        out.contains("never overwritten, not even with --force"),
        "{out}"
    );
    let cfg_text = fs::read_to_string(env.cfg("firma.toml")).unwrap();
    assert!(!cfg_text.contains("# my note"), "firma.toml not rewritten");
    let cfg = parse_config(&env.cfg("firma.toml"));
    assert_eq!(
        cfg.sidecar.interceptor.listen_addr,
        "127.0.0.1:18080".parse().unwrap()
    );
    assert_eq!(cfg.sidecar.authority.agent_id.as_deref(), Some(&*agent));
    assert_eq!(fs::read(env.cfg("authority.key")).unwrap(), key);
    assert_eq!(fs::read(env.cfg("audit.key")).unwrap(), audit);
    assert_eq!(
        fs::read_to_string(env.data().join("revocations.txt")).unwrap(),
        "ctok_x\n"
    );
    assert!(env.cfg("policies/strict.cedar").is_file());
    assert!(!env.cfg("policies/dev.cedar").exists());
    let rules = fs::read_to_string(env.cfg("mapping-rules.toml")).unwrap();
    assert!(rules.contains("# firma-packs: github\n"), "{rules}");
}

/// PRJ-12: `config --mapping github --mapping npm` rewrites the rules, which
/// compile; `--posture` swaps the posture file.
#[test]
fn prj12_config_rewrites_rules_and_posture() {
    let env = Env::new("config");
    env.init(&[]);
    let out = ok(&env
        .command(
            &env.ws(),
            &[
                "config",
                "--mapping",
                "github",
                "--mapping",
                "npm",
                "--posture",
                "dev-with-delete-watch",
            ],
        )
        .output()
        .unwrap());
    assert!(out.contains("wrote"), "{out}");
    let rules = fs::read_to_string(env.cfg("mapping-rules.toml")).unwrap();
    assert!(rules.contains("# firma-packs: github, npm\n"), "{rules}");
    assert!(!rules.contains("api.openai.com"), "old pack left behind");
    RuleSet::compile(&[RuleSource {
        name: "mapping-rules.toml",
        text: &rules,
    }])
    .unwrap();
    assert!(env.cfg("policies/dev-with-delete-watch.cedar").is_file());
    assert!(!env.cfg("policies/dev.cedar").exists());
    // Without flags, config keeps the recorded choice.
    ok(&env.command(&env.ws(), &["config"]).output().unwrap());
    assert_eq!(
        fs::read_to_string(env.cfg("mapping-rules.toml")).unwrap(),
        rules
    );
    assert!(env.cfg("policies/dev-with-delete-watch.cedar").is_file());
}

/// PRJ-8: a combination whose rules collide is refused naming both packs,
/// and nothing changes.
#[test]
fn prj8_colliding_packs_are_refused_and_nothing_is_written() {
    let env = Env::new("collision");
    env.init(&[]);
    let mine = env.root.join("my-npm.toml");
    fs::write(
        &mine,
        "[[rules]]\nmethod = \"CONNECT\"\nhost = \"registry.npmjs.org\"\naction_class = \"system.install\"\n",
    )
    .unwrap();
    let before = snapshot(&env.ws());
    let o = env.run(&[
        "config",
        "--workspace",
        "proj",
        "--posture",
        "strict",
        "--mapping",
        "npm",
        "--mapping",
        mine.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("duplicate rule"), "{err}");
    assert!(err.contains("`npm`"), "{err}");
    assert!(err.contains(&format!("`{}`", mine.display())), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(snapshot(&env.ws()), before);
}

/// PRJ-10: a hand-edited posture is not replaced without --force.
#[test]
fn prj10_edited_posture_needs_force() {
    let env = Env::new("edited");
    env.init(&[]);
    let dev = env.cfg("policies/dev.cedar");
    let mut text = fs::read_to_string(&dev).unwrap();
    text.push_str("// mine\n");
    fs::write(&dev, &text).unwrap();
    let before = snapshot(&env.ws());
    let o = env.run(&["config", "--workspace", "proj", "--posture", "strict"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("edited by hand") && err.contains("dev.cedar"),
        "{err}"
    );
    assert_eq!(snapshot(&env.ws()), before);
    ok(&env.run(&[
        "config",
        "--workspace",
        "proj",
        "--posture",
        "strict",
        "--force",
    ]));
    assert!(!dev.exists());
    assert!(env.cfg("policies/strict.cedar").is_file());
}

/// PRJ-9: `policy list` and `config --list-templates` name every pack.
#[test]
fn prj9_policy_list_names_every_pack() {
    let env = Env::new("list");
    let list = ok(&env.run(&["policy", "list"]));
    for name in [
        "strict",
        "dev",
        "dev-with-delete-watch",
        "anthropic",
        "openai",
        "github",
        "gmail",
        "stripe",
        "npm",
        "pypi",
        "cargo",
    ] {
        assert!(
            list.lines()
                .any(|l| l.trim_start().starts_with(&format!("{name} "))),
            "{name} missing:\n{list}"
        );
    }
    assert_eq!(ok(&env.run(&["config", "--list-templates"])), list);
}

/// A child process killed on drop, with its stderr lines collected.
struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn firma");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Proc { child, lines }
    }

    /// Waits (bounded) for a stderr line containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains(needle))
            {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "exited {st} before `{needle}`:\n{}",
                    self.lines.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "no `{needle}` within 20 s:\n{}",
            self.lines.lock().unwrap().join("\n")
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// PRJ-2: the generated config runs: `firma authority -c` becomes ready, a
/// token issued for the project's agent goes to the capability seed, and
/// `firma sidecar -c` starts against the Authority and enforces (an
/// unmapped host is denied).
#[test]
fn prj2_generated_config_runs_authority_and_sidecar() {
    let env = Env::new("run");
    let (auth_addr, proxy_addr) = (free_port(), free_port());
    env.init(&[
        "--authority-listen",
        &auth_addr,
        "--sidecar-listen",
        &proxy_addr,
    ]);
    let cfg_path = env.cfg("firma.toml");
    let cfg = cfg_path.to_str().unwrap();
    let mut authority = Proc::spawn(env.command(&env.ws(), &["authority", "-c", cfg]));
    authority.wait_for("authority ready");

    let agent = parse_config(&cfg_path).sidecar.authority.agent_id.unwrap();
    let seed = env.state().join("capabilities/daemon.toml");
    ok(&env.run(&[
        "authority",
        "-c",
        cfg,
        "issue",
        "--agent-id",
        &agent,
        "--session-id",
        "prj2",
        "--action",
        "model.inference.chat",
        "-o",
        seed.to_str().unwrap(),
    ]));
    let mut sidecar = Proc::spawn(env.command(&env.ws(), &["sidecar", "-c", cfg]));
    sidecar.wait_for("sidecar ready");

    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["--proxy", &format!("http://{proxy_addr}")])
        .arg("http://unmapped.invalid/")
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    let audit = fs::read_to_string(env.state().join("audit.jsonl")).unwrap();
    assert!(audit.contains("MappingNotFound"), "{audit}");
}

/// PRJ-11: on a terminal, init asks for every value not given by a flag;
/// Enter keeps the default and an invalid answer is asked again. The
/// terminal is a real pty (Python's `os.openpty`) on stdin.
#[test]
fn prj11_wizard_prompts_on_a_terminal() {
    let env = Env::new("wizard");
    let ws = env.root.join("wiz");
    let script = r#"
import os, subprocess, sys
master, slave = os.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
os.close(slave)
os.write(master, os.environ["ANSWERS"].encode())
try:
    out, err = p.communicate(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    out, err = p.communicate()
sys.stdout.buffer.write(out)
sys.stderr.buffer.write(err)
sys.exit(p.returncode)
"#;
    let answers = format!("bogus\nclaude-code\n\n{}\n\n", ws.display());
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_firma"))
        .arg("init")
        .current_dir(&env.root)
        .env("ANSWERS", answers)
        .env("HOME", env.root.join("home"))
        .env("XDG_DATA_HOME", env.root.join("data"))
        .env("FIRMA_STATE_DIR", env.state())
        .env_remove("FIRMA_CONFIG")
        .output()
        .expect("run python3");
    let err = String::from_utf8_lossy(&out.stderr);
    ok(&out);
    for q in [
        "agent profile (generic, codex, claude-code) [generic]:",
        "unknown agent profile `bogus`",
        "provider (anthropic, openai) [anthropic]:",
        "workspace directory [",
        "authority (local) [local]:",
    ] {
        assert!(err.contains(q), "missing `{q}` in:\n{err}");
    }
    let cfg = parse_config(&ws.join(".firma/firma.toml"));
    assert_eq!(cfg.project.agent.as_deref(), Some("claude-code"));
    let rules = fs::read_to_string(ws.join(".firma/mapping-rules.toml")).unwrap();
    assert!(rules.contains("# firma-packs: anthropic\n"), "{rules}");
}
