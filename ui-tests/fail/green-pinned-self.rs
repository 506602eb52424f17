// A borrow inside the receiver's type cannot outlive the call either; the
// error points at it (it used to be rustc's "borrowed data escapes" at the
// attribute).
use std::pin::Pin;

struct S(u8);

impl S {
    #[guv::green]
    fn get(self: Pin<&mut Self>) -> u8 {
        self.0
    }
}

fn main() {}
