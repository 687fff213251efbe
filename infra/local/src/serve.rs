//! How `ritmo-local` serves HTTP: connections are accepted on the main runtime and handed out
//! in turn to a few event loops, each a single-threaded runtime on its own thread, that serve a
//! connection for its whole life. A request is then read, routed and answered on one thread,
//! with no wake-up of another worker and no task moving between threads; the round-robin keeps
//! the loops evenly loaded (a kernel's `SO_REUSEPORT` hash would not with a few keep-alive
//! connections). The scheduler, the job runner and the reconciler stay on the main runtime.
//!
//! A click (`GET /{slug}`) is answered by the redirect's handler directly, ahead of the router
//! ([`DirectRedirect`]): the same answer with no route lookup, extension map or header copy.
//!
//! HTTP/1.1 only and with no header timeout, as `axum::serve` with the `http1` feature; with no
//! event loops the main runtime serves, through `axum::serve` (and the router, clicks included).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use ritmo_http::DirectRedirect;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `app` on `listener` until the returned task is aborted or dropped with its runtime;
/// `loops` event loops, or the calling runtime itself when `loops` is 0. `direct`, when given,
/// must be the redirect `app` routes `/{slug}` to.
pub fn serve(
    listener: TcpListener,
    app: Router,
    direct: Option<DirectRedirect>,
    loops: usize,
) -> tokio::task::JoinHandle<()> {
    if loops == 0 {
        return tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(error = %error, "server stopped");
            }
        });
    }
    // The loops run until this sender is dropped: when the accepting task ends, is aborted,
    // or goes with its runtime (a test's).
    let (stop, stopped) = watch::channel(());
    let handles: Vec<Handle> = (0..loops).map(|i| event_loop(i, stopped.clone())).collect();
    tokio::spawn(async move {
        let _stop = stop;
        let mut next = 0usize;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors and the like: wait, as `axum::serve` does.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Off this runtime's reactor, onto the chosen loop's.
            let stream = match stream.into_std() {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::warn!(error = %error, "connection dropped");
                    continue;
                }
            };
            let (app, direct) = (app.clone(), direct.clone());
            handles[next % handles.len()].spawn(async move {
                match TcpStream::from_std(stream) {
                    Ok(stream) => connection(stream, app, direct).await,
                    Err(error) => tracing::warn!(error = %error, "connection dropped"),
                }
            });
            next = next.wrapping_add(1);
        }
    })
}

/// Starts event loop `i` on its own thread; it ends when `stopped`'s sender is dropped.
fn event_loop(i: usize, mut stopped: watch::Receiver<()>) -> Handle {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("an HTTP event loop's runtime");
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("ritmo-http-{i}"))
        .spawn(move || {
            runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
        })
        .expect("an HTTP event loop's thread");
    handle
}

async fn connection(stream: TcpStream, app: Router, direct: Option<DirectRedirect>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // A click clones only the redirect's state; anything else only the router.
        let route = match &direct {
            Some(direct) if DirectRedirect::takes(request.method(), request.uri().path()) => {
                Err(direct.clone())
            }
            _ => Ok(app.clone()),
        };
        async move {
            let response = match route {
                Err(direct) => direct.answer(&request).await,
                Ok(app) => app
                    .oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|never| match never {}),
            };
            Ok::<_, Infallible>(response)
        }
    });
    let served = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(error) = served {
        tracing::debug!(error = %error, "connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends one keep-alive `GET /` and returns the body (the serving thread's name).
    async fn ask(stream: &mut TcpStream) -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: ritmo\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= length {
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    return body.to_string();
                }
            }
        }
    }

    #[tokio::test]
    async fn connections_go_to_the_event_loops_in_turn_and_stay_on_theirs() {
        let app = Router::new().route(
            "/",
            get(|| async { std::thread::current().name().unwrap_or("?").to_string() }),
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = serve(listener, app, None, 2);
        let mut connections = Vec::new();
        for _ in 0..4 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let first = ask(&mut stream).await;
            connections.push((stream, first));
        }
        let threads: Vec<&str> = connections.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(
            threads,
            [
                "ritmo-http-0",
                "ritmo-http-1",
                "ritmo-http-0",
                "ritmo-http-1"
            ]
        );
        for (stream, thread) in &mut connections {
            for _ in 0..3 {
                assert_eq!(&ask(stream).await, thread, "a connection keeps its loop");
            }
        }

        // Stopping the server ends the loops and with them their connections.
        server.abort();
        let (stream, _) = &mut connections[0];
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    }

    #[tokio::test]
    async fn without_event_loops_the_calling_runtime_serves() {
        let app = Router::new().route(
            "/",
            get(|| async { std::thread::current().name().unwrap_or("?").to_string() }),
        );
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = serve(listener, app, None, 0);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(!ask(&mut stream).await.starts_with("ritmo-http-"));
        server.abort();
    }
}
