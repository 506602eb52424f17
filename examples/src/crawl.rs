//! The crawler example's parts: [`ureq`], a blocking HTTP/1.1 client, on
//! guv's green sockets; a [`crawl`] that fetches many URLs at once with
//! [`GreenPool::starmap`]; and loopback [`Site`]s to crawl.
//!
//! ureq does its I/O through a [`Transport`] that a [`Connector`] opens,
//! and looks names up through a [`Resolver`] (its `unversioned` API, which
//! the workspace pins exactly since it may change in a minor release).
//! Both are green here: [`GreenConnector`] opens a [`guv::net::TcpStream`]
//! and [`GreenResolver`] asks guv's resolver, so a request parks its
//! greenlet where it would block, and the hub runs the other fetches
//! meanwhile — all on one OS thread, with ureq's ordinary blocking API.
//!
//! ```
//! use guv_examples::crawl::{Site, agent, crawl, page_app};
//!
//! let site = Site::start(page_app(7, std::time::Duration::from_millis(1))).unwrap();
//! let urls: Vec<String> = (0..5).map(|n| site.url(&format!("/page/{n}"))).collect();
//! let pool = guv::GreenPool::new(3);
//! let bodies: Vec<String> = crawl(&pool, &agent(), urls).map(|page| page.unwrap().body).collect();
//! assert_eq!(bodies[4], "site 7, page 4");
//! site.stop().unwrap();
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use guv::net::{TcpStream, ToSocketAddrs};
use guv::wsgi::http::{Request, Response, StatusCode};
use guv::wsgi::{Body, Server, ShutdownHandle};
use guv::{GreenPool, GreenThread};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport};
use ureq::{Agent, Error, Timeout};

/// A ureq [`Agent`] whose connections are green sockets and whose name
/// lookups are green; it keeps idle connections for reuse, up to 64 per
/// host, and gives each request 30 s.
///
/// ```
/// let agent = guv_examples::crawl::agent();
/// // Nothing listens on port 1: a clear error, no panic, no blocked thread.
/// assert!(matches!(agent.get("http://127.0.0.1:1/").call(), Err(ureq::Error::Io(_))));
/// ```
pub fn agent() -> Agent {
    let config = Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(256)
        .max_idle_connections_per_host(64)
        .build();
    Agent::with_parts(config, GreenConnector, GreenResolver)
}

/// One fetched page (see [`fetch`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The URL it was fetched from.
    pub url: String,
    /// The response status.
    pub status: u16,
    /// The response body, as text.
    pub body: String,
}

/// Fetches `url` with a GET; an HTTP error status is an `Err`
/// ([`Error::StatusCode`]), as ureq reports it by default.
///
/// ```
/// use guv_examples::crawl::{Site, agent, fetch, page_app};
///
/// let site = Site::start(page_app(1, std::time::Duration::ZERO)).unwrap();
/// assert_eq!(fetch(&agent(), &site.url("/page/2")).unwrap().body, "site 1, page 2");
/// assert!(matches!(fetch(&agent(), &site.url("/nowhere")), Err(ureq::Error::StatusCode(404))));
/// site.stop().unwrap();
/// ```
pub fn fetch(agent: &Agent, url: &str) -> Result<Page, Error> {
    let mut response = agent.get(url).call()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok(Page { url: url.to_owned(), status, body })
}

/// Fetches every URL in `pool`'s greenlets, so with at most the pool's
/// size of requests in flight, through [`GreenPool::starmap`] (Python
/// guv's crawler). The results come lazily, in the order of `urls`: a
/// failed fetch is an `Err` in its place, the others go on.
///
/// ```
/// use guv_examples::crawl::{agent, crawl};
///
/// let pool = guv::GreenPool::new(4);
/// let mut results = crawl(&pool, &agent(), vec!["http://127.0.0.1:1/".to_owned()]);
/// assert!(results.next().unwrap().is_err());
/// assert!(results.next().is_none());
/// ```
pub fn crawl<'p>(
    pool: &'p GreenPool,
    agent: &Agent,
    urls: impl IntoIterator<Item = String>,
) -> impl Iterator<Item = Result<Page, Error>> + 'p {
    let calls: Vec<(Agent, String)> = urls.into_iter().map(|url| (agent.clone(), url)).collect();
    pool.starmap(|agent: Agent, url: String| fetch(&agent, &url), calls).map(|outcome| {
        // A fetch that panicked (it should not) is an error in its place.
        outcome.unwrap_or_else(|e| Err(Error::Io(io::Error::other(format!("the fetch greenlet failed: {e}")))))
    })
}

/// An HTTP server on a loopback port, run by a greenlet of this thread's
/// hub (`guv::wsgi`), for the crawler to fetch from.
///
/// ```
/// use guv_examples::crawl::{Site, page_app};
///
/// let site = Site::start(page_app(0, std::time::Duration::ZERO)).unwrap();
/// assert!(site.url("/page/1").starts_with("http://127.0.0.1:"));
/// site.stop().unwrap();
/// ```
pub struct Site {
    addr: SocketAddr,
    stop: ShutdownHandle,
    server: GreenThread<io::Result<()>>,
}

impl Site {
    /// Serves `app` on 127.0.0.1, on a port the system picks.
    pub fn start<A>(app: A) -> io::Result<Site>
    where
        A: Fn(Request<Body>) -> Response<Body> + 'static,
    {
        let listener = guv::listen("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = Server::new(app).access_log(false);
        let stop = server.shutdown_handle();
        let server = guv::spawn(move || server.serve(listener));
        Ok(Site { addr, stop, server })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` (which starts with `/`) on this site.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server and waits for it.
    pub fn stop(self) -> io::Result<()> {
        self.stop.shutdown();
        self.server.wait().map_err(|e| io::Error::other(format!("the server greenlet of {}: {e}", self.addr)))?
    }
}

impl fmt::Debug for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Site").field("addr", &self.addr).finish_non_exhaustive()
    }
}

/// The example's site: `/page/N` answers `site SITE, page N` after
/// `latency` (a slow backend: the server's other connections go on
/// meanwhile); anything else is a 404.
///
/// ```
/// use guv::wsgi::{Body, http::Request};
///
/// let app = guv_examples::crawl::page_app(2, std::time::Duration::ZERO);
/// let page = app(Request::get("/page/9").body(Body::empty()).unwrap());
/// assert_eq!(page.into_body().into_vec().unwrap(), b"site 2, page 9");
/// assert_eq!(app(Request::get("/").body(Body::empty()).unwrap()).status(), 404);
/// ```
pub fn page_app(site: usize, latency: Duration) -> impl Fn(Request<Body>) -> Response<Body> + 'static {
    move |req| {
        if !latency.is_zero() {
            guv::sleep(latency);
        }
        match req.uri().path().strip_prefix("/page/").and_then(|n| n.parse::<u64>().ok()) {
            Some(n) => Response::new(Body::from(format!("site {site}, page {n}"))),
            None => {
                let mut r = Response::new(Body::from("no such page"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

/// Opens ureq's connections as green TCP streams (plain `http` only: this
/// example brings no TLS). [`agent`] puts it together with
/// [`GreenResolver`]:
///
/// ```
/// use guv_examples::crawl::{GreenConnector, GreenResolver};
///
/// let agent = ureq::Agent::with_parts(ureq::config::Config::default(), GreenConnector, GreenResolver);
/// let refused = agent.get("https://127.0.0.1:1/").call().unwrap_err();
/// assert!(matches!(refused, ureq::Error::Tls(_)));
/// ```
#[derive(Debug, Default)]
pub struct GreenConnector;

impl Connector for GreenConnector {
    type Out = GreenTransport;

    fn connect(&self, details: &ConnectionDetails, _chained: Option<()>) -> Result<Option<GreenTransport>, Error> {
        if details.needs_tls() {
            return Err(Error::Tls("the crawler example's connector speaks plain http only"));
        }
        let timeout = details.timeout.not_zero().map(|t| *t);
        let mut last = None;
        for addr in &details.addrs {
            let attempt = match timeout {
                Some(t) => TcpStream::connect_timeout(addr, t),
                None => TcpStream::connect(*addr),
            };
            match attempt {
                Ok(stream) => {
                    if details.config.no_delay() {
                        stream.set_nodelay(true)?;
                    }
                    let config = details.config;
                    let buffers = LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    return Ok(Some(GreenTransport { stream, buffers, read_timeout: None, write_timeout: None }));
                }
                Err(e) if e.kind() == io::ErrorKind::TimedOut => last = Some(Error::Timeout(Timeout::Connect)),
                Err(e) => last = Some(Error::Io(io::Error::new(e.kind(), format!("connect to {addr}: {e}")))),
            }
        }
        Err(last.unwrap_or(Error::HostNotFound))
    }
}

/// A green TCP connection as ureq's [`Transport`]: ureq's blocking reads
/// and writes park the greenlet. [`GreenConnector`] makes them; ureq pools
/// idle ones and asks [`Transport::is_open`] before reusing one.
///
/// ```
/// use guv_examples::crawl::{Site, agent, fetch, page_app};
///
/// let site = Site::start(page_app(0, std::time::Duration::ZERO)).unwrap();
/// let agent = agent();
/// for n in 0..3 {
///     // One connection, reused.
///     assert_eq!(fetch(&agent, &site.url(&format!("/page/{n}"))).unwrap().status, 200);
/// }
/// site.stop().unwrap();
/// ```
pub struct GreenTransport {
    stream: TcpStream,
    buffers: LazyBuffers,
    /// The timeouts last set on the socket, to skip setting them again.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// The time left before `timeout`, for a socket timeout; an error if none
/// is.
fn time_left(timeout: &NextTimeout) -> Result<Option<Duration>, Error> {
    if !timeout.after.is_not_happening() && timeout.after.is_zero() {
        return Err(Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|t| *t))
}

/// A socket error as ureq's: a socket timeout (`WouldBlock` or `TimedOut`)
/// is the timeout ureq asked for.
fn socket_error(e: io::Error, timeout: &NextTimeout) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(timeout.reason),
        _ => Error::Io(e),
    }
}

impl Transport for GreenTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = timeout.for_write();
        let left = time_left(&timeout)?;
        if left != self.write_timeout {
            self.stream.set_write_timeout(left)?;
            self.write_timeout = left;
        }
        let output = &self.buffers.output()[..amount];
        (&self.stream).write_all(output).map_err(|e| socket_error(e, &timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = timeout.for_read();
        let left = time_left(&timeout)?;
        if left != self.read_timeout {
            self.stream.set_read_timeout(left)?;
            self.read_timeout = left;
        }
        let input = self.buffers.input_append_buf();
        let n = loop {
            match (&self.stream).read(input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(socket_error(e, &timeout)),
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection can be reused if a read would block: the
        // server has neither closed it nor sent anything unasked.
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut byte = [0u8; 1];
        let idle = matches!((&self.stream).read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        idle && self.stream.set_nonblocking(false).is_ok()
    }
}

impl fmt::Debug for GreenTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenTransport").field("peer", &self.stream.peer_addr().ok()).finish()
    }
}

/// Looks host names up with guv's green resolver (the hosts file, then DNS
/// over green UDP), within ureq's timeout.
///
/// ```
/// use guv_examples::crawl::{Site, agent, fetch, page_app};
///
/// let site = Site::start(page_app(0, std::time::Duration::ZERO)).unwrap();
/// // `localhost` comes from the hosts file.
/// let url = format!("http://localhost:{}/page/1", site.addr().port());
/// assert_eq!(fetch(&agent(), &url).unwrap().body, "site 0, page 1");
/// site.stop().unwrap();
/// ```
#[derive(Debug, Default)]
pub struct GreenResolver;

/// The most addresses ureq takes from a resolver.
const MAX_ADDRS: usize = 16;

impl Resolver for GreenResolver {
    fn resolve(&self, uri: &Uri, _config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, Error> {
        let authority = uri.authority().ok_or_else(|| Error::BadUri(format!("{uri}: no host")))?;
        let port = match (authority.port_u16(), uri.scheme_str()) {
            (Some(port), _) => port,
            (None, Some("http")) => 80,
            (None, Some("https")) => 443,
            (None, _) => return Err(Error::BadUri(format!("{uri}: no port, and no scheme that implies one"))),
        };
        // `[::1]` is the IPv6 literal `::1`.
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let lookup = move || (host.as_str(), port).to_socket_addrs().map(|addrs| addrs.take(MAX_ADDRS).collect());
        let found: Vec<SocketAddr> = match timeout.not_zero() {
            Some(t) => guv::with_timeout(*t, lookup).map_err(|_| Error::Timeout(timeout.reason))??,
            None => lookup()?,
        };
        let mut addrs = self.empty();
        for addr in found {
            addrs.push(addr);
        }
        if addrs.is_empty() { Err(Error::HostNotFound) } else { Ok(addrs) }
    }
}
