// Beyond fns: structs, type aliases, single `use` declarations and statics.
#[guv::patched]
type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

#[guv::patched]
struct Worker {
    handle: Option<std::thread::JoinHandle<u32>>,
    state: Shared<u32>,
}

#[guv::patched(net)]
#[allow(unused_imports)]
use std::net::{TcpListener, TcpStream};

fn main() {
    let state: Shared<u32> = Default::default();
    let s2 = state.clone();
    #[guv::patched]
    fn spawn(s: Shared<u32>) -> std::thread::JoinHandle<u32> {
        std::thread::spawn(move || {
            *s.lock().unwrap() += 1;
            7
        })
    }
    let mut w = Worker { handle: Some(spawn(s2)), state };
    assert_eq!(w.handle.take().unwrap().join().unwrap(), 7);
    assert_eq!(*w.state.lock().unwrap(), 1);
    let _ = TcpListener::bind("127.0.0.1:0").unwrap();
}
