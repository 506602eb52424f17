#[guv::main(stack_size = "64k")]
fn main() {}
