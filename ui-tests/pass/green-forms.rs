// #[guv::green] on fns and methods: owned receivers, generics, impl Trait
// arguments, `?` in a Result-returning body, options.
use std::rc::Rc;
use std::sync::Arc;

#[guv::green]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[guv::green(name = "parser", stack_size = 65536)]
fn parse(s: String) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.trim().parse()?;
    Ok(n * 2)
}

#[guv::green]
fn show<T: std::fmt::Debug>(x: T, suffix: impl std::fmt::Display) -> String {
    format!("{x:?}{suffix}")
}

#[guv::green]
fn nothing() {}

struct S(u32);

impl S {
    #[guv::green]
    fn by_value(self) -> u32 {
        self.0
    }

    #[guv::green]
    fn by_rc(self: Rc<Self>) -> u32 {
        self.0
    }

    #[guv::green]
    pub fn by_arc(self: Arc<Self>, by: u32) -> u32 {
        self.0 * by
    }
}

fn main() -> Result<(), guv::Error> {
    let a = add(1, 2);
    let p = parse(" 21 ".into());
    assert_eq!(a.wait()?, 3);
    assert_eq!(p.wait()?, Ok(42));
    assert_eq!(show(1u8, "!").wait()?, "1!");
    nothing().wait()?;
    assert_eq!(S(1).by_value().wait()?, 1);
    assert_eq!(Rc::new(S(2)).by_rc().wait()?, 2);
    assert_eq!(Arc::new(S(3)).by_arc(2).wait()?, 6);
    Ok(())
}
