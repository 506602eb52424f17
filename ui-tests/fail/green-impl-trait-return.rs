#[guv::green]
fn make() -> impl std::fmt::Display {
    1
}

fn main() {}
