//! How long-running steps report progress. The library only counts; the CLI draws the bars.

/// Receives progress of one step at a time.
pub trait Progress: Sync {
    /// A step of `total` units (bytes, files) begins.
    fn start(&self, step: &str, total: u64);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The current step is over.
    fn finish(&self);
}

/// Ignores all progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _step: &str, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}
