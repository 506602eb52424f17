#[guv::main]
async fn main() {}
