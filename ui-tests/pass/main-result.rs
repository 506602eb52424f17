// `?` in the body of a main that returns a Result.
#[guv::main]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "42".parse()?;
    assert_eq!(guv::spawn(move || n).wait()?, 42);
    Ok(())
}
