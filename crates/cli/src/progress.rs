//! Progress bars (indicatif) for the library's long steps, drawn on stderr only when it is a
//! terminal. Log lines go through tracing-indicatif so they do not break the bars.

use cvm_rewriter::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// Draws one bar per step.
pub struct Bars {
    bar: Mutex<Option<ProgressBar>>,
    enabled: bool,
}

impl Bars {
    pub fn new(enabled: bool) -> Bars {
        Bars { bar: Mutex::new(None), enabled }
    }
}

impl Progress for Bars {
    fn start(&self, step: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let (template, unit_bytes) = match step {
            "label" => ("{prefix:>6} [{bar:30}] {pos}/{len} files", false),
            _ => ("{prefix:>6} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}", true),
        };
        let _ = unit_bytes;
        let bar = ProgressBar::new(total).with_prefix(step.to_string());
        bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
        *self.bar.lock().unwrap() = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().unwrap().as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap().take() {
            b.finish_and_clear();
        }
    }
}
