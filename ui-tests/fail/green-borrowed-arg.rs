#[guv::green]
fn count(text: &str) -> usize {
    text.len()
}

fn main() {}
