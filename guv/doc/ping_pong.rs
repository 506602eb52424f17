//! Plain blocking std code, with no mention of guv: the
//! `guv::import_patched!` documentation imports this file patched.

use std::sync::mpsc;
use std::thread;

/// Two threads hand a counter back and forth over channels.
pub fn ping_pong(rounds: u32) -> Vec<String> {
    let (to_pong, from_ping) = mpsc::channel::<u32>();
    let (to_ping, from_pong) = mpsc::channel::<u32>();
    let pong = thread::spawn(move || {
        let mut seen = Vec::new();
        for n in from_ping {
            seen.push(format!("pong {n}"));
            if to_ping.send(n + 1).is_err() {
                break;
            }
        }
        seen
    });
    let mut log = Vec::new();
    let mut n = 0;
    for _ in 0..rounds {
        log.push(format!("ping {n}"));
        to_pong.send(n).unwrap();
        n = from_pong.recv().unwrap();
    }
    drop(to_pong);
    log.extend(pong.join().unwrap());
    log
}
