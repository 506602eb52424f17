#[guv::patched(net, thread, net)]
fn f() {}

fn main() {
    f();
}
