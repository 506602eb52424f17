// #[guv::main] patches its body: std::thread and std::sync::mpsc are green.
#[guv::main]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    assert!(guv::is_patched!(thread) && guv::is_patched!(sync));
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || tx.send(1u8));
    assert_eq!(rx.recv()?, 1);
    worker.join().unwrap()?;
    Ok(())
}
