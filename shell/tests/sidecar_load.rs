//! Load: 1,000 concurrent keep-alive client connections held open on
//! loopback, each sending 3 requests over about 5 s (SDC-5 keep-alive,
//! SDC-14 one record per decision). No request fails and no audit line is
//! lost: #lines == #requests, and the log verifies.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{Config, PERMIT_ALL, Upstream, Workspace};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

const CONNECTIONS: usize = 1000;
const REQUESTS_PER_CONNECTION: usize = 3;

/// Reads one response with a Content-Length body; returns the status.
async fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':')
            && n.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(status)
}

async fn client(
    i: usize,
    addr: std::net::SocketAddr,
    barrier: Arc<Barrier>,
) -> Result<Vec<u16>, String> {
    let stream = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .map_err(|_| format!("conn {i}: connect timed out"))?
        .map_err(|e| format!("conn {i}: connect: {e}"))?;
    let mut r = BufReader::new(stream);
    // Hold all connections open at once before any request is sent.
    barrier.wait().await;
    let mut statuses = Vec::new();
    for k in 0..REQUESTS_PER_CONNECTION {
        // Spread the requests over ~5 s: a per-connection offset, then 1.5 s apart.
        let offset = if k == 0 { (i % 100) as u64 * 10 } else { 1500 };
        tokio::time::sleep(Duration::from_millis(offset)).await;
        let req = if (i + k).is_multiple_of(10) {
            // Unmapped under default_protected: a deny answered by the sidecar.
            format!("GET http://unmapped.test/c{i}/r{k} HTTP/1.1\r\nHost: unmapped.test\r\n\r\n")
        } else {
            format!("GET http://wttr.in/c{i}/r{k} HTTP/1.1\r\nHost: wttr.in\r\n\r\n")
        };
        r.get_mut()
            .write_all(req.as_bytes())
            .await
            .map_err(|e| format!("conn {i} req {k}: write: {e}"))?;
        let st = tokio::time::timeout(Duration::from_secs(30), read_response(&mut r))
            .await
            .map_err(|_| format!("conn {i} req {k}: no response in 30 s"))?
            .map_err(|e| format!("conn {i} req {k}: read: {e}"))?;
        statuses.push(st);
    }
    Ok(statuses)
}

#[test]
fn thousand_keep_alive_connections() {
    let want = (CONNECTIONS as u64) * 3 + 256;
    let got = rlimit::increase_nofile_limit(want).unwrap_or(0);
    if got < want {
        eprintln!(
            "SKIP thousand_keep_alive_connections: RLIMIT_NOFILE hard limit allows {got} fds, need {want}"
        );
        return;
    }
    let up = Upstream::start();
    let ws = Workspace::new("load_thousand");
    let cfg = Config::default()
        .resolve("wttr.in:80", up.addr)
        .resolve("unmapped.test:80", up.addr);
    ws.setup(
        "[[rules]]\nmethod = \"GET\"\nhost = \"wttr.in\"\naction_class = \"communication.external.send\"\n",
        PERMIT_ALL,
        &cfg,
    );
    let sc = ws.start();
    let addr = sc.addr;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results: Vec<Result<Vec<u16>, String>> = rt.block_on(async move {
        let barrier = Arc::new(Barrier::new(CONNECTIONS));
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|i| tokio::spawn(client(i, addr, barrier.clone())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(
                t.await
                    .unwrap_or_else(|e| Err(format!("task panicked: {e}"))),
            );
        }
        out
    });
    let errors: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{} of {CONNECTIONS} connections failed, e.g.:\n{}",
        errors.len(),
        errors
            .iter()
            .take(10)
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let statuses: Vec<u16> = results.into_iter().flat_map(Result::unwrap).collect();
    let total = CONNECTIONS * REQUESTS_PER_CONNECTION;
    assert_eq!(statuses.len(), total);
    let denies = (0..CONNECTIONS)
        .flat_map(|i| (0..REQUESTS_PER_CONNECTION).map(move |k| (i + k).is_multiple_of(10)))
        .filter(|d| *d)
        .count();
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), denies);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        total - denies
    );
    assert_eq!(up.seen().len(), total - denies);

    let log = ws.audit();
    let recs = log.expect_records(total);
    assert_eq!(recs.len(), total, "audit lines lost");
    assert_eq!(log.verify().assert_ok(), total);
    drop(sc);
}
