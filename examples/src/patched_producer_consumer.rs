//! A bounded buffer built from `std::sync::Mutex` and `std::sync::Condvar`,
//! with producer and consumer threads — plain std code that runs as
//! greenlets on one OS thread because of a single added line:
//! `#[guv::patched]` on the module. Delete that line and the same code
//! uses OS threads and std's locks.

#[guv::patched]
pub mod bounded {
    use std::collections::VecDeque;
    use std::sync::{Arc, Condvar, Mutex};
    use std::thread;

    /// A fixed-capacity FIFO: `put` waits while it is full, `take` while
    /// it is empty.
    pub struct Buffer<T> {
        items: Mutex<VecDeque<T>>,
        not_empty: Condvar,
        not_full: Condvar,
        capacity: usize,
    }

    impl<T> Buffer<T> {
        pub fn new(capacity: usize) -> Buffer<T> {
            Buffer { items: Mutex::new(VecDeque::new()), not_empty: Condvar::new(), not_full: Condvar::new(), capacity }
        }

        pub fn put(&self, item: T) {
            let mut items = self.items.lock().unwrap();
            while items.len() == self.capacity {
                items = self.not_full.wait(items).unwrap();
            }
            items.push_back(item);
            self.not_empty.notify_one();
        }

        pub fn take(&self) -> T {
            let mut items = self.items.lock().unwrap();
            loop {
                if let Some(item) = items.pop_front() {
                    self.not_full.notify_one();
                    return item;
                }
                items = self.not_empty.wait(items).unwrap();
            }
        }
    }

    /// `producers` threads put `per_producer` items each into a buffer of
    /// `capacity`; one consumer thread takes them all. Returns the items
    /// in the order they were consumed: `(producer, sequence number)`.
    pub fn run(producers: usize, per_producer: usize, capacity: usize) -> Vec<(usize, usize)> {
        let buffer = Arc::new(Buffer::new(capacity));
        let consumer = {
            let buffer = buffer.clone();
            thread::spawn(move || (0..producers * per_producer).map(|_| buffer.take()).collect::<Vec<_>>())
        };
        let workers: Vec<_> = (0..producers)
            .map(|p| {
                let buffer = buffer.clone();
                thread::spawn(move || {
                    for i in 0..per_producer {
                        buffer.put((p, i));
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        consumer.join().unwrap()
    }
}

fn main() {
    let consumed = bounded::run(3, 4, 2);
    for (producer, seq) in &consumed {
        println!("consumed item {seq} of producer {producer}");
    }
}
