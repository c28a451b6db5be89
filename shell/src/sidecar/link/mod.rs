//! The Sidecar's side of the Authority link (spec `SDC-30`..`SDC-36`): one
//! gRPC connection carrying `WatchPolicyBundle` and `WatchRevocations`,
//! re-established with exponential backoff, feeding the [`EngineCell`].
//!
//! While the Authority is away the last good bundle keeps deciding until its
//! TTL runs out; core then denies `PolicyBundleStale`. The next bundle after
//! a reconnect restores service.

mod backoff;
mod bundle;
mod revocations;
mod staleness;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;

use firma_core::config::{AuthorityUrl, SidecarAuthorityConfig};
use firma_proto::AuthorityServiceClient;

use self::backoff::{Backoff, MAX_BACKOFF, MIN_BACKOFF};
use self::bundle::BundleState;
use self::revocations::RevocationState;
use self::transport::Transport;
use super::clock::wall_now;
use super::engine_cell::EngineCell;
use super::log::log;

/// Log target of the link.
pub const TARGET: &str = "firma_sidecar::authority";

/// Largest message accepted from the Authority (a policy bundle).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Why the link could not be set up at start-up. Connection failures are
/// not errors: they are retried.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The URL cannot be used as a gRPC endpoint.
    #[error("`sidecar.authority.url` `{url}`: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A TLS file named by `[sidecar.authority]` is unusable.
    #[error("`{key}` `{path}`: {reason}", path = path.display())]
    TlsFile {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS for the Authority link: {0}")]
    Tls(String),
}

/// The first 12 characters of a bundle version, for log lines.
pub fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

/// The link, checked and ready to connect.
pub struct Link {
    transport: Transport,
    url: String,
}

impl Link {
    /// Check the URL and read the TLS material (before the listener opens,
    /// so a bad file refuses the start).
    pub fn new(config: &SidecarAuthorityConfig, url: &AuthorityUrl) -> Result<Link, LinkError> {
        Ok(Link {
            transport: Transport::new(config, url)?,
            url: url.to_string(),
        })
    }

    /// Follow the Authority in the background for the life of the process,
    /// and log when the active bundle turns stale.
    pub fn spawn(self, cell: Arc<EngineCell>) {
        tokio::spawn(staleness::watch(Arc::clone(&cell)));
        tokio::spawn(run(self.transport, self.url, cell));
    }
}

/// Connection state, for logging each change once.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Starting,
    Up,
    Down,
}

/// How one connection attempt ended.
enum SessionEnd {
    /// No stream was established.
    Unavailable(String),
    /// Both streams were established, then one failed or ended.
    Lost(String),
}

async fn run(transport: Transport, url: String, cell: Arc<EngineCell>) {
    let mut backoff = Backoff::new();
    let mut bundles = BundleState::default();
    let mut revocations = RevocationState::default();
    let mut state = State::Starting;
    loop {
        let end = session(
            &transport,
            &url,
            &cell,
            &mut bundles,
            &mut revocations,
            &mut state,
            &mut backoff,
        )
        .await;
        let delay = backoff.next_delay();
        match end {
            SessionEnd::Lost(why) => log!(
                Warn,
                TARGET,
                "authority stream disconnected endpoint={url}: {why}; reconnecting in {} ms",
                delay.as_millis()
            ),
            SessionEnd::Unavailable(why) if state != State::Down => log!(
                Warn,
                TARGET,
                "authority stream unavailable endpoint={url}: {why}; retrying with backoff from {} ms up to {} s",
                MIN_BACKOFF.as_millis(),
                MAX_BACKOFF.as_secs()
            ),
            SessionEnd::Unavailable(why) => log!(
                Debug,
                TARGET,
                "authority stream still unavailable endpoint={url}: {why}; retrying in {} ms",
                delay.as_millis()
            ),
        }
        state = State::Down;
        tokio::time::sleep(delay).await;
    }
}

async fn session(
    transport: &Transport,
    url: &str,
    cell: &EngineCell,
    bundles: &mut BundleState,
    revocations: &mut RevocationState,
    state: &mut State,
    backoff: &mut Backoff,
) -> SessionEnd {
    // A stale error from an earlier connection must not be blamed on this one.
    let _ = transport.take_io_error();
    let unavailable = |why: String| SessionEnd::Unavailable(with_cause(why, transport));
    let channel = match transport.connect().await {
        Ok(c) => c,
        Err(e) => return unavailable(describe(&e)),
    };
    let mut client = AuthorityServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
    let bundle_stream = match client
        .watch_policy_bundle(bundles.request(wall_now()))
        .await
    {
        Ok(r) => r.into_inner(),
        Err(s) => return unavailable(describe_status(&s)),
    };
    let revocation_stream = match client.watch_revocations(revocations.request()).await {
        Ok(r) => r.into_inner(),
        Err(s) => return unavailable(describe_status(&s)),
    };
    if *state != State::Up {
        log!(Info, TARGET, "authority stream connected endpoint={url}");
    }
    *state = State::Up;
    backoff.reset();
    let (which, result) = tokio::select! {
        r = bundle::follow(bundle_stream, bundles, cell) => ("policy bundle stream", r),
        r = revocations::follow(revocation_stream, revocations, cell) => ("revocation stream", r),
    };
    let why = match result {
        Ok(()) => format!("the {which} was closed by the Authority"),
        Err(status) => format!("the {which} failed: {}", describe_status(&status)),
    };
    SessionEnd::Lost(with_cause(why, transport))
}

/// `why`, followed by the connection's own I/O error when it adds something
/// (e.g. `received fatal alert: CertificateRequired`).
fn with_cause(why: String, transport: &Transport) -> String {
    match transport.take_io_error() {
        Some(io) if !why.contains(&io) => format!("{why} (connection: {io})"),
        _ => why,
    }
}

/// A gRPC status as `<Code>: <message>` and its sources.
fn describe_status(status: &tonic::Status) -> String {
    let code = status.code();
    let message = status.message();
    match std::error::Error::source(status).map(describe) {
        Some(rest) if rest.starts_with(message) => format!("{code:?}: {rest}"),
        Some(rest) if !message.contains(&rest) => format!("{code:?}: {message}: {rest}"),
        _ => format!("{code:?}: {message}"),
    }
}

/// An error and its sources on one line, without repeating a segment the
/// previous one already says.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.replace('\n', " ")
}
