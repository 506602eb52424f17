struct Client;

impl Client {
    #[guv::green]
    fn get(&self, path: String) -> usize {
        path.len()
    }
}

fn main() {}
