//! Compile-pass and compile-fail cases for guv's attribute macros.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p guv-ui-tests`
//! and review the diff: each one pins the diagnostic a user sees.
//!
//! `guv::import_patched!` reads files relative to the crate's directory,
//! which for these cases is trybuild's generated project; its compile-pass
//! case therefore lives in tests/tests/macros_import.rs.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*.rs");
}
