#[guv::green]
static NAME: &str = "x";

fn main() {}
