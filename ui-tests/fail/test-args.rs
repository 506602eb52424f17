#[guv::test]
fn t(port: u16) {
    let _ = port;
}

fn main() {}
