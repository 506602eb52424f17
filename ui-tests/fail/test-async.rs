#[guv::test]
async fn t() {}

fn main() {}
