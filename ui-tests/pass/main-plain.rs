#[guv::main]
fn main() {
    let gt = guv::spawn(|| 1 + 1);
    assert_eq!(gt.wait().unwrap(), 2);
}
