// `impl Termination` is refused by name: the body runs in a closure, whose
// return type cannot be `impl Trait`.
#[guv::test]
fn t() -> impl std::process::Termination {}

fn main() {}
