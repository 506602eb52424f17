//! Compile-pass and compile-fail cases for guv's attribute macros.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p guv-ui-tests`
//! and review the diff: each one pins the diagnostic a user sees.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
