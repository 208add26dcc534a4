//! A progress bar on stderr: redrawn in place on a terminal (at most ten times a
//! second), one line per tenth in logs and CI.

use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

pub struct Progress {
    unit: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    drawn: Option<Instant>,
    tenth: u64,
    terminal: bool,
}

impl Progress {
    pub fn new(unit: &'static str, total: u64) -> Self {
        Self {
            unit,
            total,
            done: 0,
            started: Instant::now(),
            drawn: None,
            tenth: 0,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        if self.terminal {
            if self
                .drawn
                .is_none_or(|d| d.elapsed() >= Duration::from_millis(100))
            {
                self.draw();
            }
        } else if let Some(tenth) = (self.done * 10).checked_div(self.total)
            && tenth > self.tenth
        {
            self.tenth = tenth;
            eprintln!(
                "{}/{} {}  {:.1}s",
                self.done,
                self.total,
                self.unit,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    fn draw(&mut self) {
        let width = 40u64;
        let filled = (self.done * width)
            .checked_div(self.total)
            .unwrap_or(width)
            .min(width) as usize;
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r[{}{}] {}/{} {}  {:.1}s",
            "#".repeat(filled),
            " ".repeat(width as usize - filled),
            self.done,
            self.total,
            self.unit,
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
        self.drawn = Some(Instant::now());
    }

    /// Draws the final state and ends the line.
    pub fn done(mut self) {
        if self.terminal {
            self.draw();
            eprintln!();
        }
    }
}
