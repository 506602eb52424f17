#[guv::main]
fn main<T>() {}
