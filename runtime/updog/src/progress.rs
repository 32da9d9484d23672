//! Progress of the image writes: a live line on a terminal, one log line per target otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Reports bytes written per target on stderr.
#[derive(Debug)]
pub struct Progress {
    live: bool,
    target: String,
    label: String,
    started: Instant,
}

impl Progress {
    /// Live updates if stderr is a terminal, else only a line per finished target.
    pub fn new() -> Progress {
        Progress::with_live(std::io::stderr().is_terminal())
    }

    /// A reporter with live terminal updates on or off.
    pub fn with_live(live: bool) -> Progress {
        Progress {
            live,
            target: String::new(),
            label: String::new(),
            started: Instant::now(),
        }
    }

    /// A target starts.
    pub fn start(&mut self, target: &str, label: &str) {
        self.target = target.to_string();
        self.label = label.to_string();
        self.started = Instant::now();
    }

    /// `bytes` decompressed bytes are written so far.
    pub fn update(&mut self, bytes: u64) {
        if self.live {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[K{} → {}: {}",
                self.target,
                self.label,
                rate(bytes, self.started.elapsed())
            );
            let _ = err.flush();
        }
    }

    /// The target is written.
    pub fn finish(&mut self, bytes: u64, elapsed: Duration) {
        if self.live {
            eprint!("\r\x1b[K");
        }
        tracing::info!(
            "wrote {} into {}: {}",
            self.target,
            self.label,
            rate(bytes, elapsed)
        );
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// "12.3 MiB in 0.5 s (24.6 MB/s)".
fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    format!(
        "{:.1} MiB in {:.1} s ({:.1} MB/s)",
        bytes as f64 / 1048576.0,
        secs,
        bytes as f64 / secs / 1e6
    )
}
