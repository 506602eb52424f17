#[guv::main(stack_size = 65536, stack_size = 131072)]
fn main() {}
