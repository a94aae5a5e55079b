//! The metrics port: `GET /metrics` (OpenMetrics text, which Prometheus
//! scrapes) and `GET /` (the status page). HTTP/1.1 through hyper; at most
//! [`MAX_CONNECTIONS`] connections at once, each closed after
//! [`CONNECTION_TIMEOUT`].

use super::Monitor;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Most HTTP connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 32;
/// Longest life of one HTTP connection.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Content type of the metrics (OpenMetrics text 1.0).
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, monitor: Arc<Monitor>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let m = monitor.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let m = m.clone();
                async move { Ok::<_, Infallible>(respond(&m, &req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
            drop(permit);
        });
    }
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn respond(m: &Arc<Monitor>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    let path = req.uri().path().to_string();
    let mon = m.clone();
    // Both read the node's status, which may touch the disk.
    let page = tokio::task::spawn_blocking(move || match path.as_str() {
        "/metrics" => Some((METRICS_CONTENT_TYPE, mon.encode())),
        "/" => Some((
            "text/html; charset=utf-8",
            super::page::render(&mon, crate::clock::now_unix_ms()),
        )),
        _ => None,
    })
    .await;
    match page {
        Ok(Some((ct, body))) => reply(StatusCode::OK, ct, body),
        Ok(None) => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /\n".into(),
        ),
        Err(_) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "internal error\n".into(),
        ),
    }
}
