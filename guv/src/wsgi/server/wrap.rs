//! [`Server::wrap_stream`]: the per-connection hook that turns an accepted
//! TCP socket into the stream the server speaks HTTP over (TLS).

use std::io::{self, Read, Write};
use std::sync::Arc;

use super::Server;
use crate::net::TcpStream;
use crate::wsgi::raw::Service;
use crate::wsgi::transport::{Closing, ReadWrite, StreamWrap, Wrapping};

impl<A: Service, W: StreamWrap> Server<A, W> {
    /// Has every accepted TCP connection turned into the stream the server
    /// speaks HTTP over by `wrap`: TLS, above all — gevent's
    /// `WSGIServer(..., ssl_context=...)`, eventlet's
    /// `wsgi.server(wrap_ssl(sock))`. guv has no TLS of its own (std has
    /// none to make green); a TLS library that works over any `Read +
    /// Write` wraps the green [`TcpStream`] as it would a std one. With
    /// rustls:
    ///
    /// ```text
    /// let config: Arc<rustls::ServerConfig> = ...;
    /// Server::new(app).wrap_stream(move |mut tcp| {
    ///     let mut tls = rustls::ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    ///     while tls.is_handshaking() {
    ///         tls.complete_io(&mut tcp)?; // parks this connection's greenlet only
    ///     }
    ///     Ok(rustls::StreamOwned::new(tls, tcp))
    /// })
    /// ```
    ///
    /// `wrap` runs on the connection's own greenlet, never on the accept
    /// loop, so a slow or stuck handshake holds up no other client. It is
    /// bounded by the [`header_timeout`](Server::header_timeout) (a client
    /// that never finishes its handshake is disconnected then, as one that
    /// never sends a head), together with the first request head: the
    /// window opens when the hook starts and does not open again when it
    /// returns, so a handshake that took most of it leaves the rest for the
    /// head. At a shutdown, the hook is closed at once like an idle
    /// connection. A `wrap` that fails (plain HTTP sent to the TLS
    /// port, a bad certificate) or panics is logged (target `guv::wsgi`)
    /// and closes that connection only. Finish the handshake inside `wrap`:
    /// the server then needs only the stream's reads and writes.
    ///
    /// The server then drives the stream without parking: it keeps its own
    /// handle on the socket (a `try_clone`) and puts the socket in
    /// non-blocking mode, so that a read or write the stream cannot do yet
    /// says `WouldBlock`; the server waits for the socket itself, with its
    /// own timeouts, and calls [`Write::flush`] to push out what the stream
    /// buffers (a TLS layer's records) whenever it would wait for the
    /// client. Everything the server does over a plain socket it does over
    /// the wrapped one: keep-alive, pipelining, chunked bodies,
    /// `100-continue`, the limits, the access log, graceful shutdown,
    /// [`Upgrade`](crate::wsgi::Upgrade) and WebSockets. The stream's own ending
    /// (a TLS `close_notify`) is not sent: the server closes the socket
    /// under it once an answer's framing is complete, which HTTP/1.1
    /// clients accept, though a strict TLS client reports an unclean end.
    /// [`wrap_stream_with_close`](Server::wrap_stream_with_close) adds a
    /// hook that says goodbye first.
    ///
    /// Applies to TCP listeners ([`serve`](Server::serve),
    /// [`run`](Server::run)); a server with a hook has no
    /// [`serve_unix`](Server::serve_unix):
    ///
    /// ```compile_fail
    /// use guv::wsgi::{Body, Server};
    /// let listener = guv::net::unix::UnixListener::bind("/tmp/guv-never-bound.sock").unwrap();
    /// Server::new(|_req: http::Request<Body>| http::Response::new(Body::empty()))
    ///     .wrap_stream(Ok)
    ///     .serve_unix(listener);
    /// ```
    ///
    /// A hook that does no TLS, to show the shape: it takes a one-line
    /// preamble the client sends before its requests.
    ///
    /// ```
    /// use std::io::{self, Read, Write};
    /// use guv::wsgi::{Body, Server};
    ///
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .wrap_stream(|mut tcp: guv::net::TcpStream| {
    ///         let mut line = Vec::new();
    ///         let mut byte = [0u8; 1];
    ///         while !line.ends_with(b"\n") {
    ///             tcp.read_exact(&mut byte)?;
    ///             line.push(byte[0]);
    ///         }
    ///         if line != b"HELLO\r\n" {
    ///             return Err(io::Error::new(io::ErrorKind::InvalidData, "no preamble"));
    ///         }
    ///         Ok(tcp)
    ///     });
    /// let bound = server.bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let thread = std::thread::spawn(move || bound.run());
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"HELLO\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).unwrap();
    /// assert!(answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("\r\n\r\nhi"));
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// ```
    pub fn wrap_stream<H, S>(self, wrap: H) -> Server<A, Wrapping>
    where
        H: Fn(TcpStream) -> io::Result<S> + Send + Sync + 'static,
        S: Read + Write + 'static,
    {
        self.wrap_stream_with_close(wrap, |_: &mut S| Ok(()))
    }

    /// [`wrap_stream`](Server::wrap_stream), plus a `close` hook that lets
    /// the stream end its own protocol when the server closes a connection
    /// gracefully: with rustls, a `close_notify`, so that the client sees a
    /// clean end of the session rather than a truncation.
    ///
    /// ```text
    /// Server::new(app).wrap_stream_with_close(
    ///     move |mut tcp| { /* the handshake, as for wrap_stream */ Ok(rustls::StreamOwned::new(tls, tcp)) },
    ///     |tls: &mut rustls::StreamOwned<rustls::ServerConnection, guv::net::TcpStream>| {
    ///         tls.conn.send_close_notify(); // queued; the server flushes it
    ///         Ok(())
    ///     },
    /// )
    /// ```
    ///
    /// `close` runs on the connection's greenlet once every answer owed
    /// has gone out in full and the server is about to close: after an
    /// answer with `Connection: close` (or an HTTP/1.0 one, or one whose
    /// body ends with the close), after an error answer such as a 400,
    /// when the client ended its side between requests, after the
    /// answers still owed when a shutdown began, and when the server
    /// closes a connection that waits for its next request with nothing
    /// of one received: an idle keep-alive connection (or one that has
    /// sent nothing since its handshake) when a shutdown begins, or when
    /// the [`header_timeout`](Server::header_timeout) runs out. The socket
    /// is non-blocking then, so `close` should queue its goodbye rather
    /// than wait: the server then flushes the stream ([`Write::flush`]),
    /// waiting for the client within the
    /// [`send_timeout`](Server::send_timeout) (and, at a shutdown, its
    /// deadline), and only then shuts the socket down. It is not called
    /// when the connection ends otherwise: a write that failed or timed
    /// out, an answer cut short (its client must see the cut, and a
    /// `close_notify` would make a body delimited by the close look
    /// whole), a request head cut by the header timeout or left unread by
    /// a shutdown once part of it had come, a connection killed at the
    /// shutdown deadline, one still in the `wrap` hook, or one the app
    /// took over ([`Upgrade`](crate::wsgi::Upgrade)) — except for a
    /// [`WebSocket`](crate::websocket::WebSocket), which knows when its
    /// protocol is done: once its closing frame has gone out whole, `close`
    /// runs when the handler is done with it, also when the shutdown's
    /// deadline kills the handler (then on the unwinding greenlet, which
    /// must not park: a `close` that parks is cut short at its first park,
    /// and what the socket does not take at once is lost). An error it
    /// returns is logged at `debug` and the connection closes as it would
    /// have.
    ///
    /// A hook without TLS, to show when `close` runs: a line after the
    /// last answer.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use guv::wsgi::{Body, Server};
    ///
    /// let server = Server::new(|_req: http::Request<Body>| http::Response::new(Body::from("hi")))
    ///     .wrap_stream_with_close(Ok, |tcp: &mut guv::net::TcpStream| tcp.write_all(b"\nbye"));
    /// let bound = server.bind("127.0.0.1:0").unwrap();
    /// let (addr, stop) = (bound.local_addr(), bound.shutdown_handle());
    /// let thread = std::thread::spawn(move || bound.run());
    /// let mut client = std::net::TcpStream::connect(addr).unwrap();
    /// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    /// let mut answer = String::new();
    /// client.read_to_string(&mut answer).unwrap();
    /// assert!(answer.ends_with("\r\n\r\nhi\nbye"), "{answer}");
    /// stop.shutdown();
    /// thread.join().unwrap().unwrap();
    /// ```
    pub fn wrap_stream_with_close<H, S, C>(self, wrap: H, close: C) -> Server<A, Wrapping>
    where
        H: Fn(TcpStream) -> io::Result<S> + Send + Sync + 'static,
        S: Read + Write + 'static,
        C: Fn(&mut S) -> io::Result<()> + Send + Sync + 'static,
    {
        let Server { app, cfg, max_connections, workers, shutdown_timeout, control, wrap: _ } = self;
        let close = Arc::new(close);
        let wrap = Wrapping(Arc::new(move |tcp| {
            let stream = wrap(tcp)?;
            Ok(Box::new(Closing { stream, close: close.clone() }) as Box<dyn ReadWrite>)
        }));
        Server { app, cfg, max_connections, workers, shutdown_timeout, control, wrap }
    }
}
