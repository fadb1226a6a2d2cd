//! The `--metrics` listener: `GET /metrics` in the Prometheus text format
//! and `GET /healthz` for load balancers, on their own address, apart from
//! the files (no password, no path prefix, no access log).
//!
//! `/healthz` answers `200 ok` while the server accepts connections and
//! `503 stopping` once a graceful stop has begun, so a balancer that checks
//! it stops sending new requests while downloads finish.
//!
//! It owns this small listener; the counters are `metrics.rs`'s.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::handler::Handler;
use crate::metrics::{self, Gauges, METRICS};

/// The Prometheus text format's media type.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the metrics listener until the process ends.
pub async fn serve(listener: TcpListener, handler: Arc<Handler>, stop: watch::Receiver<bool>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(super::ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let (handler, stop) = (Arc::clone(&handler), stop.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = answer(&request, &handler, *stop.borrow());
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            // A scraper that stalls is dropped with its connection.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), connection).await;
        });
    }
}

fn answer(request: &Request<Incoming>, handler: &Handler, stopping: bool) -> Response<String> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".into(),
            "text/plain",
        );
    }
    match request.uri().path() {
        "/metrics" => {
            let gauges = Gauges {
                file_cache: handler.file_cache_stats(),
                cut_changed: crate::fs::snapshot::cuts(),
                digest_jobs: Some(handler.digest_stats()),
            };
            text(
                StatusCode::OK,
                metrics::render(&METRICS, gauges),
                EXPOSITION,
            )
        }
        "/healthz" if stopping => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping\n".into(),
            "text/plain",
        ),
        "/healthz" => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics or /healthz\n".into(),
            "text/plain",
        ),
    }
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<String> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
