//! Review 20: randomized conservation checks of the hub-local primitives.
//! Many greenlets put, get, acquire and spawn through every variant of the
//! API (blocking, with a deadline, without waiting, under a `Timeout`),
//! while the test kills them at random points and resizes what can be
//! resized. Whatever the schedule, nothing may be lost or duplicated: an
//! item whose `put` returned is received exactly once, a permit taken is
//! given back exactly once, a pool slot is freed exactly once. Seeded, so a
//! failure names the seed that reproduces it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use guv::queue::{LifoQueue, LightQueue, PriorityQueue, Queue};
use guv::{GreenPool, GreenThread, Semaphore};
use guv_tests::XorShift;

/// What happened to the items of one run.
#[derive(Default, Debug)]
struct Registry {
    /// Items whose `put` returned `Ok` (or unit).
    put_ok: BTreeSet<u32>,
    /// Items a getter received.
    got: Vec<u32>,
    /// Items handed back to their putter (`Full`).
    returned: BTreeSet<u32>,
    /// Items dropped, by anyone.
    dropped: BTreeSet<u32>,
}

#[derive(Debug)]
struct Item {
    id: u32,
    reg: Rc<RefCell<Registry>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        let fresh = self.reg.borrow_mut().dropped.insert(self.id);
        assert!(fresh, "item {} dropped twice", self.id);
    }
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.id % 7).cmp(&(other.id % 7))
    }
}

/// The queue operations every queue type has, for one generic driver.
trait AnyQueue: Clone + 'static {
    fn make(maxsize: Option<usize>) -> Self;
    fn put(&self, item: Item);
    fn put_timeout(&self, item: Item, d: Duration) -> Result<(), Item>;
    fn try_put(&self, item: Item) -> Result<(), Item>;
    fn get(&self) -> Item;
    fn get_timeout(&self, d: Duration) -> Option<Item>;
    fn try_get(&self) -> Option<Item>;
    fn resize(&self, maxsize: Option<usize>);
    fn getting(&self) -> usize;
    fn putting(&self) -> usize;
    /// Unfinished tasks, for the queues that count them.
    fn unfinished(&self) -> Option<usize>;
}

macro_rules! any_queue {
    ($q:ident, $unfinished:expr) => {
        impl AnyQueue for $q<Item> {
            fn make(maxsize: Option<usize>) -> Self {
                $q::new(maxsize)
            }
            fn put(&self, item: Item) {
                $q::put(self, item)
            }
            fn put_timeout(&self, item: Item, d: Duration) -> Result<(), Item> {
                $q::put_timeout(self, item, d).map_err(|f| f.0)
            }
            fn try_put(&self, item: Item) -> Result<(), Item> {
                $q::try_put(self, item).map_err(|f| f.0)
            }
            fn get(&self) -> Item {
                $q::get(self)
            }
            fn get_timeout(&self, d: Duration) -> Option<Item> {
                $q::get_timeout(self, d).ok()
            }
            fn try_get(&self) -> Option<Item> {
                $q::try_get(self).ok()
            }
            fn resize(&self, maxsize: Option<usize>) {
                $q::resize(self, maxsize)
            }
            fn getting(&self) -> usize {
                $q::getting(self)
            }
            fn putting(&self) -> usize {
                $q::putting(self)
            }
            fn unfinished(&self) -> Option<usize> {
                let f: fn(&Self) -> Option<usize> = $unfinished;
                f(self)
            }
        }
    };
}

any_queue!(Queue, |q| Some(q.unfinished_tasks()));
any_queue!(LightQueue, |_| None);
any_queue!(PriorityQueue, |q| Some(q.unfinished_tasks()));
any_queue!(LifoQueue, |q| Some(q.unfinished_tasks()));

fn maxsize_of(rng: &mut XorShift) -> Option<usize> {
    match rng.below(5) {
        0 => None,
        n => Some(n - 1), // 0 (a channel) to 3
    }
}

fn short(rng: &mut XorShift) -> Duration {
    Duration::from_micros(rng.below(300) as u64)
}

/// Lets the others run, or not, or lets timers expire without the loop
/// seeing them (a busy wait), so that they fire while greenlets that were
/// just served are still queued to run.
fn pause(rng: &mut XorShift) {
    match rng.below(4) {
        0 => guv::gyield(),
        1 => guv::sleep(short(rng)),
        2 => {
            let until = std::time::Instant::now() + short(rng);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        _ => {}
    }
}

fn run_queue<Q: AnyQueue>(seed: u64) {
    let mut rng = XorShift(seed);
    let reg = Rc::new(RefCell::new(Registry::default()));
    let q = Q::make(maxsize_of(&mut rng));
    let mut actors: Vec<GreenThread<()>> = Vec::new();
    let mut next_id = 0u32;
    for _step in 0..60 {
        match rng.below(10) {
            0..=3 => {
                let id = next_id;
                next_id += 1;
                let item = Item { id, reg: reg.clone() };
                let (q, reg2) = (q.clone(), reg.clone());
                let how = rng.below(5);
                let d = short(&mut rng);
                actors.push(guv::spawn(move || match how {
                    0 => {
                        q.put(item);
                        reg2.borrow_mut().put_ok.insert(id);
                    }
                    1 => match q.put_timeout(item, d) {
                        Ok(()) => drop(reg2.borrow_mut().put_ok.insert(id)),
                        Err(back) => {
                            reg2.borrow_mut().returned.insert(back.id);
                        }
                    },
                    2 => match q.try_put(item) {
                        Ok(()) => drop(reg2.borrow_mut().put_ok.insert(id)),
                        Err(back) => {
                            reg2.borrow_mut().returned.insert(back.id);
                        }
                    },
                    _ => {
                        if guv::with_timeout(d, || q.put(item)).is_ok() {
                            reg2.borrow_mut().put_ok.insert(id);
                        }
                    }
                }));
            }
            4..=6 => {
                let (q, reg2) = (q.clone(), reg.clone());
                let how = rng.below(4);
                let d = short(&mut rng);
                actors.push(guv::spawn(move || {
                    let got = match how {
                        0 => Some(q.get()),
                        1 => q.get_timeout(d),
                        2 => q.try_get(),
                        _ => guv::with_timeout(d, || q.get()).ok(),
                    };
                    if let Some(item) = got {
                        reg2.borrow_mut().got.push(item.id);
                    }
                }));
            }
            7 if !actors.is_empty() => {
                let victim = actors.swap_remove(rng.below(actors.len()));
                victim.kill();
                drop(victim.wait());
            }
            8 => q.resize(maxsize_of(&mut rng)),
            _ => pause(&mut rng),
        }
    }
    // Let the actors that can finish do so, then kill the rest.
    guv::sleep(Duration::from_millis(1));
    for a in actors.drain(..) {
        a.kill();
        drop(a.wait());
    }
    assert_eq!((q.getting(), q.putting()), (0, 0), "seed {seed}: waiters left behind");
    q.resize(None);
    while let Some(item) = q.try_get() {
        reg.borrow_mut().got.push(item.id);
    }
    let reg = reg.borrow();
    let got: BTreeSet<u32> = reg.got.iter().copied().collect();
    assert_eq!(got.len(), reg.got.len(), "seed {seed}: an item was received twice: {:?}", reg.got);
    let lost: Vec<u32> = reg.put_ok.difference(&got).copied().collect();
    assert!(lost.is_empty(), "seed {seed}: items put and never received: {lost:?}");
    // Dropped without being received or returned: only items of putters that
    // were killed or timed out before the item was taken.
    for id in reg.dropped.iter().filter(|id| !got.contains(id) && !reg.returned.contains(id)) {
        assert!(!reg.put_ok.contains(id), "seed {seed}: item {id} was put, then dropped unreceived");
    }
    assert!(got.is_disjoint(&reg.returned), "seed {seed}: an item both received and handed back");
    if let Some(unfinished) = q.unfinished() {
        assert_eq!(unfinished, got.len(), "seed {seed}: the unfinished-task count drifted");
    }
}

#[test]
fn queues_lose_and_duplicate_no_item_under_random_kills_and_timeouts() {
    for seed in 1..=150u64 {
        let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        run_queue::<Queue<Item>>(seed);
        run_queue::<LightQueue<Item>>(seed);
        run_queue::<PriorityQueue<Item>>(seed);
        run_queue::<LifoQueue<Item>>(seed);
    }
}

/// Counts a holder out when dropped (also by a kill).
struct Leave(Rc<Cell<usize>>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

fn run_semaphore(seed: u64) {
    let mut rng = XorShift(seed);
    let permits = 1 + rng.below(3);
    let sem = Semaphore::new(permits);
    let held = Rc::new(Cell::new(0usize));
    let mut actors: Vec<GreenThread<()>> = Vec::new();
    for _ in 0..60 {
        match rng.below(8) {
            0..=3 => {
                let (sem, held) = (sem.clone(), held.clone());
                let how = rng.below(5);
                let d = short(&mut rng);
                let hold = rng.below(3);
                actors.push(guv::spawn(move || {
                    let got = match how {
                        0 => {
                            sem.acquire();
                            true
                        }
                        1 => sem.acquire_timeout(d),
                        2 => sem.try_acquire(),
                        3 => guv::with_timeout(d, || sem.acquire()).is_ok(),
                        _ => {
                            let _permit = sem.guard();
                            held.set(held.get() + 1);
                            assert!(held.get() <= permits, "more holders than permits");
                            let _leave = Leave(held.clone());
                            for _ in 0..hold {
                                guv::gyield();
                            }
                            return;
                        }
                    };
                    if got {
                        // A plain acquire is released by hand: a guard makes
                        // a kill while holding harmless.
                        struct Release(Semaphore, Rc<Cell<usize>>);
                        impl Drop for Release {
                            fn drop(&mut self) {
                                self.1.set(self.1.get() - 1);
                                self.0.release();
                            }
                        }
                        held.set(held.get() + 1);
                        assert!(held.get() <= permits, "more holders than permits");
                        let _release = Release(sem.clone(), held.clone());
                        for _ in 0..hold {
                            guv::gyield();
                        }
                    }
                }));
            }
            4 | 5 if !actors.is_empty() => {
                let victim = actors.swap_remove(rng.below(actors.len()));
                victim.kill();
                drop(victim.wait());
            }
            _ => pause(&mut rng),
        }
    }
    guv::sleep(Duration::from_millis(1));
    for a in actors.drain(..) {
        a.kill();
        if let Err(guv::Error::Panicked(p)) = a.wait() {
            panic!("seed {seed}: {}", guv_tests::panic_message(p));
        }
    }
    assert_eq!(held.get(), 0);
    assert_eq!((sem.count(), sem.balance()), (permits, permits as isize), "seed {seed}: permits lost or made");
}

#[test]
fn a_semaphore_loses_and_makes_no_permit_under_random_kills_and_timeouts() {
    for seed in 1..=300u64 {
        run_semaphore(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    }
}

fn run_pool(seed: u64) {
    let mut rng = XorShift(seed);
    let size = 1 + rng.below(3);
    let pool = GreenPool::new(size);
    let inside = Rc::new(Cell::new(0usize));
    let mut actors: Vec<GreenThread<()>> = Vec::new();
    let mut jobs: Vec<GreenThread<()>> = Vec::new();
    let jobs_out: Rc<RefCell<Vec<GreenThread<()>>>> = Rc::default();
    for _ in 0..60 {
        match rng.below(9) {
            0..=3 => {
                let (pool, inside, out) = (pool.clone(), inside.clone(), jobs_out.clone());
                let hold = rng.below(3);
                let n = rng.below(2);
                actors.push(guv::spawn(move || {
                    let job = move || {
                        inside.set(inside.get() + 1);
                        let _leave = Leave(inside.clone());
                        for _ in 0..hold {
                            guv::gyield();
                        }
                    };
                    if n == 0 {
                        let gt = pool.spawn(job);
                        out.borrow_mut().push(gt);
                    } else {
                        pool.spawn_n(job);
                    }
                }));
            }
            4 | 5 if !actors.is_empty() => {
                let victim = actors.swap_remove(rng.below(actors.len()));
                victim.kill();
                drop(victim.wait());
            }
            6 => {
                jobs.extend(jobs_out.borrow_mut().drain(..));
                if !jobs.is_empty() {
                    let victim = jobs.swap_remove(rng.below(jobs.len()));
                    victim.kill();
                    drop(victim.wait());
                }
            }
            _ => pause(&mut rng),
        }
        assert!(inside.get() <= size, "seed {seed}: {} jobs inside a pool of {size}", inside.get());
    }
    for a in actors.drain(..) {
        a.kill();
        drop(a.wait());
    }
    pool.waitall().unwrap();
    assert_eq!(inside.get(), 0);
    assert_eq!((pool.running(), pool.waiting(), pool.free()), (0, 0, size as isize), "seed {seed}: slots lost");
}

#[test]
fn a_pool_loses_no_slot_under_random_kills() {
    for seed in 1..=300u64 {
        run_pool(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    }
}
