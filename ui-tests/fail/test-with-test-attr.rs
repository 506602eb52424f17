#[guv::test]
#[test]
fn t() {}

fn main() {}
