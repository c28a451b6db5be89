//! The `firma authority` process under test (spec `AUT-*`), and small gRPC
//! clients to talk to it.
//!
//! ```ignore
//! let dir = support::authority::workspace("my_test");
//! let auth = AuthorityProc::start(&dir, AuthorityOpts::default());
//! let mut client = auth.client().await;            // plain h2c, or TLS when configured
//! let first = client.watch_policy_bundle(...).await?;
//! auth.write_policy("default.cedar", "...");       // the watcher pushes a new bundle
//! auth.revoke("ctok_…", "why");                     // WatchRevocations streams it
//! ```
//!
//! [`AuthorityProc::start`] writes `<dir>/firma.toml` with an `[authority]`
//! section (listen `127.0.0.1:0`, `policies/`, `issuance-policies/`,
//! `revocations.txt`, a fresh Ed25519 key in `authority.key` (64 raw bytes)
//! and `authority.pub` (32 raw bytes), `bundle_ttl_seconds`, optional TLS and
//! mTLS material minted with rcgen), spawns the real binary
//! `firma authority -c <dir>/firma.toml --state-dir <dir>/state`, waits for
//! `authority ready` and parses the bound address from `listening addr=…`.
//! The process is SIGKILLed on drop. Every wait is bounded.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use firma_core::time::UnixTime;
use firma_core::token::{PublicKey, SigningKey, rfc3339};
use firma_proto::AuthorityServiceClient;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

use super::sidecar::{log_message, wait_timeout};

/// How long start-up may take before the test fails.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// A permit-everything Cedar policy.
pub const PERMIT_ALL: &str = "permit(principal, action, resource);\n";

/// A fresh, empty directory for test `name`: `<target tmp>/authority/<name>`.
pub fn workspace(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("authority")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Transport the Authority is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain h2c (no TLS keys in the config).
    #[default]
    Plain,
    /// Server TLS: `tls_cert_path` + `tls_key_path`, a certificate for
    /// `localhost` and `127.0.0.1` signed by a test CA ([`AuthorityProc::server_ca_path`]).
    Tls,
    /// Server TLS plus mTLS: a test client CA
    /// (`mtls_client_ca_cert_path`) and `authorized_clients_path` listing
    /// these identities (`[[clients]] identity = "…"`).
    Mtls(Vec<String>),
}

/// What [`AuthorityProc::start`] writes.
#[derive(Debug, Clone)]
pub struct AuthorityOpts {
    /// `[authority] listen_addr` (default `127.0.0.1:0`).
    pub listen: String,
    /// `bundle_ttl_seconds` (default 30).
    pub bundle_ttl_seconds: u32,
    /// `max_ttl_seconds` (default 3600).
    pub max_ttl_seconds: u32,
    /// Files written to `policies/` (default `default.cedar` = [`PERMIT_ALL`]).
    pub policies: Vec<(String, String)>,
    /// Files written to `issuance-policies/` (default `issue.cedar` = [`PERMIT_ALL`]).
    pub issuance_policies: Vec<(String, String)>,
    /// Initial `revocations.txt` text (`None`: the file does not exist).
    pub revocations: Option<String>,
    /// Transport.
    pub transport: Transport,
    /// Extra lines appended to the `[authority]` section verbatim.
    pub extra: String,
}

impl Default for AuthorityOpts {
    fn default() -> AuthorityOpts {
        AuthorityOpts {
            listen: "127.0.0.1:0".into(),
            bundle_ttl_seconds: 30,
            max_ttl_seconds: 3600,
            policies: vec![("default.cedar".into(), PERMIT_ALL.into())],
            issuance_policies: vec![("issue.cedar".into(), PERMIT_ALL.into())],
            revocations: None,
            transport: Transport::Plain,
            extra: String::new(),
        }
    }
}

impl AuthorityOpts {
    /// Sets `bundle_ttl_seconds`.
    pub fn bundle_ttl(mut self, secs: u32) -> AuthorityOpts {
        self.bundle_ttl_seconds = secs;
        self
    }

    /// Replaces the enforcement policies with one file.
    pub fn policy(mut self, name: &str, text: &str) -> AuthorityOpts {
        self.policies = vec![(name.into(), text.into())];
        self
    }

    /// Replaces the issuance policies with one file.
    pub fn issuance_policy(mut self, name: &str, text: &str) -> AuthorityOpts {
        self.issuance_policies = vec![(name.into(), text.into())];
        self
    }

    /// Sets the transport.
    pub fn transport(mut self, t: Transport) -> AuthorityOpts {
        self.transport = t;
        self
    }
}

/// A test CA that signs certificates (rcgen, ECDSA P-256).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM file).
    pub cert_path: PathBuf,
}

/// A certificate and its key on disk.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// PEM certificate.
    pub cert_path: PathBuf,
    /// PEM PKCS#8 key.
    pub key_path: PathBuf,
}

impl TestCa {
    /// A new CA `CN=<name>`, its certificate written to `path`.
    pub fn new(name: &str, path: &Path) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.remove(DnType::CommonName);
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(path, cert.pem()).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            cert_path: path.to_path_buf(),
        }
    }

    /// A server certificate for `names` (DNS names or IP literals), written
    /// to `<dir>/<stem>.crt` and `<dir>/<stem>.key`.
    pub fn server_cert(&self, names: &[&str], dir: &Path, stem: &str) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "firma-authority");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
    }

    /// A client certificate `CN=<cn>` with an optional DNS SAN, written to
    /// `<dir>/<stem>.crt` and `<dir>/<stem>.key`. Its mTLS identity is the
    /// SAN when given, else the CN.
    pub fn client_cert(
        &self,
        cn: &str,
        dns_san: Option<&str>,
        dir: &Path,
        stem: &str,
    ) -> CertFiles {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.remove(DnType::CommonName);
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(san) = dns_san {
            params.subject_alt_names = vec![SanType::DnsName(san.try_into().unwrap())];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        write_pair(dir, stem, &cert.pem(), &key.serialize_pem())
    }
}

fn write_pair(dir: &Path, stem: &str, cert: &str, key: &str) -> CertFiles {
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();
    CertFiles {
        cert_path,
        key_path,
    }
}

/// TLS settings of a test client.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// CA bundle trusted for the server certificate.
    pub ca_path: PathBuf,
    /// Client certificate and key, for mTLS.
    pub client: Option<CertFiles>,
    /// Name checked against the server certificate (default `localhost`).
    pub server_name: String,
}

/// A gRPC channel to `addr`: plain h2c when `tls` is `None`, else TLS
/// (ALPN `h2`) trusting `tls.ca_path`, with the client certificate if any.
/// Errors (refused connection, rejected handshake) come back as `Err`.
pub async fn channel(
    addr: SocketAddr,
    tls: Option<&ClientTls>,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5));
    match tls {
        None => endpoint.connect().await,
        Some(tls) => {
            let connector = TlsConnector {
                addr,
                config: Arc::new(client_config(tls)),
                server_name: ServerName::try_from(tls.server_name.clone()).unwrap(),
            };
            endpoint.connect_with_connector(connector).await
        }
    }
}

/// Opens a TLS connection with `tls`, sends the HTTP/2 client preface and
/// an empty SETTINGS frame, and waits (5 s at most) for the server's first
/// frame. `Ok` when the server answers with SETTINGS — the connection got as
/// far as HTTP/2; `Err` (with the reason) when the handshake is refused or
/// the connection is closed first. Unlike a tonic channel, it never retries.
pub async fn h2_probe(addr: SocketAddr, tls: &ClientTls) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::try_from(tls.server_name.clone()).unwrap();
        let mut s = tokio_rustls::TlsConnector::from(Arc::new(client_config(tls)))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut head = [0u8; 9];
        s.read_exact(&mut head)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if head[3] == 4 {
            Ok(())
        } else {
            Err(format!("first frame has type {}, not SETTINGS", head[3]))
        }
    };
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

/// `rustls` client configuration for `tls` (ring provider, ALPN `h2`).
pub fn client_config(tls: &ClientTls) -> ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&tls.ca_path).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some(files) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(&files.cert_path)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
            let key = PrivateKeyDer::from_pem_file(&files.key_path).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// Dials a fixed address and runs a TLS handshake (tower `Service<Uri>`
/// for [`Endpoint::connect_with_connector`]).
#[derive(Clone)]
struct TlsConnector {
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

type TlsIo = TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TlsIo;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<TlsIo, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = tokio::net::TcpStream::connect(this.addr).await?;
            let tls = tokio_rustls::TlsConnector::from(this.config)
                .connect(this.server_name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// A running `firma authority`; SIGKILLed on drop.
pub struct AuthorityProc {
    dir: PathBuf,
    opts: AuthorityOpts,
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    exit: Option<ExitStatus>,
    key: SigningKey,
    server_ca: Option<TestCa>,
    client_ca: Option<TestCa>,
}

/// A start-up that ended before `authority ready`.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit code (`None` if killed by a signal or timed out).
    pub code: Option<i32>,
    /// Captured stderr.
    pub stderr: String,
}

impl AuthorityProc {
    /// Writes the workspace in `dir` (config, key, policies, TLS material)
    /// and starts the Authority; panics with its stderr when start-up fails.
    pub fn start(dir: &Path, opts: AuthorityOpts) -> AuthorityProc {
        match AuthorityProc::try_start(dir, opts) {
            Ok(a) => a,
            Err(f) => panic!(
                "authority did not become ready (exit {:?}); stderr:\n{}",
                f.code, f.stderr
            ),
        }
    }

    /// Like [`AuthorityProc::start`], returning the failure instead.
    pub fn try_start(dir: &Path, opts: AuthorityOpts) -> Result<AuthorityProc, StartFailure> {
        std::fs::create_dir_all(dir.join("state")).unwrap();
        let key = write_key(dir);
        write_files(&dir.join("policies"), &opts.policies);
        write_files(&dir.join("issuance-policies"), &opts.issuance_policies);
        if let Some(text) = &opts.revocations {
            std::fs::write(dir.join("revocations.txt"), text).unwrap();
        }
        let (server_ca, client_ca) = write_tls(dir, &opts.transport);
        std::fs::write(dir.join("firma.toml"), render(&opts, &opts.listen)).unwrap();
        let (child, addr, stderr) = spawn_ready(&command(dir))?;
        Ok(AuthorityProc {
            dir: dir.to_path_buf(),
            opts,
            child,
            addr,
            stderr,
            exit: None,
            key,
            server_ca,
            client_ca,
        })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>` (plain) or `https://localhost:<port>` (TLS).
    pub fn url(&self) -> String {
        match self.opts.transport {
            Transport::Plain => format!("http://{}", self.addr),
            _ => format!("https://localhost:{}", self.addr.port()),
        }
    }

    /// The workspace directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/firma.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("firma.toml")
    }

    /// The raw 32-byte public key file (`authority.pub`).
    pub fn public_key_path(&self) -> PathBuf {
        self.dir.join("authority.pub")
    }

    /// The Authority's token verification key.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// The Authority's signing key (to mint tokens in tests).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// `policies/`.
    pub fn policy_dir(&self) -> PathBuf {
        self.dir.join("policies")
    }

    /// `revocations.txt`.
    pub fn revocation_file(&self) -> PathBuf {
        self.dir.join("revocations.txt")
    }

    /// Writes (replaces) `policies/<name>` in one rename, so the watcher
    /// never sees a half-written file.
    pub fn write_policy(&self, name: &str, text: &str) {
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.policy_dir().join(name)).unwrap();
    }

    /// Appends `<token_id>\t<now>\t<reason>` to `revocations.txt`.
    pub fn revoke(&self, token_id: &str, reason: &str) {
        self.append_revocation_line(&format!("{token_id}\t{}\t{reason}", rfc3339(now())));
    }

    /// Appends one raw line (a line break is added) to `revocations.txt`.
    pub fn append_revocation_line(&self, line: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.revocation_file())
            .unwrap();
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// The server CA certificate (PEM) for TLS transports.
    pub fn server_ca_path(&self) -> Option<PathBuf> {
        self.server_ca.as_ref().map(|ca| ca.cert_path.clone())
    }

    /// The mTLS client CA (signs client certificates the Authority accepts
    /// when their identity is allow-listed).
    pub fn client_ca(&self) -> Option<&TestCa> {
        self.client_ca.as_ref()
    }

    /// A client certificate signed by the mTLS client CA, `CN=<cn>` with an
    /// optional DNS SAN, written to `<dir>/clients/<stem>.{crt,key}`.
    pub fn client_cert(&self, cn: &str, dns_san: Option<&str>) -> CertFiles {
        let ca = self
            .client_ca
            .as_ref()
            .expect("client_cert needs Transport::Mtls");
        let dir = self.dir.join("clients");
        std::fs::create_dir_all(&dir).unwrap();
        let stem = format!("{cn}-{}", dns_san.unwrap_or("nosan"));
        ca.client_cert(cn, dns_san, &dir, &stem)
    }

    /// Client TLS settings trusting the server CA, with `client` as the
    /// client certificate; `None` for a plain Authority.
    pub fn client_tls(&self, client: Option<CertFiles>) -> Option<ClientTls> {
        self.server_ca_path().map(|ca_path| ClientTls {
            ca_path,
            client,
            server_name: "localhost".into(),
        })
    }

    /// A connected client (TLS trusting the server CA when configured; no
    /// client certificate).
    pub async fn client(&self) -> AuthorityServiceClient<Channel> {
        self.client_with(None).await
    }

    /// A connected client presenting `client` (for mTLS); panics when the
    /// connection fails.
    pub async fn client_with(&self, client: Option<CertFiles>) -> AuthorityServiceClient<Channel> {
        let tls = self.client_tls(client);
        let ch = channel(self.addr, tls.as_ref())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e:?}", self.addr));
        AuthorityServiceClient::new(ch)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until a stderr line contains `needle`; returns that line.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return Some(l.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal by name (`TERM`, `INT`) with `kill(1)`.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = wait_timeout(&mut self.child, timeout);
        }
        self.exit
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
    }

    /// Kills the process (if running) and starts it again on the same port
    /// with the same files; waits for `authority ready`.
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        std::fs::write(self.config_path(), render(&self.opts, &listen)).unwrap();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match spawn_ready(&command(&self.dir)) {
                Ok((child, addr, stderr)) => {
                    self.child = child;
                    self.addr = addr;
                    self.stderr = stderr;
                    self.exit = None;
                    return;
                }
                // The port may linger a moment after SIGKILL.
                Err(f) if Instant::now() < deadline && f.stderr.contains("cannot listen") => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(f) => panic!("restart failed (exit {:?}):\n{}", f.code, f.stderr),
            }
        }
    }
}

impl Drop for AuthorityProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The wall clock as core's time.
pub fn now() -> UnixTime {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    UnixTime::from_nanos(u64::try_from(d.as_nanos()).unwrap())
}

/// `firma authority -c <dir>/firma.toml --state-dir <dir>/state`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firma"));
    cmd.arg("authority")
        .arg("-c")
        .arg(dir.join("firma.toml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env_remove("FIRMA_CONFIG")
        .env_remove("FIRMA_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

type Spawned = (Child, SocketAddr, Arc<Mutex<Vec<String>>>);

/// Spawns `cmd` and waits for `authority ready` (after `listening addr=`).
pub fn spawn_ready(cmd: &Command) -> Result<Spawned, StartFailure> {
    let mut cmd = clone_command(cmd);
    let mut child = cmd.spawn().expect("spawn firma");
    let store = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    let sink = store.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(err).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            sink.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut addr = None;
    let fail = |child: &mut Child, store: &Arc<Mutex<Vec<String>>>| {
        let status = wait_timeout(child, Duration::from_secs(10));
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        StartFailure {
            code: status.and_then(|s| s.code()),
            stderr: store.lock().unwrap().join("\n"),
        }
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let msg = log_message(&line).trim_end();
                if let Some(a) = msg.strip_prefix("listening addr=") {
                    addr = a.parse::<SocketAddr>().ok();
                }
                if msg == "authority ready" {
                    let addr = addr.unwrap_or_else(|| {
                        panic!(
                            "`authority ready` without `listening addr=`:\n{}",
                            store.lock().unwrap().join("\n")
                        )
                    });
                    return Ok((child, addr, store));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err(fail(&mut child, &store)),
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                return Err(fail(&mut child, &store));
            }
        }
    }
}

fn clone_command(cmd: &Command) -> Command {
    let mut c = Command::new(cmd.get_program());
    c.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// A fresh Ed25519 key: `authority.key` (64 raw bytes, 0600) and
/// `authority.pub` (32 raw bytes). Reuses an existing key (restarts).
fn write_key(dir: &Path) -> SigningKey {
    let path = dir.join("authority.key");
    if let Ok(bytes) = std::fs::read(&path) {
        return SigningKey::from_bytes(&bytes).unwrap();
    }
    let mut seed = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed).unwrap();
    let key = SigningKey::from_seed(&seed);
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        f.write_all(&key.to_keypair_bytes()).unwrap();
    }
    std::fs::write(dir.join("authority.pub"), key.public_key().to_bytes()).unwrap();
    key
}

fn write_files(dir: &Path, files: &[(String, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Mints the server (and client) CA and certificates for `t` into `<dir>/tls/`.
fn write_tls(dir: &Path, t: &Transport) -> (Option<TestCa>, Option<TestCa>) {
    if *t == Transport::Plain {
        return (None, None);
    }
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let server_ca = TestCa::new("Test Authority CA", &tls.join("server-ca.crt"));
    server_ca.server_cert(&["localhost", "127.0.0.1"], &tls, "authority");
    let client_ca = match t {
        Transport::Mtls(ids) => {
            let ca = TestCa::new("Test Client CA", &tls.join("client-ca.crt"));
            let mut text = String::from("# sidecars allowed to connect\n");
            for id in ids {
                text.push_str(&format!("[[clients]]\nidentity = {id:?}\n"));
            }
            std::fs::write(tls.join("authorized_clients.toml"), text).unwrap();
            Some(ca)
        }
        _ => None,
    };
    (Some(server_ca), client_ca)
}

/// The `firma.toml` text: the `[authority]` section (and the one required
/// sidecar key).
fn render(opts: &AuthorityOpts, listen: &str) -> String {
    let mut t = String::from("[authority]\n");
    t.push_str(&format!("listen_addr = {listen:?}\n"));
    t.push_str("policy_dir = \"policies\"\n");
    t.push_str("issuance_policy_dir = \"issuance-policies\"\n");
    t.push_str("revocation_file = \"revocations.txt\"\n");
    t.push_str("key_file = \"authority.key\"\n");
    t.push_str(&format!("max_ttl_seconds = {}\n", opts.max_ttl_seconds));
    t.push_str(&format!(
        "bundle_ttl_seconds = {}\n",
        opts.bundle_ttl_seconds
    ));
    if opts.transport != Transport::Plain {
        t.push_str("tls_cert_path = \"tls/authority.crt\"\n");
        t.push_str("tls_key_path = \"tls/authority.key\"\n");
    }
    if let Transport::Mtls(_) = opts.transport {
        t.push_str("mtls_client_ca_cert_path = \"tls/client-ca.crt\"\n");
        t.push_str("authorized_clients_path = \"tls/authorized_clients.toml\"\n");
    }
    t.push_str(&opts.extra);
    // Core requires this key in every firma.toml; the Authority never reads it.
    t.push_str("\n[sidecar.audit]\nsigning_key_path = \"audit.key\"\n");
    t
}
