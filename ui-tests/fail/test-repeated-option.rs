#[guv::test(allow_leaks, timeout = "1s", allow_leaks)]
fn t() {}

fn main() {}
