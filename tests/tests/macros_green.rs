//! `#[guv::green]`: calls spawn, methods, generics, options, errors.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

type Log = Rc<RefCell<Vec<String>>>;

#[guv::green]
fn step(log: Log, who: &'static str, rounds: u32) -> u32 {
    for i in 0..rounds {
        log.borrow_mut().push(format!("{who}{i}"));
        guv::gyield();
    }
    rounds
}

#[guv::test]
fn calls_return_at_once_and_the_bodies_run_concurrently() {
    let log = Log::default();
    let a = step(log.clone(), "a", 3);
    let b = step(log.clone(), "b", 3);
    assert!(log.borrow().is_empty(), "a call only spawns");
    assert_eq!(a.wait().unwrap() + b.wait().unwrap(), 6);
    assert_eq!(*log.borrow(), ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[guv::green]
fn parse_sum(items: Vec<String>) -> Result<u32, std::num::ParseIntError> {
    let mut sum = 0;
    for s in items {
        sum += s.parse::<u32>()?;
    }
    Ok(sum)
}

#[guv::test]
fn question_marks_in_the_body_return_from_the_greenlet() {
    let ok = parse_sum(vec!["1".into(), "2".into()]);
    let bad = parse_sum(vec!["1".into(), "x".into()]);
    assert_eq!(ok.wait().unwrap(), Ok(3));
    assert!(bad.wait().unwrap().is_err());
}

struct Counter {
    base: u32,
}

impl Counter {
    #[guv::green]
    fn by_value(self, n: u32) -> u32 {
        self.base + n
    }

    #[guv::green]
    fn by_rc(self: Rc<Self>, n: u32) -> u32 {
        self.base * n
    }

    #[guv::green(name = "arc-method")]
    fn by_arc(self: Arc<Self>) -> String {
        format!("{}", self.base)
    }
}

#[guv::test]
fn methods_that_own_their_receiver() {
    assert_eq!(Counter { base: 1 }.by_value(2).wait().unwrap(), 3);
    let rc = Rc::new(Counter { base: 3 });
    assert_eq!(rc.clone().by_rc(4).wait().unwrap(), 12);
    let gt = Arc::new(Counter { base: 5 }).by_arc();
    assert_eq!(gt.name(), Some("arc-method"));
    assert_eq!(gt.wait().unwrap(), "5");
}

struct Wrapper<T>(T);

impl<T: Clone + std::fmt::Debug> Wrapper<T> {
    #[guv::green]
    fn describe(self, extra: impl std::fmt::Display) -> String {
        format!("{:?} {extra}", self.0)
    }
}

#[guv::green]
fn twice<T: Clone>(x: T) -> (T, T) {
    (x.clone(), x)
}

#[guv::test]
fn generics_and_impl_trait_arguments() {
    assert_eq!(twice(String::from("x")).wait().unwrap(), ("x".into(), "x".into()));
    assert_eq!(Wrapper(vec![1]).describe(2.5).wait().unwrap(), "[1] 2.5");
}

#[guv::green(name = "named", stack_size = 65536)]
fn named() -> Option<String> {
    None
}

#[guv::test]
fn options_name_the_greenlet() {
    let gt = named();
    assert_eq!(gt.name(), Some("named"));
    assert_eq!(gt.wait().unwrap(), None);
}

#[guv::green]
fn forever() {
    guv::sleep(Duration::from_secs(3600));
}

#[guv::green]
fn fails() -> u32 {
    panic!("inside a green fn")
}

#[guv::test]
fn the_handle_kills_and_reports_panics() {
    guv::debug::hub_exceptions(false);
    let gt = forever();
    guv::gyield();
    gt.kill();
    assert!(gt.wait().unwrap_err().is_killed());
    assert_eq!(fails().wait().unwrap_err().panic_message(), Some("inside a green fn"));
}

#[guv::green]
fn patched_flags() -> [bool; 2] {
    [guv::is_patched!(thread), guv::is_patched!(sync)]
}

#[guv::test]
fn the_body_is_patched() {
    assert_eq!(patched_flags().wait().unwrap(), [true, true]);
}
