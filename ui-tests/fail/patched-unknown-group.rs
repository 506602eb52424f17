#[guv::patched(net, socket)]
fn f() {}

fn main() {
    f();
}
