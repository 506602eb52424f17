// A patched item inside another: the groups add up.
#[guv::patched(net)]
mod outer {
    pub fn outer_groups() -> (bool, bool) {
        (guv::is_patched!(net), guv::is_patched!(sync))
    }

    #[guv::patched(sync)]
    pub fn inner_groups() -> (bool, bool) {
        (guv::is_patched!(net), guv::is_patched!(sync))
    }
}

fn main() {
    assert_eq!(outer::outer_groups(), (true, false));
    assert_eq!(outer::inner_groups(), (true, true));
}
