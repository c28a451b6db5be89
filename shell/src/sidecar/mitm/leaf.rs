//! Leaf certificates for intercepted hosts (MITM-3): minted on first use,
//! signed by the Firma CA, kept in a bounded least-recently-used cache so
//! steady-state handshakes never mint.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::ca::{Ca, unix};
use crate::sidecar::log::log;

/// How long a minted leaf is valid.
const LEAF_LIFETIME_SECS: i64 = 7 * 24 * 3600;
/// Leaves are re-minted after this long in the cache, well before expiry.
const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// ALPN protocols offered to clients, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a leaf could not be minted.
#[derive(Debug, thiserror::Error)]
#[error("cannot mint a leaf certificate for `{host}`: {reason}")]
pub struct LeafError {
    host: String,
    reason: String,
}

struct Entry {
    config: Arc<ServerConfig>,
    minted: Instant,
    last_used: u64,
}

/// The leaf cache: host → TLS server configuration presenting `[leaf, CA]`.
pub struct LeafCache {
    ca: Ca,
    capacity: NonZeroUsize,
    entries: Mutex<HashMap<String, Entry>>,
    clock: AtomicU64,
    minted: AtomicU64,
}

impl LeafCache {
    /// An empty cache holding at most `capacity` leaves.
    pub fn new(ca: Ca, capacity: NonZeroUsize) -> LeafCache {
        LeafCache {
            ca,
            capacity,
            entries: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            minted: AtomicU64::new(0),
        }
    }

    /// The server configuration for `host` (lower-case, no port), minting its
    /// leaf on a miss. `now` is Unix seconds (certificate validity).
    pub fn get_or_mint(&self, host: &str, now: i64) -> Result<Arc<ServerConfig>, LeafError> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        if let Some(config) = self.lookup(host, tick) {
            return Ok(config);
        }
        // Minting happens outside the lock; two racing misses for one host
        // both mint and the later insert wins, which is harmless.
        let config = Arc::new(self.mint(host, now)?);
        let n = self.minted.fetch_add(1, Ordering::Relaxed) + 1;
        log!(
            Info,
            "firma_sidecar::interceptor::https_mitm",
            "minted a leaf certificate for {host} ({n} since start)"
        );
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity.get() && !entries.contains_key(host) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(
            host.to_owned(),
            Entry {
                config: Arc::clone(&config),
                minted: Instant::now(),
                last_used: tick,
            },
        );
        Ok(config)
    }

    fn lookup(&self, host: &str, tick: u64) -> Option<Arc<ServerConfig>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get_mut(host)?;
        if entry.minted.elapsed() >= CACHE_TTL {
            entries.remove(host);
            return None;
        }
        entry.last_used = tick;
        Some(Arc::clone(&entry.config))
    }

    fn mint(&self, host: &str, now: i64) -> Result<ServerConfig, LeafError> {
        let fail = |reason: String| LeafError {
            host: host.to_owned(),
            reason,
        };
        let san = match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) if !is_dns_name(host) => {
                return Err(fail("not a DNS name or IP address".into()));
            }
            Err(_) => SanType::DnsName(
                host.to_owned()
                    .try_into()
                    .map_err(|e| fail(format!("not a DNS name ({e})")))?,
            ),
        };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fail(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![san];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = unix(now.saturating_sub(3600));
        params.not_after = unix(
            now.saturating_add(LEAF_LIFETIME_SECS)
                .min(self.ca.not_after),
        );
        let cert = params
            .signed_by(&key, &self.ca.issuer)
            .map_err(|e| fail(e.to_string()))?;
        let chain = vec![cert.der().clone(), self.ca.cert_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| fail(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
                .map_err(|e| fail(e.to_string()))?;
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

/// Letters, digits, `-`, `_` and dots between non-empty labels.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(capacity: usize, name: &str) -> LeafCache {
        let dir = std::env::temp_dir().join(format!("firma-leaf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ca = super::super::ca::load_or_bootstrap(&dir, 1_790_000_000).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        LeafCache::new(ca, NonZeroUsize::new(capacity).unwrap())
    }

    fn minted(c: &LeafCache) -> u64 {
        c.minted.load(Ordering::Relaxed)
    }

    // MITM-3: a cached host never mints again; the least recently used
    // leaf is evicted when the cache is full.
    #[test]
    fn mitm_3_bounded_lru() {
        let c = cache(2, "lru");
        let now = 1_790_000_000;
        let a1 = c.get_or_mint("a.test", now).unwrap();
        c.get_or_mint("b.test", now).unwrap();
        assert_eq!(minted(&c), 2);
        let a2 = c.get_or_mint("a.test", now).unwrap();
        assert!(Arc::ptr_eq(&a1, &a2), "a cached host was minted again");
        assert_eq!(minted(&c), 2);
        c.get_or_mint("c.test", now).unwrap(); // evicts b (least recently used)
        assert_eq!(minted(&c), 3);
        c.get_or_mint("a.test", now).unwrap();
        assert_eq!(minted(&c), 3);
        c.get_or_mint("b.test", now).unwrap();
        assert_eq!(minted(&c), 4);
        assert_eq!(c.entries.lock().unwrap().len(), 2);
    }

    // MITM-3: IP-literal hosts get an IP SAN; junk names are an error.
    #[test]
    fn mitm_3_ip_hosts_and_bad_names() {
        let c = cache(4, "names");
        assert!(c.get_or_mint("127.0.0.1", 1_790_000_000).is_ok());
        assert!(c.get_or_mint("[::1]", 1_790_000_000).is_ok());
        let e = c.get_or_mint("bad name", 1_790_000_000).unwrap_err();
        assert!(e.to_string().contains("`bad name`"), "{e}");
    }
}
