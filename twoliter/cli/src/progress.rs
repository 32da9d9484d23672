//! Progress display: indicatif on a terminal, plain log lines otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// True when stderr is a terminal.
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner showing `message` on a terminal; a log line otherwise.
pub fn spinner(message: &str) -> Option<ProgressBar> {
    if !interactive() {
        tracing::info!("{message}");
        return None;
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// A bar counting `total` steps on a terminal.
pub fn bar(total: u64) -> Option<ProgressBar> {
    if !interactive() {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

/// Clears a spinner or bar.
pub fn finish(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// A spinner naming the current step on a terminal; a log line per step otherwise.
pub struct Steps(Option<ProgressBar>);

impl Steps {
    /// Starts showing steps.
    pub fn new() -> Self {
        Self(interactive().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    /// A step starts.
    pub fn step(&self, step: &'static str) {
        match &self.0 {
            Some(bar) => bar.set_message(step),
            None => tracing::info!("{step} ..."),
        }
    }

    /// Clears the spinner.
    pub fn finish(self) {
        finish(self.0);
    }
}
