//! Upload progress: an indicatif bar with MB/s and retries on a terminal, a log line every 10%
//! (or 15 s) otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Progress of one snapshot upload.
pub struct UploadBar {
    label: String,
    bar: Option<ProgressBar>,
    total: AtomicU64,
    done: AtomicU64,
    retries: AtomicU64,
    started: Instant,
    last_line: Mutex<(Instant, u64)>,
}

impl UploadBar {
    /// Progress for uploading `path` in `region`.
    pub fn new(region: &str, path: &Path) -> UploadBar {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        let label = format!("{region}: {file}");
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        UploadBar {
            label,
            bar,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new((Instant::now(), 0)),
        }
    }

    fn line(&self, done: u64) {
        let total = self.total.load(Ordering::Relaxed).max(1);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        tracing::info!(
            "{}: {:.0}% ({:.1} of {:.1} MiB of data, {:.1} MB/s, {} retries)",
            self.label,
            done as f64 * 100.0 / total as f64,
            done as f64 / 1048576.0,
            total as f64 / 1048576.0,
            done as f64 / secs / 1e6,
            self.retries.load(Ordering::Relaxed)
        );
    }
}

impl twoliter_ebs_upload::Progress for UploadBar {
    fn begin(&self, total_bytes: u64) {
        self.total.store(total_bytes, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.set_length(total_bytes),
            None => tracing::info!(
                "{}: uploading {:.1} MiB of data (holes are not sent)",
                self.label,
                total_bytes as f64 / 1048576.0
            ),
        }
    }

    fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
            return;
        }
        let total = self.total.load(Ordering::Relaxed).max(1);
        let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
        if (done - last.1) * 10 >= total || last.0.elapsed() >= Duration::from_secs(15) {
            *last = (Instant::now(), done);
            drop(last);
            self.line(done);
        }
    }

    fn retried(&self) {
        let retries = self.retries.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{retries} retries"));
        }
    }

    fn end(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None => self.line(self.done.load(Ordering::Relaxed)),
        }
    }
}
