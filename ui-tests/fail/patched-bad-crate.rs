#[guv::patched(crate = guv)]
fn f() {}

fn main() {
    f();
}
