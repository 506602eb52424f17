#[guv::test(timeout = 5)]
fn t() {}

#[guv::test(timeout = "5 minutes")]
fn u() {}

fn main() {}
