// Every form of `use` in a patched module: plain, renamed, glob, grouped
// (with `self`), `::std::` with leading colons, `as _`, inside a fn body.
#[guv::patched]
mod m {
    #![allow(unused_imports)]
    use ::std::sync::Mutex as Lock;
    use std::io::{self, BufRead as _, Read};
    use std::net::*;
    use std::sync::mpsc;
    use std::{
        collections::HashMap,
        sync::{Arc, Condvar, atomic::AtomicUsize},
        thread::{self as th, JoinHandle},
        time::Duration,
    };

    pub fn run() -> io::Result<usize> {
        use std::sync::mpsc::{Receiver, Sender, channel};
        let (tx, rx): (Sender<u8>, Receiver<u8>) = channel();
        let (tx2, rx2) = mpsc::channel::<u8>();
        let shared = Arc::new((Lock::new(HashMap::new()), Condvar::new()));
        let counter = AtomicUsize::new(0);
        let h: JoinHandle<()> = th::spawn(move || {
            tx.send(1).unwrap();
            tx2.send(2).unwrap();
        });
        h.join().unwrap();
        shared.0.lock().unwrap().insert(rx.recv().unwrap(), rx2.recv().unwrap());
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let _ = Duration::from_millis(1);
        let mut empty = io::empty();
        let mut s = String::new();
        empty.read_to_string(&mut s)?;
        Ok(shared.0.lock().unwrap().len() + l.local_addr()?.port().min(1) as usize)
    }
}

fn main() {
    assert_eq!(m::run().unwrap(), 2);
}
