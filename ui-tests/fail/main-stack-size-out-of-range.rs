#[guv::main(stack_size = 0)]
fn main() {}
