//! Helpers shared by the tests that run `dialflow sim` as a process.

/// Reads the port from the simulator's banner, then keeps draining its output in the
/// background (a closed pipe would make its next line fail).
pub fn port_from_banner(stdout: std::process::ChildStdout) -> u16 {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let banner = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(banner);
        for _ in lines {}
    });
    let banner = rx.recv().expect("the banner");
    banner
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in the banner: {banner}"))
}
