// An empty entry in the group list is pointed at, not a macro panic.
#[guv::patched(net,, sync)]
fn f() {}

fn main() {
    f();
}
