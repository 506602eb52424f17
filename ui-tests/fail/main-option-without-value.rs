#[guv::main(stack_size)]
fn main() {}
