#[guv::green]
struct Worker {
    id: u32,
}

fn main() {}
