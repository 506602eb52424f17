// Any `Termination` return type works, such as `ExitCode`.
use std::process::ExitCode;

#[guv::main]
fn main() -> ExitCode {
    if guv::spawn(|| true).wait().unwrap() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
