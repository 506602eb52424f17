// Nested modules, impl blocks, traits, generics and `::std::` paths.
#[guv::patched]
mod outer {
    pub mod inner {
        pub struct Counter<T> {
            pub value: ::std::sync::Mutex<T>,
        }

        impl<T: Copy + std::ops::Add<Output = T> + Send + 'static> Counter<T> {
            pub fn new(v: T) -> Self {
                Counter { value: ::std::sync::Mutex::new(v) }
            }

            pub fn add(&self, by: T) -> T {
                let mut g = self.value.lock().unwrap();
                *g = *g + by;
                *g
            }
        }

        pub trait Spawner {
            fn spawn_value<T: Send + 'static>(&self, v: T) -> std::thread::JoinHandle<T> {
                std::thread::spawn(move || v)
            }
        }

        impl Spawner for () {}
    }
}

fn main() {
    use outer::inner::{Counter, Spawner};
    let c = Counter::new(1u32);
    assert_eq!(c.add(2), 3);
    assert_eq!(().spawn_value("x").join().unwrap(), "x");
}
