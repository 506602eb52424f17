//! guv::block_on and the async traits of green sockets.

use std::task::Poll;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use guv_tests::Log;

#[test]
fn block_on_parks_and_other_greenlets_run() {
    let log = Log::new();
    let l2 = log.clone();
    let (tx, rx) = std::sync::mpsc::channel::<u32>();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel::<()>();
    guv::spawn_n(move || {
        l2.push("greenlet ran");
        tx.send(11).unwrap();
        sent_tx.send(()).unwrap();
    });
    let mut sent_rx = Some(sent_rx);
    let v = guv::block_on(std::future::poll_fn(|cx| match rx.try_recv() {
        Ok(v) => Poll::Ready(v),
        Err(_) => {
            if let Some(sent_rx) = sent_rx.take() {
                let w = cx.waker().clone();
                // Wake from another thread once the greenlet has sent the
                // value (a wake before that would find nothing, and no
                // second wake would come).
                std::thread::spawn(move || {
                    let _ = sent_rx.recv_timeout(Duration::from_secs(30));
                    w.wake();
                });
            }
            Poll::Pending
        }
    }));
    log.push("future done");
    assert_eq!(v, 11);
    assert_eq!(log.take(), ["greenlet ran", "future done"]);
}

#[test]
fn async_tcp_echo_on_the_hub() {
    let l = guv::listen("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // A blocking-style server and an async client on the same hub.
    let server = guv::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut buf = vec![0; 100_000];
        std::io::Read::read_exact(&mut c, &mut buf).unwrap();
        std::io::Write::write_all(&mut c, &buf).unwrap();
    });
    let mut s = guv::connect(addr).unwrap();
    let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let back = guv::block_on(async {
        AsyncWriteExt::write_all(&mut s, &data).await.unwrap();
        let mut back = vec![0; data.len()];
        AsyncReadExt::read_exact(&mut s, &mut back).await.unwrap();
        s.close().await.unwrap();
        back
    });
    assert!(back == data);
    server.wait().unwrap();
}

#[test]
fn a_killed_block_on_drops_its_future() {
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    let d2 = dropped.clone();
    let gt = guv::spawn(move || {
        let flag = Flag(d2);
        guv::block_on(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        })
    });
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert!(dropped.get());
}
