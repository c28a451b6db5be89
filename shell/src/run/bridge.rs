//! The two halves of the sandbox's only route out (RUN-3): inside, a TCP
//! listener on 127.0.0.1:18080 forwards each connection to the run's Unix
//! socket; outside, `firma run` accepts on that socket and forwards each
//! connection to the Sidecar's TCP listener. Bytes are copied unchanged; a
//! failed connect closes the client's connection (nothing falls back to a
//! direct route).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// Connections forwarded at once per bridge; more wait for a slot.
const MAX_CONNECTIONS: usize = 512;

/// Outside: forward every connection accepted on `listener` to `sidecar`.
pub async fn unix_to_tcp(listener: UnixListener, sidecar: SocketAddr) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _permit = permit;
            match TcpStream::connect(sidecar).await {
                Ok(mut up) => {
                    let _ = up.set_nodelay(true);
                    let _ = copy_bidirectional(&mut client, &mut up).await;
                }
                Err(e) => eprintln!("[WARN] firma run: cannot reach the Sidecar at {sidecar}: {e}"),
            }
        });
    }
}

/// Inside: forward every connection accepted on `listener` to `socket`.
pub async fn tcp_to_unix(listener: TcpListener, socket: PathBuf) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = client.set_nodelay(true);
            match UnixStream::connect(&socket).await {
                Ok(mut up) => {
                    let _ = copy_bidirectional(&mut client, &mut up).await;
                }
                Err(e) => eprintln!(
                    "[WARN] firma run: the bridge cannot reach `{}`: {e}",
                    socket.display()
                ),
            }
        });
    }
}
