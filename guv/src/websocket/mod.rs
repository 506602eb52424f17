//! WebSocket on top of [`crate::wsgi`]: Python guv's `WebSocketWSGI`.
//!
//! [`WebSocketWSGI::new`] turns a handler `Fn(WebSocket)` into an app. The
//! handler runs on the connection's greenlet once the upgrade handshake is
//! done; [`WebSocket::wait`] parks until a message arrives, and
//! [`WebSocket::send`] may be called from any greenlet of the same hub —
//! a chat server sends to every other client from the one that received.
//! Framing, masking, fragmentation, ping/pong and the closing handshake are
//! the `tungstenite` crate's; guv only moves bytes and parks.
//!
//! ```no_run
//! use guv::websocket::{Message, WebSocket, WebSocketWSGI};
//!
//! let echo = WebSocketWSGI::new(|ws: WebSocket| {
//!     while let Some(msg) = ws.wait() {
//!         if ws.send(msg).is_err() {
//!             break;
//!         }
//!     }
//! });
//! guv::wsgi::serve(guv::listen("127.0.0.1:8002").unwrap(), move |req| echo.call(req)).unwrap();
//! ```

mod connection;
mod handshake;

/// A WebSocket message (from `tungstenite`).
pub use tungstenite::Message;

pub use connection::WebSocket;
pub use handshake::{DEFAULT_CLOSE_TIMEOUT, WebSocketWSGI};
