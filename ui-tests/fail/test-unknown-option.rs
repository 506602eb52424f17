#[guv::test(leaks_ok)]
fn t() {}

fn main() {}
