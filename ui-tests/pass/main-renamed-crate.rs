// `crate = "..."` names guv when it is reachable under another path.
use guv as green;

#[green::main(crate = "green")]
fn main() {
    green::sleep(std::time::Duration::from_millis(1));
}
