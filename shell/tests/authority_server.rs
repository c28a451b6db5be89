//! Black-box tests of bare `firma authority` (spec `AUT-*`): the real binary,
//! real gRPC over loopback, real TLS. Every wait is bounded.

mod support;

use std::time::Duration;

use firma_proto::v1::{
    PolicyBundleUpdate, RevocationEvent, WatchPolicyBundleRequest, WatchRevocationsRequest,
};
use support::authority::{
    AuthorityOpts, AuthorityProc, TestCa, Transport, channel, now, workspace,
};
use tonic::Streaming;

/// Longest wait for a pushed message (the requirement is 1 s).
const PUSH: Duration = Duration::from_secs(5);

const POLICY_A: &str =
    "permit(principal, action == Firma::Action::\"communication.external.send\", resource);\n";
const POLICY_B: &str = "forbid(principal, action, resource) when { context.risk_score > 90 };\n";

async fn next<T>(s: &mut Streaming<T>, within: Duration) -> Option<T> {
    match tokio::time::timeout(within, s.message()).await {
        Ok(Ok(Some(m))) => Some(m),
        Ok(Ok(None)) => None,
        Ok(Err(status)) => panic!("stream failed: {status:?}"),
        Err(_) => None,
    }
}

async fn watch_bundle(auth: &AuthorityProc, have: &str) -> Streaming<PolicyBundleUpdate> {
    auth.client()
        .await
        .watch_policy_bundle(WatchPolicyBundleRequest {
            current_version: have.to_owned(),
        })
        .await
        .expect("WatchPolicyBundle")
        .into_inner()
}

async fn watch_revocations(
    auth: &AuthorityProc,
    since: Option<firma_core::time::UnixTime>,
) -> Streaming<RevocationEvent> {
    let since = since.map(|t| prost_types::Timestamp {
        seconds: i64::try_from(t.as_nanos() / 1_000_000_000).unwrap(),
        nanos: 0,
    });
    auth.client()
        .await
        .watch_revocations(WatchRevocationsRequest { since })
        .await
        .expect("WatchRevocations")
        .into_inner()
}

/// Starts the Authority of `dir` as it is on disk; it must exit before ready.
fn start_fails(dir: &std::path::Path) -> support::authority::StartFailure {
    match support::authority::spawn_ready(&support::authority::command(dir)) {
        Ok((mut child, addr, _)) => {
            let _ = child.kill();
            panic!("the authority started on {addr} although it must refuse");
        }
        Err(f) => f,
    }
}

fn message_of(line: &str) -> &str {
    line.split_once(": ").map_or(line, |(_, m)| m)
}

/// AUT-1, AUT-9: the four start-up lines in order, then health SERVING.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_1_aut_9_startup_log_and_health() {
    let dir = workspace("startup_log");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let log = auth.stderr();
    let messages: Vec<&str> = log.lines().map(message_of).collect();
    let pos = |prefix: &str| {
        messages
            .iter()
            .position(|m| m.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{log}"))
    };
    let config = pos("config loaded policy_dir=");
    let bundle = pos("policy bundle loaded version=");
    let listening = pos("listening addr=");
    let ready = pos("authority ready");
    assert!(
        config < bundle && bundle < listening && listening < ready,
        "{log}"
    );
    assert_eq!(
        ready,
        messages.len() - 1,
        "`authority ready` is last:\n{log}"
    );
    assert!(
        messages[config].contains(&format!("policy_dir={}", dir.join("policies").display()))
            && messages[config].ends_with("listen_addr=127.0.0.1:0"),
        "{}",
        messages[config]
    );
    assert!(
        messages[bundle].ends_with(" policies=1 files=1"),
        "{}",
        messages[bundle]
    );
    let version = messages[bundle]
        .strip_prefix("policy bundle loaded version=")
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert_eq!(version.len(), 12, "{version}");
    assert_ne!(auth.addr().port(), 0);

    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let mut health = HealthClient::new(channel(auth.addr(), None).await.unwrap());
    for service in ["", "firma.v1.AuthorityService"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service `{service}`");
    }
    // The first 12 digits logged are those of the streamed version.
    let mut s = watch_bundle(&auth, "").await;
    let first = next(&mut s, PUSH).await.expect("first bundle");
    assert!(first.bundle.unwrap().version.starts_with(version));
}

/// AUT-3, AUT-5: the first message is the current bundle, file by file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_3_aut_5_first_message_is_current_bundle() {
    let dir = workspace("first_bundle");
    let opts = AuthorityOpts {
        policies: vec![
            ("b.cedar".into(), POLICY_B.into()),
            ("a.cedar".into(), POLICY_A.into()),
        ],
        ..AuthorityOpts::default()
    };
    let auth = AuthorityProc::start(&dir, opts);
    let mut s = watch_bundle(&auth, "").await;
    let update = next(&mut s, PUSH).await.expect("first bundle");
    assert!(update.updated_at.is_some());
    let b = update.bundle.expect("bundle");
    assert_eq!(b.version.len(), 64);
    assert_eq!(b.ttl_seconds, 30);
    let names: Vec<&str> = b.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a.cedar", "b.cedar"]);
    assert_eq!(b.files[0].text, POLICY_A.as_bytes());
    assert_eq!(b.files[1].text, POLICY_B.as_bytes());
    assert_eq!(b.policies, format!("{POLICY_A}\n{POLICY_B}").into_bytes());
    assert!(b.entity_schema.is_empty());
    // A second client gets the same version.
    let mut s2 = watch_bundle(&auth, "").await;
    let again = next(&mut s2, PUSH).await.unwrap().bundle.unwrap();
    assert_eq!(again.version, b.version);
}

/// AUT-5: a client that already holds the version gets nothing until the
/// re-send tick (max(ttl/2, 1 s) = 2 s here), then the same bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_5_matching_version_waits_for_resend() {
    let dir = workspace("matching_version");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default().bundle_ttl(4));
    let mut s = watch_bundle(&auth, "").await;
    let version = next(&mut s, PUSH).await.unwrap().bundle.unwrap().version;
    drop(s);
    let mut s = watch_bundle(&auth, &version).await;
    assert!(
        next(&mut s, Duration::from_millis(1000)).await.is_none(),
        "nothing is sent to a client that holds the current version before the re-send tick"
    );
    let resent = next(&mut s, PUSH).await.expect("re-send at ttl/2");
    assert_eq!(resent.bundle.unwrap().version, version);
}

/// AUT-5: with bundle_ttl_seconds = 2 an idle stream receives the current
/// bundle again every second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_5_periodic_resend() {
    let dir = workspace("periodic_resend");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default().bundle_ttl(2));
    let mut s = watch_bundle(&auth, "").await;
    let first = next(&mut s, PUSH).await.unwrap().bundle.unwrap();
    assert_eq!(first.ttl_seconds, 2);
    for i in 0..3 {
        let again = next(&mut s, Duration::from_secs(4))
            .await
            .unwrap_or_else(|| panic!("re-send {i} did not arrive"));
        assert_eq!(again.bundle.unwrap().version, first.version);
    }
}

/// AUT-4: saving a policy file pushes the new bundle to an open stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_4_edit_pushes_new_bundle() {
    let dir = workspace("edit_pushes");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let mut s = watch_bundle(&auth, "").await;
    let first = next(&mut s, PUSH).await.unwrap().bundle.unwrap();
    auth.write_policy("default.cedar", POLICY_A);
    let pushed = next(&mut s, PUSH)
        .await
        .expect("pushed bundle")
        .bundle
        .unwrap();
    assert_ne!(pushed.version, first.version);
    assert_eq!(pushed.files[0].text, POLICY_A.as_bytes());
    // A new file is picked up too.
    auth.write_policy("extra.cedar", POLICY_B);
    let pushed2 = next(&mut s, PUSH)
        .await
        .expect("second push")
        .bundle
        .unwrap();
    assert_eq!(pushed2.files.len(), 2);
    assert!(
        auth.wait_for_log("policy bundle reloaded version=", PUSH)
            .is_some()
    );
    // Rewriting identical content sends nothing (the version is unchanged).
    auth.write_policy("extra.cedar", POLICY_B);
    assert!(next(&mut s, Duration::from_millis(800)).await.is_none());
}

/// AUT-4: an invalid edit keeps the last good bundle; it is logged once,
/// naming the file and line; fixing it pushes the new bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_4_invalid_edit_keeps_last_good() {
    let dir = workspace("invalid_edit");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let mut s = watch_bundle(&auth, "").await;
    let first = next(&mut s, PUSH).await.unwrap().bundle.unwrap();
    auth.write_policy(
        "default.cedar",
        "permit(principal, action, resource);\nforbid(oops;\n",
    );
    let line = auth
        .wait_for_log("policy change rejected", PUSH)
        .expect("rejection logged");
    assert!(line.contains("default.cedar:2:"), "{line}");
    assert!(line.contains("WARN"), "{line}");
    assert!(next(&mut s, Duration::from_millis(800)).await.is_none());
    let count = auth.stderr().matches("policy change rejected").count();
    assert_eq!(count, 1, "logged once per bad state:\n{}", auth.stderr());
    // A new client still gets the last good bundle.
    let mut s2 = watch_bundle(&auth, "").await;
    assert_eq!(
        next(&mut s2, PUSH).await.unwrap().bundle.unwrap().version,
        first.version
    );
    auth.write_policy("default.cedar", POLICY_A);
    let fixed = next(&mut s, PUSH)
        .await
        .expect("fixed bundle")
        .bundle
        .unwrap();
    assert_eq!(fixed.files[0].text, POLICY_A.as_bytes());
}

fn line_at(id: &str, at: firma_core::time::UnixTime, reason: &str) -> String {
    format!("{id}\t{}\t{reason}\n", firma_core::token::rfc3339(at))
}

const ID_A: &str = "ctok_01j0000000e008000000000001";
const ID_B: &str = "ctok_01j0000000e008000000000002";
const ID_C: &str = "ctok_01j0000000e008000000000003";
const ID_D: &str = "ctok_01j0000000e008000000000004";
const ID_OLD: &str = "ctok_01j0000000e008000000000005";

/// AUT-6, AUT-7: replay honours `since`; expired entries are skipped;
/// appended ids are streamed, known ids are not sent again; bad lines are
/// logged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_6_aut_7_revocations_replay_and_stream() {
    let dir = workspace("revocations");
    let t = now();
    let hours = |h: u64| Duration::from_secs(h * 3600);
    let ago =
        |d: Duration| firma_core::time::UnixTime::from_nanos(t.as_nanos() - d.as_nanos() as u64);
    let opts = AuthorityOpts {
        max_ttl_seconds: 4 * 3600,
        revocations: Some(format!(
            "{}{}{}not a line\n",
            line_at(ID_OLD, ago(hours(5)), "expired"),
            line_at(ID_A, ago(hours(3)), "first"),
            line_at(ID_B, ago(hours(1)), "second"),
        )),
        ..AuthorityOpts::default()
    };
    let auth = AuthorityProc::start(&dir, opts);
    assert!(
        auth.stderr().contains("line 4:"),
        "bad line logged:\n{}",
        auth.stderr()
    );

    // No `since`: everything not expired, in file order.
    let mut all = watch_revocations(&auth, None).await;
    let e1 = next(&mut all, PUSH).await.unwrap();
    let e2 = next(&mut all, PUSH).await.unwrap();
    assert_eq!((e1.token_id.as_str(), e1.reason.as_str()), (ID_A, "first"));
    assert_eq!(e2.token_id, ID_B);
    let ts = e2.timestamp.unwrap();
    assert_eq!(
        u64::try_from(ts.seconds).unwrap(),
        ago(hours(1)).as_nanos() / 1_000_000_000
    );

    // `since` two hours ago: only B.
    let mut recent = watch_revocations(&auth, Some(ago(hours(2)))).await;
    assert_eq!(next(&mut recent, PUSH).await.unwrap().token_id, ID_B);
    assert!(
        next(&mut recent, Duration::from_millis(500))
            .await
            .is_none()
    );

    // Appending a new id reaches both streams; a known id is a no-op.
    auth.revoke(ID_C, "appended");
    for s in [&mut all, &mut recent] {
        let e = next(s, PUSH).await.expect("appended revocation");
        assert_eq!((e.token_id.as_str(), e.reason.as_str()), (ID_C, "appended"));
    }
    auth.revoke(ID_A, "again");
    auth.append_revocation_line("still not a line");
    auth.revoke(ID_D, "fourth");
    assert_eq!(next(&mut all, PUSH).await.unwrap().token_id, ID_D);
    assert_eq!(next(&mut recent, PUSH).await.unwrap().token_id, ID_D);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        auth.stderr().matches("still not a line").count(),
        1,
        "a bad line is logged once:\n{}",
        auth.stderr()
    );
}

/// AUT-6: a missing revocation file is an empty list; creating it streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_6_missing_revocation_file_is_empty() {
    let dir = workspace("revocations_missing");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    assert!(!auth.revocation_file().exists());
    let mut s = watch_revocations(&auth, None).await;
    assert!(next(&mut s, Duration::from_millis(500)).await.is_none());
    auth.revoke(ID_A, "created");
    assert_eq!(next(&mut s, PUSH).await.unwrap().token_id, ID_A);
}

/// AUT-10: server TLS; a client trusting the CA works, one trusting
/// another CA fails the handshake, a plain h2c client gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_10_server_tls() {
    let dir = workspace("tls");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default().transport(Transport::Tls));
    assert!(auth.url().starts_with("https://localhost:"));
    let mut s = watch_bundle(&auth, "").await;
    assert!(next(&mut s, PUSH).await.is_some());

    let other = TestCa::new("Other CA", &dir.join("other-ca.crt"));
    let mut tls = auth.client_tls(None).unwrap();
    tls.ca_path = other.cert_path.clone();
    assert!(channel(auth.addr(), Some(&tls)).await.is_err());

    let plain = channel(auth.addr(), None).await;
    if let Ok(ch) = plain {
        let r = tokio::time::timeout(
            PUSH,
            firma_proto::AuthorityServiceClient::new(ch)
                .watch_revocations(WatchRevocationsRequest { since: None }),
        )
        .await;
        assert!(
            !matches!(r, Ok(Ok(_))),
            "plain h2c must not work against TLS"
        );
    }
}

/// Connects with `cert`: `Ok` only when the HTTP/2 probe gets the server's
/// SETTINGS and a real WatchPolicyBundle call returns the bundle. A refused
/// handshake fails the probe, so no tonic channel retries against it.
async fn mtls_call(
    auth: &AuthorityProc,
    cert: Option<support::authority::CertFiles>,
) -> Result<(), String> {
    let tls = auth.client_tls(cert).unwrap();
    support::authority::h2_probe(auth.addr(), &tls).await?;
    let ch = channel(auth.addr(), Some(&tls))
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    let mut client = firma_proto::AuthorityServiceClient::new(ch);
    let call = client.watch_policy_bundle(WatchPolicyBundleRequest {
        current_version: String::new(),
    });
    let mut s = tokio::time::timeout(PUSH, call)
        .await
        .map_err(|_| "timed out".to_owned())?
        .map_err(|e| format!("call: {e:?}"))?
        .into_inner();
    match tokio::time::timeout(PUSH, s.message()).await {
        Ok(Ok(Some(_))) => Ok(()),
        other => Err(format!("stream: {other:?}")),
    }
}

/// AUT-11: mTLS accepts an allow-listed identity (SAN, or CN without SAN)
/// and rejects no certificate, another CA, and an unlisted identity, each
/// logged with the identity and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_11_mtls_allow_list() {
    let dir = workspace("mtls");
    let allowed = vec!["sidecar-1.test".to_owned(), "cn-only-sidecar".to_owned()];
    let auth = AuthorityProc::start(
        &dir,
        AuthorityOpts::default().transport(Transport::Mtls(allowed)),
    );
    assert!(auth.stderr().contains("mtls allow-list loaded clients=2"));

    // SAN identity (the CN is ignored when a DNS SAN exists).
    let good = auth.client_cert("ignored-cn", Some("sidecar-1.test"));
    mtls_call(&auth, Some(good))
        .await
        .expect("allowed SAN identity");
    // CN identity when there is no DNS SAN.
    let cn = auth.client_cert("cn-only-sidecar", None);
    mtls_call(&auth, Some(cn))
        .await
        .expect("allowed CN identity");

    // No client certificate.
    assert!(mtls_call(&auth, None).await.is_err());
    assert!(
        auth.wait_for_log("reason=no client certificate presented", PUSH)
            .is_some(),
        "{}",
        auth.stderr()
    );

    // A certificate from another CA, with an allowed name.
    let rogue_ca = TestCa::new("Rogue CA", &dir.join("rogue-ca.crt"));
    let rogue = rogue_ca.client_cert("x", Some("sidecar-1.test"), &dir, "rogue");
    assert!(mtls_call(&auth, Some(rogue)).await.is_err());
    let line = auth
        .wait_for_log(
            "identity=sidecar-1.test reason=certificate chain rejected",
            PUSH,
        )
        .unwrap_or_else(|| panic!("{}", auth.stderr()));
    assert!(line.contains("peer=127.0.0.1:"), "{line}");

    // A valid certificate whose identity is not listed.
    let stranger = auth.client_cert("x", Some("sidecar-2.test"));
    assert!(mtls_call(&auth, Some(stranger)).await.is_err());
    assert!(
        auth.wait_for_log(
            "identity=sidecar-2.test reason=identity is not in the allow-list",
            PUSH
        )
        .is_some(),
        "{}",
        auth.stderr()
    );
}

/// AUT-11: an empty allow-list rejects every client; unknown keys refuse
/// start-up naming the file and line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_11_allow_list_file() {
    let dir = workspace("mtls_empty");
    let mut auth = AuthorityProc::start(
        &dir,
        AuthorityOpts::default().transport(Transport::Mtls(Vec::new())),
    );
    assert!(
        auth.stderr()
            .contains("is empty: every client will be rejected")
    );
    let cert = auth.client_cert("anyone", Some("anyone.test"));
    assert!(mtls_call(&auth, Some(cert)).await.is_err());
    auth.kill();

    let list = dir.join("tls/authorized_clients.toml");
    std::fs::write(&list, "[[clients]]\nidentity = \"a\"\nnotes = \"x\"\n").unwrap();
    let failure = start_fails(&dir);
    assert_eq!(failure.code, Some(2), "{}", failure.stderr);
    assert!(
        failure.stderr.contains("authorized_clients.toml:3:") && failure.stderr.contains("notes"),
        "{}",
        failure.stderr
    );
}

/// AUT-10: a broken certificate file refuses start-up naming key and file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_10_bad_certificate_refuses_start() {
    let dir = workspace("tls_bad_cert");
    let mut auth = AuthorityProc::start(&dir, AuthorityOpts::default().transport(Transport::Tls));
    auth.kill();
    std::fs::write(dir.join("tls/authority.crt"), "not a certificate\n").unwrap();
    let failure = start_fails(&dir);
    assert_eq!(failure.code, Some(2));
    assert!(
        failure.stderr.contains("authority.tls_cert_path")
            && failure.stderr.contains("tls/authority.crt"),
        "{}",
        failure.stderr
    );
}

/// AUT-2: a config whose key file is missing refuses to start, naming the
/// path and `firma authority generate-key`.
#[test]
fn aut_2_missing_key_refuses_start() {
    let dir = workspace("missing_key");
    let mut auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    auth.kill();
    std::fs::remove_file(dir.join("authority.key")).unwrap();
    let failure = start_fails(&dir);
    assert_eq!(failure.code, Some(2));
    assert!(
        failure
            .stderr
            .contains(&dir.join("authority.key").display().to_string())
            && failure.stderr.contains("firma authority generate-key"),
        "{}",
        failure.stderr
    );
    assert!(!failure.stderr.contains("listening addr="));
    assert!(
        !dir.join("authority.key").exists(),
        "never created for a config"
    );
}

/// AUT-12: SIGTERM ends open streams and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_12_sigterm_exits_zero() {
    let dir = workspace("sigterm");
    let mut auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let mut s = watch_bundle(&auth, "").await;
    assert!(next(&mut s, PUSH).await.is_some());
    let mut r = watch_revocations(&auth, None).await;
    auth.signal("TERM");
    let ended = tokio::time::timeout(Duration::from_secs(8), async {
        while let Ok(Some(_)) = s.message().await {}
        while let Ok(Some(_)) = r.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "streams end at shutdown");
    let status = auth.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", auth.stderr());
    assert!(auth.stderr().contains("SIGTERM received"));
}

/// The harness: `restart()` keeps the port, and a client reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_restart_keeps_port() {
    let dir = workspace("restart");
    let mut auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let addr = auth.addr();
    auth.restart();
    assert_eq!(auth.addr(), addr);
    let mut s = watch_bundle(&auth, "").await;
    assert!(next(&mut s, PUSH).await.is_some());
}

fn issue_request(
    agent: &str,
    actions: &[&str],
    ttl: i32,
) -> firma_proto::v1::IssueCapabilityRequest {
    firma_proto::v1::IssueCapabilityRequest {
        agent_id: agent.into(),
        requested_actions: actions.iter().map(|a| a.to_string()).collect(),
        resource_scope: String::new(),
        session_id: "sess_1".into(),
        requested_ttl_seconds: ttl,
    }
}

/// AUT-8: a grant carries every claim, the token string as signature,
/// PASETO v4 and the current bundle version; the token verifies under the
/// Authority's public key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_8_issue_capability_granted() {
    let dir = workspace("issue_granted");
    let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
    let mut s = watch_bundle(&auth, "").await;
    let version = next(&mut s, PUSH).await.unwrap().bundle.unwrap().version;
    let resp = auth
        .client()
        .await
        .issue_capability(issue_request(
            "agt_test",
            &["communication.external.send"],
            60,
        ))
        .await
        .expect("IssueCapability")
        .into_inner();
    assert!(resp.granted, "{resp:?}");
    assert!(resp.deny_reason.is_empty());
    let t = resp.token.expect("token");
    assert_eq!(t.format, firma_proto::v1::TokenFormat::PasetoV4 as i32);
    assert_eq!(t.policy_bundle_version.as_deref(), Some(version.as_str()));
    let token = String::from_utf8(t.signature.clone()).unwrap();
    assert!(token.starts_with("v4.public."), "{token}");
    let cap = firma_core::token::Capability::verify(&auth.public_key(), &token).expect("verifies");
    let c = cap.claims();
    assert_eq!(t.token_id, c.token_id);
    assert!(t.token_id.starts_with("ctok_"));
    assert_eq!(t.agent_id, "agt_test");
    assert_eq!(t.session_id, "sess_1");
    assert_eq!(t.action_set, ["communication.external.send"]);
    assert_eq!(t.resource_scope, "*");
    assert_eq!(t.context_hash, c.context_hash);
    let iat = t.issued_at.unwrap();
    let exp = t.expiry.unwrap();
    assert_eq!(exp.seconds - iat.seconds, 60);
    assert_eq!(
        u64::try_from(exp.seconds).unwrap(),
        c.expiry.as_nanos() / 1_000_000_000
    );
    assert!(
        auth.wait_for_log("capability issued token_id=ctok_", PUSH)
            .is_some()
    );
}

/// AUT-8: a denial answers granted = false with the issuer's code; an
/// invalid agent id is INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aut_8_issue_capability_denied() {
    let dir = workspace("issue_denied");
    let auth = AuthorityProc::start(
        &dir,
        AuthorityOpts::default()
            .issuance_policy("deny.cedar", "forbid(principal, action, resource);\n"),
    );
    let mut client = auth.client().await;
    let resp = client
        .issue_capability(issue_request(
            "agt_test",
            &["communication.external.send"],
            0,
        ))
        .await
        .expect("IssueCapability")
        .into_inner();
    assert!(!resp.granted);
    assert!(resp.token.is_none());
    assert_eq!(resp.deny_reason, "NO_AUTHORIZED_ACTIONS", "{resp:?}");
    assert!(!resp.deny_message.is_empty());

    let status = client
        .issue_capability(issue_request(
            "not-an-agent",
            &["communication.external.send"],
            0,
        ))
        .await
        .expect_err("invalid agent id");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("not-an-agent"), "{status:?}");
}
