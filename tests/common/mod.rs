//! Helpers shared by the tests that run `dialflow sim` as a process.

use std::process::{Child, Command, Stdio};

/// A running `dialflow sim` (user `dialflow`, password `pw`), killed when dropped.
pub struct SimProcess {
    child: Child,
    pub port: u16,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `dialflow sim` at `speed` on a port of its own choosing (no race with other
/// tests for a free port).
pub fn start_sim(speed: &str) -> SimProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dialflow"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            speed,
            "--password",
            "pw",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dialflow sim starts");
    let port = port_from_banner(child.stdout.take().expect("piped"));
    SimProcess { child, port }
}

/// Reads the port from the simulator's banner, then keeps draining its output in the
/// background (a closed pipe would make its next line fail).
fn port_from_banner(stdout: std::process::ChildStdout) -> u16 {
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
