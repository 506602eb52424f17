// The patching walk decides `guv::is_patched!` / `guv::original!` where
// they are written, before a `macro_rules!` declared in the item expands:
// a macro variable as the argument is an error that says so.
#[guv::patched]
mod m {
    macro_rules! patched_for {
        ($g:ident) => {
            guv::is_patched!($g)
        };
    }

    macro_rules! std_one {
        ($p:path) => {
            guv::original!($p)
        };
    }

    pub fn f() -> bool {
        let _ = std_one!(std::thread::sleep);
        patched_for!(net)
    }
}

fn main() {
    m::f();
}
