// `-> impl Termination` works as it does on a plain `fn main`.
use std::process::{ExitCode, Termination};

#[guv::main]
fn main() -> impl Termination {
    let ok = guv::spawn(|| true).wait().unwrap();
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
