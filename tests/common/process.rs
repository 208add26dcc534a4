//! Child processes in tests: the dialflow binary, killed when dropped (a failed
//! assertion never leaves a daemon or simulator behind), stopped by SIGTERM, and its
//! output read line by line on a thread so a full pipe never stalls it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The dialflow binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_dialflow");

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn spawn(command: &mut Command) -> Proc {
        Proc(command.spawn().expect("the process starts"))
    }

    /// SIGTERM through the `kill` program (std has no signal API).
    pub fn sigterm(&self) {
        self.signal("TERM");
    }

    /// Sends the signal named `name` (`TERM`, `HUP`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {}", self.0.id());
    }

    /// Waits for the process to exit, for `limit` at most.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("the process can be waited on") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child writes to one of its pipes, read on a thread.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    /// Reads `stream` (a child's `stdout` or `stderr`) until it closes.
    pub fn of(stream: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, or `None` once the stream has closed; panics after `limit`.
    pub fn next(&self, limit: Duration) -> Option<String> {
        match self.0.recv_timeout(limit) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no line in {limit:?}"),
        }
    }

    /// The first line containing `marker`, waiting `limit` at most.
    pub fn until(&self, marker: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(marker) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with `{marker}` in {limit:?} ({e})"),
            }
        }
    }

    /// Every line still to come, once the stream has closed (the child has exited).
    pub fn rest(self) -> String {
        self.0.iter().collect::<Vec<_>>().join("\n")
    }

    /// Keeps reading in the background and drops what comes (a closed pipe would make
    /// the child's next write fail).
    pub fn drain(self) {
        std::thread::spawn(move || for _ in self.0.iter() {});
    }
}

/// The address after `http://` in `line` (a banner such as `HTTP API on http://…`).
pub fn url_address(line: &str) -> std::net::SocketAddr {
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == '/').next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in `{line}`"))
}
