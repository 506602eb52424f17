//! A WebSocket chat: open http://127.0.0.1:8003/ in two browser tabs. The
//! page connects to `/chat`; every message a client sends is broadcast to
//! all of them by the sender's greenlet, while the others wait in
//! `ws.wait()`.
//!
//! Run: `cargo run -p guv-examples --bin websocket_chat`

use std::cell::RefCell;
use std::rc::Rc;

use guv::websocket::{Message, WebSocket, WebSocketWSGI};
use guv::wsgi::http::{Request, Response, header};
use guv::wsgi::{Body, Server};

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>guv chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:2em auto}#log{height:20em;overflow:auto;border:1px solid #ccc;padding:.5em}</style>
<h1>guv chat</h1>
<div id="log"></div>
<form id="f"><input id="msg" autocomplete="off" size="50" autofocus> <button>Send</button></form>
<script>
const log = document.getElementById("log");
const ws = new WebSocket(`ws://${location.host}/chat`);
const show = (text) => { const p = document.createElement("p"); p.textContent = text; log.append(p); log.scrollTop = log.scrollHeight; };
ws.onopen = () => show("(connected)");
ws.onclose = () => show("(disconnected)");
ws.onmessage = (e) => show(e.data);
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  const input = document.getElementById("msg");
  if (input.value) { ws.send(input.value); input.value = ""; }
};
</script>
"#;

thread_local! {
    /// Everyone connected (the server runs on one hub, one thread).
    static ROOM: RefCell<Vec<Rc<WebSocket>>> = const { RefCell::new(Vec::new()) };
}

fn chat(ws: WebSocket) {
    let ws = Rc::new(ws);
    let count = ROOM.with(|room| {
        let mut room = room.borrow_mut();
        room.push(ws.clone());
        room.len()
    });
    broadcast(&Message::text(format!("(someone joined; {count} here)")));
    while let Some(msg) = ws.wait() {
        if let Message::Text(text) = msg {
            broadcast(&Message::text(text.as_str()));
        }
    }
    ROOM.with(|room| room.borrow_mut().retain(|other| !Rc::ptr_eq(other, &ws)));
    broadcast(&Message::text("(someone left)"));
}

fn broadcast(msg: &Message) {
    let everyone: Vec<Rc<WebSocket>> = ROOM.with(|room| room.borrow().clone());
    for ws in everyone {
        // A client that went away is dropped from the room by its own greenlet.
        let _ = ws.send(msg.clone());
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::var("GUV_CHAT_ADDR").unwrap_or_else(|_| "127.0.0.1:8003".into());
    let listener = guv::listen(&addr)?;
    println!("websocket_chat on http://{}/", listener.local_addr()?);
    let sockets = WebSocketWSGI::new(chat);
    Server::new(move |req: Request<Body>| {
        if req.uri().path() == "/chat" {
            return sockets.call(req);
        }
        let mut page = Response::new(Body::from_static(PAGE.as_bytes()));
        page.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
        page
    })
    .serve(listener)
}
