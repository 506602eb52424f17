// A trait method declared without a body has nothing to spawn.
trait Fetch {
    #[guv::green]
    fn fetch(self) -> u8;
}

fn main() {}
