#[guv::green]
unsafe fn reset(addr: usize) -> usize {
    addr
}

fn main() {}
