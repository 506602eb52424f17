//! `#[guv::test]`: a fresh hub per test, options, and the ways a test
//! fails instead of passing or hanging. The failing cases are themselves
//! tests that expect the failure (`#[should_panic(expected = ...)]`).

use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

#[guv::test]
fn each_test_gets_a_fresh_hub() {
    // Greenlet ids count from 1 on each hub: nothing ran here before.
    assert_eq!(guv::spawn(|| ()).id(), 1);
    assert_eq!(guv::hub::stats().live_greenlets, 1);
    guv::gyield();
    assert_eq!(guv::hub::stats().live_greenlets, 0);
}

#[guv::test]
fn another_test_gets_another_fresh_hub() {
    assert_eq!(guv::spawn(|| ()).id(), 1);
    guv::gyield();
}

#[guv::test]
fn the_body_runs_on_a_thread_named_after_the_test() {
    let os_thread = guv::original!(std::thread::current)();
    assert_eq!(os_thread.name(), Some("the_body_runs_on_a_thread_named_after_the_test"));
}

#[guv::test]
fn the_body_is_patched() {
    let groups = [guv::is_patched!(net), guv::is_patched!(sync), guv::is_patched!(fs)];
    assert_eq!(groups, [true; 3]);
}

#[guv::test(stack_size = 65536)]
fn stack_size_sets_the_hubs_default() {
    assert_eq!(guv::hub::stack_size(), 65536);
}

#[guv::test]
fn a_result_with_question_marks() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "41".parse()?;
    assert_eq!(guv::spawn(move || n + 1).wait()?, 42);
    Ok(())
}

#[guv::test]
#[should_panic(expected = "Error: \"no such thing\"")]
fn an_err_result_fails_the_test() -> Result<(), String> {
    Err("no such thing".into())
}

#[guv::test]
#[should_panic(expected = "the body's own message")]
fn a_panic_keeps_its_payload_for_should_panic() {
    panic!("the body's own message");
}

#[guv::test(timeout = "300ms")]
#[should_panic(expected = "timed out: still running after timeout = \"300ms\"")]
fn a_test_that_overruns_fails_instead_of_hanging() {
    guv::sleep(HOUR);
}

#[guv::test(timeout = "300ms")]
#[should_panic(expected = "timed out")]
fn a_timeout_catches_a_thread_blocked_outside_guv() {
    // Not a green sleep: the whole thread blocks, and the test still ends.
    guv::original!(std::thread::sleep)(HOUR);
}

#[guv::test(timeout = "10s")]
fn a_test_within_its_timeout_passes() {
    guv::sleep(Duration::from_millis(1));
}

#[guv::test]
#[should_panic(expected = "1 greenlet(s) still alive at the end of the test: 'forever' (#1)")]
fn a_greenlet_left_alive_fails_the_test_by_name() {
    guv::Builder::new().name("forever").spawn_n(|| guv::sleep(HOUR)).unwrap();
    guv::gyield();
}

#[guv::test]
#[should_panic(expected = "#2")]
fn unnamed_leaked_greenlets_are_listed_by_id() {
    let done = guv::spawn(|| ());
    let _alive = guv::spawn(|| guv::sleep(HOUR));
    done.wait().unwrap();
}

#[guv::test(allow_leaks)]
fn allow_leaks_lets_greenlets_outlive_the_test() {
    guv::spawn_n(|| guv::sleep(HOUR));
    guv::gyield();
}

#[guv::test]
fn greenlets_that_ended_or_were_killed_are_not_leaks() {
    let sleeper = guv::spawn(|| guv::sleep(HOUR));
    let quick = guv::spawn(|| 1);
    guv::gyield();
    sleeper.kill();
    assert_eq!(quick.wait().unwrap(), 1);
}

#[guv::test]
#[should_panic(expected = "greenlet 'doomed' (#1) panicked and nothing waited for it: boom")]
fn a_greenlet_panic_nobody_waited_for_fails_the_test() {
    guv::debug::hub_exceptions(false);
    guv::Builder::new().name("doomed").spawn_n(|| panic!("boom")).unwrap();
    guv::gyield();
}

#[guv::test]
fn a_greenlet_panic_taken_by_wait_is_the_tests_business() {
    guv::debug::hub_exceptions(false);
    let gt = guv::spawn(|| -> u32 { panic!("expected") });
    assert_eq!(gt.wait().unwrap_err().panic_message(), Some("expected"));
}
