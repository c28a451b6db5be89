//! HTTPS interception (spec `MITM-*`): the CA, leaf certificates, upstream
//! TLS and the relay that terminates a CONNECT tunnel and enforces every
//! request inside it. Which tunnels are intercepted, and what a failure
//! turns into, is decided by core (`Engine::decide_connect`,
//! `Engine::interception_failed`).

pub mod ca;
mod leaf;
mod relay;
mod upstream;

use std::path::Path;

use firma_core::config::MitmConfig;
use tokio_rustls::TlsConnector;

pub use self::ca::CaError;
pub use self::leaf::LeafCache;
pub use self::upstream::UpstreamTlsError;
use crate::sidecar::log::log;

/// Why interception could not be set up at start-up.
#[derive(Debug, thiserror::Error)]
pub enum MitmError {
    /// The CA.
    #[error(transparent)]
    Ca(#[from] CaError),
    /// Upstream TLS trust.
    #[error(transparent)]
    Upstream(#[from] UpstreamTlsError),
}

/// Everything an intercepted tunnel needs, built once at start-up.
pub struct Mitm {
    /// Leaf certificates by host.
    pub leaves: LeafCache,
    /// TLS towards the real upstreams.
    pub upstream: TlsConnector,
}

impl Mitm {
    /// Load or bootstrap the CA in `ca_dir` and build the upstream trust
    /// store. `now` is Unix seconds.
    pub fn start(config: &MitmConfig, ca_dir: &Path, now: i64) -> Result<Mitm, MitmError> {
        let ca = ca::load_or_bootstrap(ca_dir, now)?;
        let client =
            upstream::client_config(config.extra_upstream_ca_file.as_deref(), &ca.cert_der)?;
        let strict = config.strict_hosts.len();
        log!(
            Info,
            "firma_sidecar::interceptor::https_mitm",
            "https mitm enabled: {} intercept hosts ({strict} strict), {} bypass hosts; CA {}",
            config.intercept_hosts.len(),
            config.bypass_hosts.len(),
            ca_dir.join(ca::CERT_FILE).display()
        );
        Ok(Mitm {
            leaves: LeafCache::new(ca, config.cert_cache_capacity),
            upstream: TlsConnector::from(client),
        })
    }
}
