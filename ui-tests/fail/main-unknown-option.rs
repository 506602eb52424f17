#[guv::main(stacksize = 65536)]
fn main() {}
