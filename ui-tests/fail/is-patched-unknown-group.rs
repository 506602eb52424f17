#[guv::patched]
fn f() -> bool {
    guv::is_patched!(socket)
}

fn main() {
    let _ = f();
    let _ = guv::is_patched!(thread, time);
}
