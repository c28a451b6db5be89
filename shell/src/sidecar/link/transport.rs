//! The connection to the Authority (SDC-31): plain h2c for `http://`, or TLS
//! for `https://` with our own tokio-rustls connector that trusts only
//! `[sidecar.authority] ca_cert_path`, offers ALPN `h2`, and presents the
//! optional client certificate (mTLS).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use firma_core::config::{AuthorityUrl, SidecarAuthorityConfig, TlsFiles, UrlScheme};
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::codegen::Service;
use tonic::transport::{Channel, Endpoint, Uri};

use super::LinkError;

/// HTTP/2 keep-alive ping interval on the Authority connection: a silent
/// peer is noticed without waiting for TCP.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// How long a keep-alive ping may go unanswered.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// How to reach the Authority; built once at start-up.
#[derive(Clone)]
pub struct Transport {
    endpoint: Endpoint,
    connector: Connector,
}

impl Transport {
    /// Check the URL and read the TLS material named by the config. Every
    /// error names the config key and the file.
    pub fn new(
        config: &SidecarAuthorityConfig,
        url: &AuthorityUrl,
    ) -> Result<Transport, LinkError> {
        let endpoint = Endpoint::from_shared(url.as_str().to_owned())
            .map_err(|e| LinkError::Url {
                url: url.to_string(),
                reason: e.to_string(),
            })?
            .connect_timeout(config.connect_timeout)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let tls = match url.scheme() {
            UrlScheme::Http => None,
            UrlScheme::Https => {
                let Some(ca) = &config.ca_cert_path else {
                    // CFG-23 makes this unreachable for a parsed config.
                    return Err(LinkError::Url {
                        url: url.to_string(),
                        reason: "uses https:// but `sidecar.authority.ca_cert_path` is not set"
                            .into(),
                    });
                };
                let server_name =
                    ServerName::try_from(url.host().to_owned()).map_err(|e| LinkError::Url {
                        url: url.to_string(),
                        reason: format!("host `{}` is not a TLS server name ({e})", url.host()),
                    })?;
                let client = client_config(ca, config.client_tls.as_ref())?;
                Some((TlsConnector::from(client), server_name))
            }
        };
        Ok(Transport {
            endpoint,
            connector: Connector {
                host: url.host().to_owned(),
                port: url.port(),
                tls,
                last_error: Arc::default(),
            },
        })
    }

    /// The last error the connection's byte stream reported (a TLS alert
    /// from the Authority, a reset), taken once. gRPC errors only say that
    /// the connection closed; this says why.
    pub fn take_io_error(&self) -> Option<String> {
        self.connector
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Open one connection (TCP, then TLS when configured, then HTTP/2).
    pub async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        self.endpoint
            .connect_with_connector(self.connector.clone())
            .await
    }
}

/// The rustls client configuration: roots from `ca_cert_path` only, ALPN
/// `h2`, client certificate when `tls_client_cert_path` is set.
pub fn client_config(
    ca_path: &Path,
    client: Option<&TlsFiles>,
) -> Result<Arc<ClientConfig>, LinkError> {
    let ca_key = "sidecar.authority.ca_cert_path";
    let certs = read_certs(ca_key, ca_path)?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.into_iter().enumerate() {
        roots.add(cert).map_err(|e| LinkError::TlsFile {
            key: ca_key,
            path: ca_path.into(),
            reason: format!("certificate {} is not usable as a root ({e})", i + 1),
        })?;
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| LinkError::Tls(e.to_string()))?
            .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let cert_key = "sidecar.authority.tls_client_cert_path";
            let key_key = "sidecar.authority.tls_client_key_path";
            let chain = read_certs(cert_key, &files.cert_path)?;
            let key =
                PrivateKeyDer::from_pem_file(&files.key_path).map_err(|e| LinkError::TlsFile {
                    key: key_key,
                    path: files.key_path.clone(),
                    reason: format!("is not a readable PEM private key ({e})"),
                })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| LinkError::TlsFile {
                    key: key_key,
                    path: files.key_path.clone(),
                    reason: format!(
                        "does not fit the certificate `{}` ({e})",
                        files.cert_path.display()
                    ),
                })?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, LinkError> {
    let fail = |reason: String| LinkError::TlsFile {
        key,
        path: PathBuf::from(path),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(format!("cannot read it ({e})")))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("is not a PEM certificate file ({e})")))?;
    if certs.is_empty() {
        return Err(fail("holds no PEM `CERTIFICATE`".into()));
    }
    Ok(certs)
}

/// Any byte stream tonic can run HTTP/2 over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The last I/O error seen on a connection.
type ErrorSlot = Arc<Mutex<Option<String>>>;

/// Dials the Authority's `host:port` from the config (not the URI tonic
/// passes, which is the same) and wraps it in TLS when configured.
#[derive(Clone)]
struct Connector {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    last_error: ErrorSlot,
}

type Connecting = Pin<Box<dyn Future<Output = Result<TokioIo<Watched>, io::Error>> + Send>>;

impl Service<Uri> for Connector {
    type Response = TokioIo<Watched>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let result = async {
                let tcp = TcpStream::connect((this.host.as_str(), this.port)).await?;
                let _ = tcp.set_nodelay(true);
                let io: Box<dyn Io> = match this.tls {
                    None => Box::new(tcp),
                    Some((tls, name)) => Box::new(tls.connect(name, tcp).await?),
                };
                Ok::<_, io::Error>(io)
            }
            .await;
            match result {
                Ok(io) => Ok(TokioIo::new(Watched {
                    inner: io,
                    last_error: this.last_error,
                })),
                Err(e) => {
                    note(&this.last_error, &e);
                    Err(e)
                }
            }
        })
    }
}

fn note(slot: &ErrorSlot, e: &io::Error) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
}

/// A connection that remembers its last read or write error.
pub struct Watched {
    inner: Box<dyn Io>,
    last_error: ErrorSlot,
}

impl Watched {
    fn seen<T>(&self, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(e)) = &r {
            note(&self.last_error, e);
        }
        r
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.seen(r)
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.seen(r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.seen(r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.seen(r)
    }
}
