//! TLS material for the Authority link (spec `ISS-17`..`ISS-19`):
//! `init-tls` (a local CA and the Authority's server certificate),
//! `generate-client-ca` (the mTLS client CA) and `issue-client-cert` (a
//! Sidecar's client certificate).

mod material;

use std::path::PathBuf;
use std::process::ExitCode;

use rcgen::{ExtendedKeyUsagePurpose, Issuer, SanType};

use self::material::{DAY, ca_params, common_name, leaf_params, load_ca, new_key, san};
use super::Common;
use super::files::{self, CmdError, NewFile};

/// `init-tls` CA certificate file.
pub const CA_CERT: &str = "authority-ca.crt";
/// `init-tls` CA key file.
pub const CA_KEY: &str = "authority-ca.key";
/// `init-tls` server certificate file.
pub const SERVER_CERT: &str = "authority-tls.crt";
/// `init-tls` server key file (not `authority.key`: that is the default
/// token-signing key).
pub const SERVER_KEY: &str = "authority-tls.key";
/// Common name of the `init-tls` CA.
const CA_CN: &str = "Firma Authority CA";
/// Common name of the Authority's server certificate.
const SERVER_CN: &str = "firma-authority";
/// SANs every server certificate carries.
const DEFAULT_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];
/// Lifetime of the `init-tls` CA and server certificate.
const INIT_TLS_DAYS: i64 = 3650;

/// `firma authority init-tls` arguments.
#[derive(Debug, clap::Args)]
pub struct InitTlsArgs {
    /// Directory for the four files (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// Another DNS name or IP address for the server certificate (besides
    /// localhost, 127.0.0.1 and ::1); repeatable.
    #[arg(long = "host", value_name = "H")]
    pub hosts: Vec<String>,
}

/// `firma authority generate-client-ca` arguments.
#[derive(Debug, clap::Args)]
pub struct GenerateClientCaArgs {
    /// Certificate file to create (mode 0644).
    #[arg(long, value_name = "PATH", default_value = "firma-client-ca.crt")]
    pub cert_out: PathBuf,
    /// Private key file to create (mode 0600).
    #[arg(long, value_name = "PATH", default_value = "firma-client-ca.key")]
    pub key_out: PathBuf,
    /// Validity in days.
    #[arg(long, value_name = "N", default_value_t = 3650, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// Common name of the CA.
    #[arg(long, value_name = "NAME", default_value = "Firma mTLS Client CA")]
    pub cn: String,
}

/// `firma authority issue-client-cert` arguments.
#[derive(Debug, clap::Args)]
pub struct IssueClientCertArgs {
    /// Common name of the client (its identity when there is no --san).
    #[arg(long, value_name = "NAME")]
    pub cn: String,
    /// DNS name for the subjectAltName; it becomes the client's identity.
    #[arg(long, value_name = "DNS")]
    pub san: Option<String>,
    /// Validity in days (never beyond the CA's own expiry).
    #[arg(long, value_name = "N", default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// Certificate file to create (mode 0644).
    #[arg(long, value_name = "PATH")]
    pub cert_out: PathBuf,
    /// Private key file to create (mode 0600).
    #[arg(long, value_name = "PATH")]
    pub key_out: PathBuf,
}

fn done(result: Result<(), CmdError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

fn now_secs() -> i64 {
    i64::try_from(files::wall_now().as_nanos() / 1_000_000_000).unwrap_or(i64::MAX)
}

fn sign_error(e: rcgen::Error) -> CmdError {
    CmdError::Usage(format!("cannot sign the certificate: {e}"))
}

/// Run `firma authority init-tls`.
pub fn init_tls(_common: &Common, args: InitTlsArgs) -> ExitCode {
    done(write_init_tls(&args))
}

fn write_init_tls(args: &InitTlsArgs) -> Result<(), CmdError> {
    let mut hosts: Vec<String> = DEFAULT_HOSTS.iter().map(|h| (*h).to_owned()).collect();
    let mut sans: Vec<SanType> = Vec::new();
    for h in DEFAULT_HOSTS
        .iter()
        .copied()
        .chain(args.hosts.iter().map(String::as_str))
    {
        let s = san(h, "--host")?;
        if !sans.contains(&s) {
            sans.push(s);
            if !hosts.iter().any(|known| known == h) {
                hosts.push(h.to_owned());
            }
        }
    }
    let dir = &args.out_dir;
    let paths = [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY].map(|n| dir.join(n));
    for p in &paths {
        if files::exists(p)? {
            return Err(CmdError::Exists(p.clone()));
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(dir)
        .map_err(CmdError::io(dir, "create the directory"))?;

    let now = now_secs();
    let not_after = now.saturating_add(INIT_TLS_DAYS * DAY);
    let ca_key = new_key()?;
    let ca_params = ca_params(CA_CN, now, not_after)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(sign_error)?;
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = new_key()?;
    let server = leaf_params(
        SERVER_CN,
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        now,
        not_after,
    )?
    .signed_by(&server_key, &issuer)
    .map_err(sign_error)?;
    let [ca_cert_path, ca_key_path, cert_path, key_path] = &paths;
    files::create_all(&[
        NewFile {
            path: ca_cert_path,
            bytes: ca_cert.pem().as_bytes(),
            mode: 0o644,
        },
        NewFile {
            path: ca_key_path,
            bytes: ca_key_pem.as_bytes(),
            mode: 0o600,
        },
        NewFile {
            path: cert_path,
            bytes: server.pem().as_bytes(),
            mode: 0o644,
        },
        NewFile {
            path: key_path,
            bytes: server_key.serialize_pem().as_bytes(),
            mode: 0o600,
        },
    ])?;
    println!("wrote CA certificate     {} (0644)", ca_cert_path.display());
    println!("wrote CA key             {} (0600)", ca_key_path.display());
    println!(
        "wrote server certificate {} (0644, CN={SERVER_CN}, SANs: {})",
        cert_path.display(),
        hosts.join(", ")
    );
    println!("wrote server key         {} (0600)", key_path.display());
    println!();
    println!("Authority (firma.toml):");
    println!("  [authority]");
    println!("  tls_cert_path = {}", files::toml_path(cert_path));
    println!("  tls_key_path = {}", files::toml_path(key_path));
    println!("Sidecar (firma.toml):");
    println!("  [sidecar.authority]");
    println!("  url = \"https://127.0.0.1:50051\"");
    println!("  ca_cert_path = {}", files::toml_path(ca_cert_path));
    println!();
    println!(
        "Keep {} offline: it is needed only to sign new server certificates.",
        ca_key_path.display()
    );
    Ok(())
}

/// Run `firma authority generate-client-ca`.
pub fn generate_client_ca(_common: &Common, args: GenerateClientCaArgs) -> ExitCode {
    done(write_client_ca(&args))
}

fn write_client_ca(args: &GenerateClientCaArgs) -> Result<(), CmdError> {
    common_name(&args.cn, "--cn")?;
    for p in [&args.cert_out, &args.key_out] {
        if files::exists(p)? {
            return Err(CmdError::Exists(p.clone()));
        }
    }
    let now = now_secs();
    let key = new_key()?;
    let cert = ca_params(
        &args.cn,
        now,
        now.saturating_add(i64::from(args.days) * DAY),
    )?
    .self_signed(&key)
    .map_err(sign_error)?;
    files::create_all(&[
        NewFile {
            path: &args.cert_out,
            bytes: cert.pem().as_bytes(),
            mode: 0o644,
        },
        NewFile {
            path: &args.key_out,
            bytes: key.serialize_pem().as_bytes(),
            mode: 0o600,
        },
    ])?;
    println!(
        "wrote client CA certificate {} (0644, CN={}, {} days)",
        args.cert_out.display(),
        args.cn,
        args.days
    );
    println!(
        "wrote client CA key         {} (0600)",
        args.key_out.display()
    );
    println!();
    println!(
        "Authority (firma.toml; mTLS also needs tls_cert_path, tls_key_path and authorized_clients_path):"
    );
    println!("  [authority]");
    println!(
        "  mtls_client_ca_cert_path = {}",
        files::toml_path(&args.cert_out)
    );
    println!(
        "  mtls_client_ca_key_path = {}",
        files::toml_path(&args.key_out)
    );
    Ok(())
}

/// Run `firma authority issue-client-cert`.
pub fn issue_client_cert(common: &Common, args: IssueClientCertArgs) -> ExitCode {
    done(write_client_cert(common, &args))
}

fn write_client_cert(common: &Common, args: &IssueClientCertArgs) -> Result<(), CmdError> {
    common_name(&args.cn, "--cn")?;
    let san_entry = args.san.as_deref().map(|s| san(s, "--san")).transpose()?;
    if let Some(SanType::IpAddress(_)) = san_entry {
        return Err(CmdError::Usage(format!(
            "--san `{}` is an IP address; a client identity is a DNS name",
            args.san.as_deref().unwrap_or_default()
        )));
    }
    for p in [&args.cert_out, &args.key_out] {
        if files::exists(p)? {
            return Err(CmdError::Exists(p.clone()));
        }
    }
    let loaded = files::load_config(common)?;
    let a = &loaded.config.authority;
    let where_ = loaded.file.as_deref().map_or_else(
        || "the built-in default".to_owned(),
        |p| format!("`{}`", p.display()),
    );
    let need = |v: &Option<PathBuf>, key: &str| -> Result<PathBuf, CmdError> {
        v.clone().ok_or_else(|| {
            CmdError::Usage(format!(
                "`[authority] {key}` is not set in {where_}; create a client CA with `firma authority generate-client-ca` \
                 and add the lines it prints"
            ))
        })
    };
    let ca_cert = need(&a.mtls_client_ca_cert_path, "mtls_client_ca_cert_path")?;
    let ca_key = need(&a.mtls_client_ca_key_path, "mtls_client_ca_key_path")?;
    let now = now_secs();
    let ca = load_ca(&ca_cert, &ca_key, now)?;
    let wanted = now.saturating_add(i64::from(args.days) * DAY);
    let not_after = wanted.min(ca.not_after);
    let key = new_key()?;
    let cert = leaf_params(
        &args.cn,
        san_entry.into_iter().collect(),
        ExtendedKeyUsagePurpose::ClientAuth,
        now,
        not_after,
    )?
    .signed_by(&key, &ca.issuer)
    .map_err(sign_error)?;
    files::create_all(&[
        NewFile {
            path: &args.cert_out,
            bytes: cert.pem().as_bytes(),
            mode: 0o644,
        },
        NewFile {
            path: &args.key_out,
            bytes: key.serialize_pem().as_bytes(),
            mode: 0o600,
        },
    ])?;
    let identity = args
        .san
        .as_deref()
        .map(|s| s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase())
        .unwrap_or_else(|| args.cn.clone());
    println!(
        "wrote client certificate {} (0644, signed by {})",
        args.cert_out.display(),
        ca_cert.display()
    );
    println!("wrote client key         {} (0600)", args.key_out.display());
    if not_after < wanted {
        println!("note: validity shortened to end with the client CA's own expiry");
    }
    println!("identity: {identity}");
    println!();
    let list = a.authorized_clients_path.as_deref().map_or_else(
        || "the allow-list".to_owned(),
        |p| format!("{}", p.display()),
    );
    println!("Allow-list entry (add to {list}):");
    println!("  [[clients]]");
    println!(
        "  identity = {}",
        serde_json::Value::String(identity.clone())
    );
    println!("Sidecar (firma.toml):");
    println!("  [sidecar.authority]");
    println!(
        "  tls_client_cert_path = {}",
        files::toml_path(&args.cert_out)
    );
    println!(
        "  tls_client_key_path = {}",
        files::toml_path(&args.key_out)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_files_do_not_clash_with_the_signing_key() {
        let defaults = firma_core::config::AuthorityConfig::defaults_in(std::path::Path::new("/x"));
        let key_name = defaults.key_file.file_name().unwrap().to_str().unwrap();
        for name in [CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY] {
            assert_ne!(name, key_name);
        }
    }
}
