//! A pool of worker threads fed through `std::sync::mpsc` (the pattern of
//! the Rust book's thread pool: one job channel behind a `Mutex`, one
//! result channel) — plain std code that runs as greenlets on one OS
//! thread because of a single added line: `#[guv::patched]` on the module.
//! Delete that line and the workers are OS threads again.

#[guv::patched]
pub mod workers {
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::thread;
    use std::time::Duration;

    /// One finished job: which worker did it, the job, its result.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Done {
        pub worker: usize,
        pub job_ms: u64,
        pub result: u64,
    }

    /// Runs each job (a duration in milliseconds to "work", by sleeping) on
    /// `workers` threads; returns the results in the order they finished.
    pub fn run(workers: usize, jobs: &[u64]) -> Vec<Done> {
        let (job_tx, job_rx) = mpsc::channel::<u64>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel();
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let job_rx = job_rx.clone();
                let done_tx = done_tx.clone();
                thread::spawn(move || {
                    loop {
                        let job = job_rx.lock().unwrap().recv();
                        let Ok(job_ms) = job else { break };
                        thread::sleep(Duration::from_millis(job_ms));
                        let done = Done { worker, job_ms, result: job_ms * job_ms };
                        if done_tx.send(done).is_err() {
                            break;
                        }
                    }
                })
            })
            .collect();
        drop(done_tx);
        for &job in jobs {
            job_tx.send(job).unwrap();
        }
        drop(job_tx);
        let finished: Vec<Done> = done_rx.iter().collect();
        for h in handles {
            h.join().unwrap();
        }
        finished
    }
}

fn main() {
    let started = std::time::Instant::now();
    for done in workers::run(4, &[400, 100, 300, 200]) {
        println!("worker {} finished a {} ms job: {}", done.worker, done.job_ms, done.result);
    }
    // The four jobs ran at the same time: about 400 ms, not 1000.
    println!("all done in {:?}", started.elapsed());
}
