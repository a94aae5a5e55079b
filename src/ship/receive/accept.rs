//! The standby's accepting side of the ship link: the listener, TLS or plain
//! transport (and a mismatch between the two, named), the per-IP limit on
//! failed handshakes, then the protocol in [`super::session`].

use super::intake::{handshake_failed, refuse, Mismatch, ReceiveError, ReceiverShared};
use super::session::handle;
use crate::ship::protocol::codes::RefuseCode;
use crate::ship::protocol::frame::FrameError;
use crate::ship::protocol::tls::{accept_tls, Accepted, ShipStream};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Accepts primaries on `listener` until the task is dropped; one shipment at a
/// time, each logged. Returns only on a fatal error (the log can't be written).
///
/// # Errors
/// [`ReceiveError::Fatal`] when the received log cannot be written.
pub async fn serve(listener: TcpListener, shared: Arc<ReceiverShared>) -> Result<(), ReceiveError> {
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel(1);
    loop {
        let (sock, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "ship listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(fatal) = fatal_rx.recv() => return Err(ReceiveError::Fatal(fatal)),
        };
        let shared = shared.clone();
        let fatal_tx = fatal_tx.clone();
        tokio::spawn(async move {
            match connection(sock, peer, &shared).await {
                Ok(()) => shared.ended_cleanly(),
                Err(ReceiveError::Fatal(m)) => {
                    tracing::error!(peer = %peer, error = %m, "received log cannot be written; stopping");
                    shared.record_error(format!("from {peer}: {m}"));
                    let _ = fatal_tx.send(m).await;
                }
                // A shipment that ended normally is no news: the primary
                // closes the link after the last acknowledgement.
                Err(ReceiveError::Frame(FrameError::Closed)) => {
                    shared.ended_cleanly();
                    tracing::debug!(peer = %peer, "the primary closed the ship link");
                }
                // A primary that drops a TLS link without close_notify (an
                // older build, or one stopped hard) between frames: nothing
                // was lost, the next shipment resumes from the durable LSN.
                Err(ReceiveError::Frame(FrameError::ClosedWithoutNotify)) => {
                    shared.ended_cleanly();
                    tracing::info!(peer = %peer, "the primary closed the ship link (without TLS close_notify)");
                }
                Err(ReceiveError::Blocked) => {
                    tracing::debug!(peer = %peer, "refused a blocked peer");
                }
                // Once per peer until it gets through: a primary retrying with
                // the wrong transport would fill the log otherwise.
                Err(e @ ReceiveError::Mismatch(_)) => {
                    shared.record_error(format!("from {peer}: {e}"));
                    if shared.limiter.first_mismatch(peer.ip()) {
                        tracing::error!(peer = %peer, error = %e, "ship link mismatch (logged once until this peer connects)");
                    } else {
                        tracing::debug!(peer = %peer, error = %e, "ship link mismatch");
                    }
                }
                Err(e) => {
                    // The first bad end in a row and then every tenth, as the
                    // primary logs its failed shipments: a link cut every few
                    // kilobytes does not flood the log; status always shows
                    // the latest.
                    let in_row = shared.ended_badly();
                    if in_row == 1 || in_row % 10 == 0 {
                        tracing::warn!(peer = %peer, ended_badly_in_row = in_row, error = %e, "shipment ended");
                    } else {
                        tracing::debug!(peer = %peer, ended_badly_in_row = in_row, error = %e, "shipment ended");
                    }
                    shared.record_error(format!("from {peer}: {e}"));
                    if let (ReceiveError::Refused { code, message }, Some(h)) =
                        (&e, shared.refuse_hook())
                    {
                        h(*code, &peer.to_string(), message);
                    }
                }
            }
        });
    }
}

/// One accepted connection: TLS (when configured), the per-IP limit, then the protocol.
async fn connection(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: &Arc<ReceiverShared>,
) -> Result<(), ReceiveError> {
    let _ = sock.set_nodelay(true);
    let mut stream: ShipStream = match &shared.tls {
        None => Box::new(sock),
        Some(tls) => match accept_tls(sock, tls).await {
            Accepted::Stream(s) => s,
            Accepted::Plain(mut sock) => {
                // A plain primary waits for Hello: say it in its own protocol.
                let m = Mismatch::PrimaryPlain;
                let _ = refuse(&mut sock, RefuseCode::Protocol, m.to_string()).await;
                return Err(ReceiveError::Mismatch(m));
            }
            Accepted::Failed(reason) => {
                handshake_failed(shared, peer);
                return Err(ReceiveError::Tls(reason));
            }
        },
    };
    if let Some(left) = shared.limiter.blocked(peer.ip(), Instant::now()) {
        let m = format!(
            "too many failed handshakes from {}; refused for another {} s",
            peer.ip(),
            left.as_secs().max(1)
        );
        let _ = refuse(&mut stream, RefuseCode::Auth, m).await;
        crate::ship::protocol::tls::close_link(&mut stream).await;
        return Err(ReceiveError::Blocked);
    }
    handle(stream, peer, shared).await
}
