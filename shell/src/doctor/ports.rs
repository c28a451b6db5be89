//! The Authority and Sidecar ports (DOC-10, DOC-11): a TCP connect to each
//! listen address, and for a plaintext Authority a gRPC health check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use firma_core::config::Config;

use super::Context;
use super::check::{Check, sh};
use super::keys::NO_CONFIG;

/// The address to connect to for a listener bound to `addr`: a wildcard
/// bind is reached on loopback.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn connect(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    TcpStream::connect_timeout(&addr, timeout)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn config_file(config: &Config) -> String {
    match &config.origin {
        firma_core::config::ConfigOrigin::File(p) => p.display().to_string(),
        firma_core::config::ConfigOrigin::Embedded => "firma.toml".to_owned(),
    }
}

/// `authority-port`: `[authority] listen_addr` accepts, and answers the gRPC
/// health check with SERVING.
pub fn authority(cx: &Context) -> Check {
    const ID: &str = "authority-port";
    const TITLE: &str = "authority port";
    let Some(config) = &cx.config else {
        return Check::skip(ID, TITLE, NO_CONFIG);
    };
    let live = cx.daemon.authority;
    let configured = config.authority.listen_addr;
    let addr = reachable(live.and_then(|l| l.listen).unwrap_or(configured));
    let used = config.sidecar.authority.url.is_some();
    if addr.port() == 0 {
        return Check::warn(
            ID,
            TITLE,
            "`[authority] listen_addr` has port 0 (ephemeral): there is no fixed port to probe",
            format!(
                "set a fixed port, e.g. `listen_addr = \"127.0.0.1:50051\"` under [authority] in {}",
                config_file(config)
            ),
        );
    }
    let state = sh(&cx.state_dir);
    match connect(addr, cx.timeout) {
        Err(e) => match live {
            Some(l) => Check::fail(
                ID,
                TITLE,
                format!(
                    "the daemon's Authority (pid {}) runs but {addr} refuses: {e}",
                    l.pid
                ),
                format!(
                    "read {}/authority.log, then `firma sidecar stop --state-dir {state} && firma sidecar start --detach --state-dir {state}`",
                    cx.state_dir.display()
                ),
            ),
            None if used => Check::fail(
                ID,
                TITLE,
                format!(
                    "nothing accepts on {addr} ({e}): the Sidecar's Authority is down, so protected calls are denied"
                ),
                format!("firma sidecar start --detach --state-dir {state}"),
            ),
            None => Check::skip(
                ID,
                TITLE,
                format!(
                    "policy-only mode (`[sidecar.authority] url` unset) and no Authority listens on {addr}"
                ),
            ),
        },
        Ok(()) if config.authority.tls.is_some() => Check::ok(
            ID,
            TITLE,
            format!("{addr} accepts (TLS; gRPC health not probed)"),
        ),
        Ok(()) => match health(addr, cx.timeout) {
            Ok(()) => Check::ok(ID, TITLE, format!("{addr} accepts; gRPC health: SERVING")),
            Err(e) => Check::warn(
                ID,
                TITLE,
                format!("{addr} accepts, but the gRPC health check failed: {e}"),
                format!(
                    "make sure {addr} is the firma Authority (`[authority] listen_addr` in {}); read {}/authority.log",
                    config_file(config),
                    cx.state_dir.display()
                ),
            ),
        },
    }
}

/// `grpc.health.v1.Health/Check` for the Authority service.
fn health(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(timeout)
            .timeout(timeout);
        let channel = tokio::time::timeout(timeout, endpoint.connect())
            .await
            .map_err(|_| "timed out connecting".to_owned())?
            .map_err(|e| e.to_string())?;
        let reply = tokio::time::timeout(
            timeout,
            HealthClient::new(channel).check(HealthCheckRequest {
                service: "firma.v1.AuthorityService".into(),
            }),
        )
        .await
        .map_err(|_| "timed out waiting for the answer".to_owned())?
        .map_err(|s| format!("{}: {}", s.code(), s.message()))?;
        let status = reply.into_inner().status;
        if status == ServingStatus::Serving as i32 {
            Ok(())
        } else {
            Err(format!(
                "status {}",
                ServingStatus::try_from(status)
                    .map_or_else(|_| status.to_string(), |s| s.as_str_name().to_owned())
            ))
        }
    })
}

/// `sidecar-port`: the proxy listener accepts. Returns the address the
/// test call may use when it does.
pub fn sidecar(cx: &Context) -> (Check, Option<SocketAddr>) {
    const ID: &str = "sidecar-port";
    const TITLE: &str = "sidecar port";
    let live = cx.daemon.sidecar;
    let configured = cx
        .config
        .as_ref()
        .map(|c| c.sidecar.interceptor.listen_addr);
    let Some(addr) = live.and_then(|l| l.listen).or(configured).map(reachable) else {
        return (Check::skip(ID, TITLE, NO_CONFIG), None);
    };
    if addr.port() == 0 {
        let file = cx.config.as_ref().map_or_else(String::new, config_file);
        return (
            Check::warn(
                ID,
                TITLE,
                "`[sidecar.interceptor] listen_addr` has port 0 (ephemeral): there is no fixed port to probe",
                format!(
                    "set a fixed port, e.g. `listen_addr = \"127.0.0.1:8080\"` under [sidecar.interceptor] in {file}"
                ),
            ),
            None,
        );
    }
    let state = sh(&cx.state_dir);
    match connect(addr, cx.timeout) {
        Ok(()) => (
            Check::ok(ID, TITLE, format!("{addr} accepts connections")),
            Some(addr),
        ),
        Err(e) => {
            let check = match live {
                Some(l) => Check::fail(
                    ID,
                    TITLE,
                    format!(
                        "the daemon's Sidecar (pid {}) runs but {addr} refuses: {e}",
                        l.pid
                    ),
                    format!(
                        "read {}/sidecar.log, then `firma sidecar stop --state-dir {state} && firma sidecar start --detach --state-dir {state}`",
                        cx.state_dir.display()
                    ),
                ),
                None => Check::fail(
                    ID,
                    TITLE,
                    format!(
                        "nothing listens on {addr} ({e}): agents pointed at this proxy cannot make calls, and no call is enforced"
                    ),
                    format!("firma sidecar start --detach --state-dir {state}"),
                ),
            };
            (check, None)
        }
    }
}
