//! A WebSocket chat room for the soak server and the soak test: every data
//! message one member sends goes to every member of the room on this hub,
//! the sender too.

use std::cell::RefCell;
use std::rc::Rc;

use guv::websocket::WebSocket;

thread_local! {
    /// The WebSockets open on this hub.
    static ROOM: RefCell<Vec<Rc<WebSocket>>> = const { RefCell::new(Vec::new()) };
}

/// The handler: joins the room, relays text and binary messages to every
/// member until the connection closes, then leaves.
pub fn chat(ws: WebSocket) {
    let ws = Rc::new(ws);
    ROOM.with(|room| room.borrow_mut().push(ws.clone()));
    while let Some(msg) = ws.wait() {
        if !(msg.is_text() || msg.is_binary()) {
            continue;
        }
        let everyone: Vec<Rc<WebSocket>> = ROOM.with(|room| room.borrow().clone());
        for other in everyone {
            // One that went away leaves the room from its own greenlet.
            let _ = other.send(msg.clone());
        }
    }
    ROOM.with(|room| room.borrow_mut().retain(|other| !Rc::ptr_eq(other, &ws)));
}

/// How many members the room on this hub has.
pub fn members() -> usize {
    ROOM.with(|room| room.borrow().len())
}
