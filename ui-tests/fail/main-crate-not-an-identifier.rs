// A `crate` path segment that is not a Rust identifier is an error at the
// string, not a macro panic.
#[guv::main(crate = "my::ⓐ")]
fn main() {}
