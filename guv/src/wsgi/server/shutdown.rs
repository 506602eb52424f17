//! [`ShutdownHandle`] and `Control`, the cross-thread part of a server:
//! the stop flag and the hubs of its running workers. A shutdown reaches
//! each worker on its own hub through `worker::stop_local`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::worker::stop_local;
use crate::hub::Handle;

/// Stops a [`Server`](super::Server) from any thread or greenlet: its workers stop
/// accepting, close idle connections, give requests in flight the shutdown
/// timeout to finish, and return from `serve` / `run`. Calling it before
/// the server starts makes it stop as soon as it starts.
///
/// ```
/// use guv::wsgi::{Body, Server};
/// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty()));
/// let stop = server.shutdown_handle();
/// assert!(!stop.is_shutdown());
/// stop.shutdown();
/// assert!(stop.is_shutdown());
/// ```
#[derive(Clone)]
pub struct ShutdownHandle(pub(super) Arc<Control>);

impl ShutdownHandle {
    /// Asks every worker to stop; returns at once.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let server = Server::new(hello);
    /// let stop = server.shutdown_handle();
    /// stop.shutdown();
    /// stop.shutdown(); // idempotent
    /// server.serve(guv::listen("127.0.0.1:0").unwrap()).unwrap();
    /// ```
    pub fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Whether [`shutdown`](ShutdownHandle::shutdown) was called.
    ///
    /// ```
    /// # use guv::wsgi::{Body, Server};
    /// # use std::io::{Read, Write};
    /// # fn hello(_: http::Request<Body>) -> http::Response<Body> { http::Response::new(Body::from("hi")) }
    /// # fn ask(addr: std::net::SocketAddr, req: &[u8]) -> String {
    /// #     let mut s = std::net::TcpStream::connect(addr).unwrap();
    /// #     s.write_all(req).unwrap();
    /// #     s.shutdown(std::net::Shutdown::Write).unwrap();
    /// #     let mut r = String::new();
    /// #     s.read_to_string(&mut r).unwrap();
    /// #     r
    /// # }
    /// let stop = Server::new(hello).shutdown_handle();
    /// assert!(!stop.is_shutdown());
    /// stop.shutdown();
    /// assert!(stop.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownHandle").field("shutdown", &self.is_shutdown()).finish()
    }
}

/// The cross-thread part of a server: the stop flag and its running
/// workers' hubs.
#[derive(Default)]
pub(super) struct Control {
    stopped: AtomicBool,
    /// Protocol: a worker registers under the lock and reads `stopped`
    /// there; `shutdown` sets `stopped` before taking the lock. Either the
    /// worker sees the flag or `shutdown` sees the worker.
    workers: Mutex<Vec<(u64, Handle)>>,
}

impl Control {
    pub(super) fn shutdown(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        for (id, handle) in workers.iter() {
            let id = *id;
            // A hub already gone has no worker left to stop.
            let _ = handle.spawn(move || stop_local(id));
        }
    }

    /// Registers a running worker; returns whether the server is already
    /// stopping.
    pub(super) fn register(&self, id: u64) -> bool {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.push((id, Handle::current()));
        self.stopped.load(Ordering::SeqCst)
    }

    pub(super) fn deregister(&self, id: u64) {
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|(w, _)| *w != id);
    }
}
