//! Progress output for long work.
//!
//! On a terminal this is an indicatif bar that redraws in place. In a log (CI, a pipe)
//! redrawing makes a mess, so each step becomes one plain line on stderr instead.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A count of steps with a message for the current one.
pub struct Progress {
    bar: Option<ProgressBar>,
    task: &'static str,
    total: u64,
    done: u64,
}

impl Progress {
    /// Starts progress for `task`, which has `total` steps.
    pub fn new(task: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(task);
            bar
        });
        Progress {
            bar,
            task,
            total,
            done: 0,
        }
    }

    /// Announces the next step.
    pub fn step(&mut self, message: impl Into<String>) {
        let message = message.into();
        self.done += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done - 1);
                bar.set_message(message);
            }
            None => eprintln!("{} [{}/{}] {message}", self.task, self.done, self.total),
        }
    }

    /// Ends the progress display.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
