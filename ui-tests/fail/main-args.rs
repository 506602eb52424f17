#[guv::main]
fn main(port: u16) {
    let _ = port;
}
