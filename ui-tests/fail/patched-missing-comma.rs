// A missing comma is pointed at where it is missing: after a group, or
// after the `crate` value (not at the valid group or string before it).
#[guv::patched(net thread)]
fn f() {}

#[guv::patched(crate = "guv" sync)]
fn g() {}

fn main() {
    f();
    g();
}
