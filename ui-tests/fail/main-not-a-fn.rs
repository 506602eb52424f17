// On anything but a fn, the error names the attribute that wants one.
#[guv::main]
struct S;

#[guv::test]
const T: u8 = 0;

fn main() {}
