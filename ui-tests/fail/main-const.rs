// `const fn main` compiles on its own, but #[guv::main] runs code at start.
#[guv::main]
const fn main() {}
