#[guv::green(stack = 65536)]
fn f() {}

fn main() {}
