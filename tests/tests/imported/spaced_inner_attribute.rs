#! [allow(dead_code)] pub fn one() -> &'static str { std::any::type_name_of_val(&std::thread::spawn::<fn(), ()>) }

fn unused() {}
