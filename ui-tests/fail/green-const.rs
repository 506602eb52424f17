#[guv::green]
const LIMIT: u32 = 10;

fn main() {}
