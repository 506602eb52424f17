#[guv::main(stack_size = 65536, crate = "::guv")]
fn main() {
    assert_eq!(guv::hub::stack_size(), 65536);
}
