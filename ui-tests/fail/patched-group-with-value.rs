#[guv::patched(net = true)]
fn f() {}

fn main() {
    f();
}
