//! `WatchPolicyBundle` (SDC-32): each update is checked and compiled; a good
//! one replaces the active bundle with its own TTL, a bad one is logged and
//! the current bundle keeps deciding.

use std::sync::Arc;
use std::time::Duration;

use firma_core::UnixTime;
use firma_core::policy::{Bundle, BundleCompiler, BundleError, PolicySource};
use firma_proto::v1::{PolicyBundleUpdate, WatchPolicyBundleRequest};
use tonic::Status;
use tonic::codec::Streaming;

use super::{TARGET, short};
use crate::sidecar::clock::wall_now;
use crate::sidecar::engine_cell::EngineCell;
use crate::sidecar::log::log;

/// The file name given to `PolicyBundle.policies` when the Authority sends no
/// per-file list.
pub const FALLBACK_FILE: &str = "bundle.cedar";
/// The name of `PolicyBundle.entity_schema` in messages.
const SCHEMA_NAME: &str = "entity_schema";

/// Why an update was not applied.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The message carries no bundle.
    #[error("the update carries no bundle")]
    Missing,
    /// `ttl_seconds = 0` would be stale on arrival.
    #[error("bundle version {version} has ttl_seconds = 0")]
    ZeroTtl {
        /// The advertised version (shortened).
        version: String,
    },
    /// A policy file or the schema is not UTF-8.
    #[error("bundle version {version}: `{name}` is not valid UTF-8")]
    NotUtf8 {
        /// The advertised version (shortened).
        version: String,
        /// The file name.
        name: String,
    },
    /// The policies do not compile against the schema.
    #[error("bundle version {version} does not compile: {source}")]
    Compile {
        /// The advertised version (shortened).
        version: String,
        /// Why.
        source: BundleError,
    },
}

/// A checked update, ready to be handed to the engine.
#[derive(Debug)]
pub struct Compiled {
    /// The compiled bundle.
    pub bundle: Bundle,
    /// Its TTL, from the message.
    pub ttl: Duration,
    /// The version the Authority advertised (sent back on reconnect).
    pub advertised: String,
}

/// Check and compile one update: TTL not zero, the `files` in order (or
/// `policies` as one file named [`FALLBACK_FILE`] when `files` is empty),
/// against `entity_schema` (empty: the built-in schema).
pub fn compile(
    compiler: &mut BundleCompiler,
    update: &PolicyBundleUpdate,
) -> Result<Compiled, UpdateError> {
    let Some(b) = &update.bundle else {
        return Err(UpdateError::Missing);
    };
    let version = short(&b.version).to_owned();
    if b.ttl_seconds == 0 {
        return Err(UpdateError::ZeroTtl { version });
    }
    let text = |name: &str, bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| UpdateError::NotUtf8 {
                version: version.clone(),
                name: name.to_owned(),
            })
    };
    let files: Vec<(String, String)> = if b.files.is_empty() {
        vec![(FALLBACK_FILE.to_owned(), text(FALLBACK_FILE, &b.policies)?)]
    } else {
        b.files
            .iter()
            .map(|f| Ok((f.name.clone(), text(&f.name, &f.text)?)))
            .collect::<Result<_, UpdateError>>()?
    };
    let schema = if b.entity_schema.is_empty() {
        None
    } else {
        Some(text(SCHEMA_NAME, &b.entity_schema)?)
    };
    let sources = PolicySource::of_pairs(&files);
    let schema_source = schema.as_deref().map(|text| PolicySource {
        name: SCHEMA_NAME,
        text,
    });
    let bundle = compiler
        .compile(&sources, schema_source)
        .map_err(|source| UpdateError::Compile { version, source })?;
    Ok(Compiled {
        bundle,
        ttl: Duration::from_secs(u64::from(b.ttl_seconds)),
        advertised: b.version.clone(),
    })
}

/// What the bundle stream remembers across reconnects.
#[derive(Debug, Default)]
pub struct BundleState {
    /// The advertised version of the active bundle.
    version: Option<String>,
    /// Until when the active bundle has at least half its TTL left.
    comfortable_until: Option<UnixTime>,
    /// Keeps the compiled schema and unchanged files between updates, so a
    /// new version that changes a few files compiles only those (CED-18).
    compiler: BundleCompiler,
}

impl BundleState {
    /// The request for a (re)connect: the version held, so the Authority
    /// need not resend it — but only while at least half of its TTL is
    /// left; otherwise an empty version asks for the bundle at once, so a
    /// returning Authority restores a stale Sidecar without waiting for its
    /// periodic refresh.
    pub fn request(&self, now: UnixTime) -> WatchPolicyBundleRequest {
        let fresh = self.comfortable_until.is_some_and(|t| now < t);
        WatchPolicyBundleRequest {
            current_version: if fresh {
                self.version.clone().unwrap_or_default()
            } else {
                String::new()
            },
        }
    }
}

/// Apply every update of `stream` until it fails or ends.
pub async fn follow(
    mut stream: Streaming<PolicyBundleUpdate>,
    state: &mut BundleState,
    cell: &EngineCell,
) -> Result<(), Status> {
    while let Some(update) = stream.message().await? {
        // The periodic re-send of the active bundle only renews its TTL:
        // nothing to compile (SDC-32).
        if let Some(b) = &update.bundle
            && b.ttl_seconds > 0
            && state.version.as_deref() == Some(b.version.as_str())
        {
            let ttl = Duration::from_secs(u64::from(b.ttl_seconds));
            let now = wall_now();
            cell.update(|engine| engine.refresh_bundle(ttl, now));
            if let Some(active) = cell.load().bundle() {
                log!(
                    Info,
                    TARGET,
                    "policy bundle updated version={} policies={}",
                    short(active.version()),
                    active.policy_count()
                );
            }
            state.comfortable_until = Some(now.saturating_add(ttl / 2));
            continue;
        }
        // Compiling Cedar is CPU work: keep it off the request threads' queue.
        let mut compiler = std::mem::take(&mut state.compiler);
        let (compiler, compiled) = tokio::task::spawn_blocking(move || {
            let r = compile(&mut compiler, &update);
            (compiler, r)
        })
        .await
        .map_err(|e| Status::internal(format!("bundle compilation task failed: {e}")))?;
        state.compiler = compiler;
        let c = match compiled {
            Ok(c) => c,
            Err(e) => {
                log!(
                    Error,
                    TARGET,
                    "policy bundle update rejected, keeping the current bundle: {e}"
                );
                continue;
            }
        };
        let now = wall_now();
        let version = short(c.bundle.version()).to_owned();
        let policies = c.bundle.policy_count();
        let ttl = c.ttl;
        log!(
            Info,
            TARGET,
            "policy bundle updated version={version} policies={policies}"
        );
        cell.update(|engine| engine.handle_bundle(Arc::new(c.bundle), ttl, now));
        state.version = Some(c.advertised);
        state.comfortable_until = Some(now.saturating_add(ttl / 2));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use firma_proto::v1::{PolicyBundle, PolicyFile};

    use super::*;

    fn update(files: Vec<(&str, &str)>, policies: &str, ttl: u32) -> PolicyBundleUpdate {
        PolicyBundleUpdate {
            bundle: Some(PolicyBundle {
                version: "ab".repeat(32),
                policies: policies.as_bytes().to_vec(),
                entity_schema: Vec::new(),
                ttl_seconds: ttl,
                files: files
                    .into_iter()
                    .map(|(n, t)| PolicyFile {
                        name: n.into(),
                        text: t.as_bytes().to_vec(),
                    })
                    .collect(),
            }),
            updated_at: None,
        }
    }

    const PERMIT: &str = "permit(principal, action, resource);\n";

    /// SDC-32: per-file names are kept; the TTL comes from the bundle.
    #[test]
    fn files_compile_in_order() {
        let c = compile(
            &mut BundleCompiler::new(),
            &update(vec![("a.cedar", PERMIT), ("b.cedar", PERMIT)], "", 7),
        )
        .expect("compiles");
        assert_eq!(c.bundle.file_count(), 2);
        assert_eq!(c.bundle.policy_count(), 2);
        assert_eq!(c.ttl, Duration::from_secs(7));
        assert_eq!(c.advertised, "ab".repeat(32));
    }

    /// SDC-32: without `files`, `policies` is one file named `bundle.cedar`.
    #[test]
    fn concatenated_policies_fall_back_to_one_file() {
        let c = compile(
            &mut BundleCompiler::new(),
            &update(vec![], &format!("{PERMIT}{PERMIT}"), 30),
        )
        .expect("compiles");
        assert_eq!(c.bundle.file_count(), 1);
        assert_eq!(c.bundle.policy_count(), 2);
    }

    /// SDC-32: ttl 0, a missing bundle, non-UTF-8 text and bad Cedar are
    /// rejected with the reason.
    #[test]
    fn bad_updates_are_rejected() {
        assert!(matches!(
            compile(
                &mut BundleCompiler::new(),
                &update(vec![("a.cedar", PERMIT)], "", 0)
            ),
            Err(UpdateError::ZeroTtl { .. })
        ));
        assert!(matches!(
            compile(
                &mut BundleCompiler::new(),
                &PolicyBundleUpdate {
                    bundle: None,
                    updated_at: None
                }
            ),
            Err(UpdateError::Missing)
        ));
        let mut bad = update(vec![("a.cedar", PERMIT)], "", 30);
        if let Some(b) = bad.bundle.as_mut() {
            b.files[0].text = vec![0xff, 0xfe];
        }
        let e = compile(&mut BundleCompiler::new(), &bad).expect_err("not utf-8");
        assert!(
            e.to_string().contains("`a.cedar` is not valid UTF-8"),
            "{e}"
        );
        let e = compile(
            &mut BundleCompiler::new(),
            &update(vec![("x.cedar", "permit(")], "", 30),
        )
        .expect_err("bad cedar");
        assert!(matches!(e, UpdateError::Compile { .. }), "{e}");
        assert!(e.to_string().contains("x.cedar"), "{e}");
    }

    /// SDC-32: the held version is sent back only while half the TTL is left.
    #[test]
    fn reconnect_request_names_a_fresh_version_only() {
        let mut s = BundleState::default();
        let t0 = UnixTime::from_secs(1_000);
        assert_eq!(s.request(t0).current_version, "");
        s.version = Some("v1".into());
        s.comfortable_until = Some(t0.saturating_add(Duration::from_secs(15)));
        assert_eq!(s.request(t0).current_version, "v1");
        assert_eq!(
            s.request(t0.saturating_add(Duration::from_secs(15)))
                .current_version,
            ""
        );
    }
}
