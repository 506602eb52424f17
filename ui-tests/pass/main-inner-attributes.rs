// Inner attributes at the top of the body apply to the whole fn.
#[guv::main]
fn main() {
    #![deny(unused_variables)]
    #![allow(unused_mut)]
    let mut n = 1;
    assert_eq!(std::thread::spawn(move || n + 1).join().unwrap(), 2);
}
