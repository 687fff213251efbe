//! How `ritmo-local` serves HTTP. By default ([`serve`]) the main runtime serves the router
//! through `axum::serve`, clicks (`GET /{slug}`) included, next to the scheduler, the job runner
//! and the reconciler.
//!
//! With `--http-per-cpu` ([`serve_per_cpu`]) connections are accepted on the main runtime and
//! handed out to a few event loops, each a single-threaded runtime on its own thread, that serve
//! a connection for its whole life. A request is then read, routed and answered on one thread,
//! with no wake-up of another worker and no task moving between threads.
//!
//! With one loop per core (that mode's default), each loop is pinned to its own CPU and a
//! connection goes to the loop on the CPU that receives its packets (`SO_INCOMING_CPU`, for
//! loopback the client thread's CPU): the client's wake-ups, the kernel's TCP work and the loop
//! then share one CPU and its caches, with no cross-CPU wake-up per request. The choice is made
//! once, at accept: a client thread's connections arrive in a burst from its CPU and stay
//! together, while a loop already serving [`SLACK`] connections more than the least loaded one
//! gives new ones to that one, which bounds the imbalance when many connections come from one
//! CPU. Unpinned (`--http-unpinned`, one loop, or more loops than CPUs) the connections go to
//! the loops in turn (a kernel's `SO_REUSEPORT` hash would not keep a few keep-alive connections
//! even).
//!
//! On the event loops a click is answered by the redirect's handler directly, ahead of the
//! router ([`DirectRedirect`]): the same answer with no route lookup, extension map or header
//! copy.
//!
//! HTTP/1.1 only and with no header timeout, as `axum::serve` with the `http1` feature.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::serve::ListenerExt;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::direct::DirectRedirect;

/// Serves `app` on `listener` from the calling runtime until the returned task is aborted or
/// dropped with its runtime; then the connections close once their request in flight, if any, is
/// answered.
pub fn serve(listener: TcpListener, app: Router) -> tokio::task::JoinHandle<()> {
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(error = %error, "server stopped");
        }
    })
}

/// Serves `app` on `listener` until the returned task is aborted or dropped with its runtime;
/// `loops` event loops, pinned one per CPU when `pin` and there are CPUs enough, or the calling
/// runtime itself, as [`serve`], when `loops` is 0. `direct`, when given, must answer as the
/// `/{slug}` route of `app`.
pub fn serve_per_cpu(
    listener: TcpListener,
    app: Router,
    direct: Option<DirectRedirect>,
    loops: usize,
    pin: bool,
) -> tokio::task::JoinHandle<()> {
    if loops == 0 {
        return serve(listener, app);
    }
    // One loop on a CPU of its own, when each loop can have one; a single loop stays free to
    // run anywhere.
    let cpus = if pin && loops > 1 {
        affinity::allowed_cpus()
    } else {
        Vec::new()
    };
    let cpus: Vec<usize> = if cpus.len() >= loops {
        cpus[..loops].to_vec()
    } else {
        Vec::new()
    };
    // The loops run until this sender is dropped: when the accepting task ends, is aborted,
    // or goes with its runtime (a test's).
    let (stop, stopped) = watch::channel(());
    let mut placement = Placement {
        handles: (0..loops)
            .map(|i| event_loop(i, cpus.get(i).copied(), stopped.clone()))
            .collect(),
        cpus,
        live: (0..loops).map(|_| AtomicUsize::new(0)).collect(),
        turn: 0,
    };
    tokio::spawn(async move {
        let _stop = stop;
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
            let i = placement.pick(&stream);
            let served = Served::start(placement.live.clone(), i);
            let (app, direct) = (app.clone(), direct.clone());
            placement.handles[i].spawn(async move {
                let _served = served;
                match TcpStream::from_std(stream) {
                    Ok(stream) => connection(stream, app, direct).await,
                    Err(error) => tracing::warn!(error = %error, "connection dropped"),
                }
            });
        }
    })
}

/// Which event loop serves each new connection.
struct Placement {
    handles: Vec<Handle>,
    /// The CPU each loop is pinned to, in loop order; empty when the loops are not pinned.
    cpus: Vec<usize>,
    /// The connections each loop serves now.
    live: Arc<[AtomicUsize]>,
    /// The next loop in turn, for unpinned loops.
    turn: usize,
}

impl Placement {
    fn pick(&mut self, stream: &std::net::TcpStream) -> usize {
        if self.cpus.is_empty() {
            let i = self.turn % self.handles.len();
            self.turn = self.turn.wrapping_add(1);
            return i;
        }
        let on_cpu = affinity::incoming_cpu(stream)
            .and_then(|cpu| self.cpus.iter().position(|&pinned| pinned == cpu));
        let live: Vec<usize> = self
            .live
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .collect();
        choose(on_cpu, &live)
    }
}

/// How many connections a loop may serve above the least loaded one and still be given a
/// connection that arrives on its CPU. Large enough that each thread of a load tool keeps its
/// burst of connections on its CPU's loop (with `SLACK` 1, bursts of 16 that arrived one CPU
/// after the other were split across the loops and lost their locality).
const SLACK: usize = 64;

/// The pinned loop for a new connection, given the connections each serves (`live`): the loop
/// on the CPU that receives its packets (`on_cpu`), unless that one serves more than [`SLACK`]
/// connections above the least loaded, or there is none; then the least loaded (the first of
/// them).
fn choose(on_cpu: Option<usize>, live: &[usize]) -> usize {
    let least = (0..live.len()).min_by_key(|&i| live[i]).unwrap_or(0);
    match on_cpu {
        Some(i) if live[i] <= live[least] + SLACK => i,
        _ => least,
    }
}

/// One connection counted on loop `i` for as long as it is served.
struct Served {
    live: Arc<[AtomicUsize]>,
    i: usize,
}

impl Served {
    fn start(live: Arc<[AtomicUsize]>, i: usize) -> Self {
        live[i].fetch_add(1, Ordering::Relaxed);
        Self { live, i }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.live[self.i].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts event loop `i`, on `cpu` alone when given, on its own thread; it ends when
/// `stopped`'s sender is dropped.
fn event_loop(i: usize, cpu: Option<usize>, mut stopped: watch::Receiver<()>) -> Handle {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("an HTTP event loop's runtime");
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("ritmo-http-{i}"))
        .spawn(move || {
            if let Some(cpu) = cpu {
                if let Err(error) = affinity::pin_current_thread(cpu) {
                    tracing::warn!(cpu, error = %error, "event loop not pinned");
                }
            }
            runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
        })
        .expect("an HTTP event loop's thread");
    handle
}

/// The few scheduler and socket calls the placement needs, on Linux; elsewhere the loops are
/// never pinned and take connections in turn.
#[cfg(target_os = "linux")]
mod affinity {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::os::fd::AsRawFd;

    /// The CPUs this process may run on, in increasing order (none when they cannot be read).
    pub fn allowed_cpus() -> Vec<usize> {
        // SAFETY: `cpu_set_t` is a plain bit set, valid zeroed; the call writes at most its size.
        let mut set: libc::cpu_set_t = unsafe { zeroed() };
        let read = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
        if read != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: `cpu` is below `CPU_SETSIZE`, within the set.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect()
    }

    /// Keeps the calling thread on `cpu`.
    pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        // SAFETY: as in `allowed_cpus`; `cpu` is below `CPU_SETSIZE`, and thread 0 is the caller.
        let set = unsafe {
            let mut set: libc::cpu_set_t = zeroed();
            libc::CPU_SET(cpu, &mut set);
            set
        };
        match unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// The CPU that processed the connection's latest incoming packet (`SO_INCOMING_CPU`).
    pub fn incoming_cpu(stream: &std::net::TcpStream) -> Option<usize> {
        let mut cpu: libc::c_int = -1;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: the descriptor is the open socket `stream` owns; `cpu` and `len` are a valid
        // buffer for an `int` option and its length.
        let read = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_INCOMING_CPU,
                (&mut cpu as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        (read == 0)
            .then_some(cpu)
            .and_then(|cpu| usize::try_from(cpu).ok())
    }
}

#[cfg(not(target_os = "linux"))]
mod affinity {
    pub fn allowed_cpus() -> Vec<usize> {
        Vec::new()
    }

    pub fn pin_current_thread(_cpu: usize) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    pub fn incoming_cpu(_stream: &std::net::TcpStream) -> Option<usize> {
        None
    }
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

    /// A listener on a free port of 127.0.0.1, and its address.
    async fn listen() -> (TcpListener, std::net::SocketAddr) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// A router whose `GET /` answers the name of the thread that serves it.
    fn thread_names() -> Router {
        Router::new().route(
            "/",
            get(|| async { std::thread::current().name().unwrap_or("?").to_string() }),
        )
    }

    /// Asserts that the server closes `stream` within 5 s.
    async fn assert_closed(stream: &mut TcpStream) {
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    }

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
            if let Some(body) = complete_body(&answer) {
                return body;
            }
        }
    }

    /// The body of a whole `200` answer read so far, or `None` while it is incomplete.
    fn complete_body(answer: &[u8]) -> Option<String> {
        let text = String::from_utf8_lossy(answer);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        (body.len() >= length).then(|| {
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            body.to_string()
        })
    }

    #[tokio::test]
    async fn connections_go_to_the_event_loops_in_turn_and_stay_on_theirs() {
        let (listener, addr) = listen().await;
        let app = thread_names();
        let server = serve_per_cpu(listener, app, None, 2, false);
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
        assert_closed(stream).await;
    }

    #[test]
    fn a_connection_goes_to_its_cpus_loop_unless_that_one_is_too_far_ahead() {
        assert_eq!(choose(Some(1), &[0, 0]), 1);
        assert_eq!(choose(Some(1), &[0, 16]), 1, "a burst stays together");
        assert_eq!(choose(Some(1), &[3, 3 + SLACK]), 1);
        assert_eq!(choose(Some(1), &[3, 4 + SLACK]), 0, "past the slack");
        assert_eq!(choose(Some(0), &[1 + SLACK, 1, 1]), 0);
        assert_eq!(
            choose(Some(0), &[3 + SLACK, 2, 1]),
            2,
            "to the least loaded"
        );
        // Received on a CPU with no loop: the least loaded, the first of them.
        assert_eq!(choose(None, &[2, 1, 1]), 1);
        // Many connections from one CPU: past the slack, every loop takes one in turn.
        let mut live = [0usize; 3];
        for _ in 0..(SLACK + 31) {
            live[choose(Some(0), &live)] += 1;
        }
        assert_eq!(live, [SLACK + 11, 10, 10]);
    }

    /// Pinned loops: a connection opened from a thread kept on a CPU is served by the loop on
    /// that CPU, on that CPU, for its whole life.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn pinned_loops_serve_each_connection_on_the_cpu_that_receives_it() {
        let cpus = affinity::allowed_cpus();
        if cpus.len() < 2 {
            eprintln!("one CPU: nothing to pin");
            return;
        }
        let app = Router::new().route(
            "/",
            get(|| async {
                // SAFETY: no arguments; reads the calling thread's CPU.
                let cpu = unsafe { libc::sched_getcpu() };
                format!("{} {cpu}", std::thread::current().name().unwrap_or("?"))
            }),
        );
        let (listener, addr) = listen().await;
        let server = serve_per_cpu(listener, app, None, 2, true);
        for (i, &cpu) in cpus[..2].iter().enumerate().rev() {
            // A client on `cpu` alone, as a load tool's thread would be.
            let answers = tokio::task::spawn_blocking(move || {
                affinity::pin_current_thread(cpu).unwrap();
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                (0..3)
                    .map(|_| ask_blocking(&mut stream))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap();
            for answer in answers {
                assert_eq!(
                    answer,
                    format!("ritmo-http-{i} {cpu}"),
                    "client on CPU {cpu}"
                );
            }
        }
        server.abort();
    }

    /// [`ask`] on a blocking socket.
    #[cfg(target_os = "linux")]
    fn ask_blocking(stream: &mut std::net::TcpStream) -> String {
        use std::io::{Read, Write};
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: ritmo\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "the connection closed");
            answer.extend_from_slice(&buf[..n]);
            if let Some(body) = complete_body(&answer) {
                return body;
            }
        }
    }

    #[tokio::test]
    async fn by_default_the_calling_runtime_serves_until_the_task_stops() {
        let (listener, addr) = listen().await;
        let app = thread_names();
        let server = serve(listener, app);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        for _ in 0..2 {
            assert!(!ask(&mut stream).await.starts_with("ritmo-http-"));
        }

        // Stopping the server closes its idle keep-alive connections.
        server.abort();
        assert_closed(&mut stream).await;
    }

    #[tokio::test]
    async fn without_event_loops_the_calling_runtime_serves() {
        let (listener, addr) = listen().await;
        let app = thread_names();
        let server = serve_per_cpu(listener, app, None, 0, true);
        let mut stream = TcpStream::connect(addr).await.unwrap();
        assert!(!ask(&mut stream).await.starts_with("ritmo-http-"));
        server.abort();
    }
}
