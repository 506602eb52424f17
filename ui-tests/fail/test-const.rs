// A const test fn: the body runs on a greenlet, never at compile time.
#[guv::test]
const fn answer() {
    let _ = 6 * 7;
}

fn main() {}
