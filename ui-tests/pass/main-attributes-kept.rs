// Doc comments and other attributes on main are kept.
/// The entry point.
#[guv::main]
#[allow(unused_variables)]
fn main() {
    let unused = 1;
}
