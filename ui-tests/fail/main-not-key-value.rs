#[guv::main(fast)]
fn main() {}
