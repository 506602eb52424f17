// Chosen groups, `is_patched!` and `original!`.
#[guv::patched(net, time)]
fn which() -> [bool; 7] {
    [
        guv::is_patched!(net),
        guv::is_patched!(thread),
        guv::is_patched!(time),
        guv::is_patched!(sync),
        guv::is_patched!(io),
        guv::is_patched!(process),
        guv::is_patched!(fs),
    ]
}

#[guv::patched]
fn originals() {
    // Called, and as a type with generic arguments.
    guv::original!(std::thread::sleep)(std::time::Duration::from_millis(1));
    let m: guv::original!(::std::sync::Mutex<u8>) = guv::original!(std::sync::Mutex::new)(3);
    assert_eq!(*m.lock().unwrap(), 3);
}

fn main() {
    assert_eq!(which(), [true, false, true, false, false, false, false]);
    assert!(!guv::is_patched!(net));
    originals();
}
