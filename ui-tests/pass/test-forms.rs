// #[guv::test] forms: plain, options, a Result with `?`, attributes kept.
// (Outside `cargo test` the test functions are compiled out; their runs
// are checked in tests/tests/macros_test.rs.)
#[guv::test]
fn plain() {
    assert!(guv::is_patched!(net));
}

#[guv::test(timeout = "5s", stack_size = 65536, allow_leaks)]
fn with_options() {
    guv::spawn_n(|| guv::sleep(std::time::Duration::from_secs(60)));
}

#[guv::test(allow_leaks = false, timeout = "1.5s")]
fn with_result() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "7".parse()?;
    assert_eq!(n, 7);
    Ok(())
}

#[guv::test]
#[should_panic(expected = "boom")]
fn with_should_panic() {
    panic!("boom");
}

fn main() {}
