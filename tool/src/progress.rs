//! A progress line on stderr, as git prints "Receiving objects:  45% (450/1000)", for work that
//! checks many signatures (`verify --all`, a cold `signed::` clone, rebuilding the cache). Only
//! on a terminal, and only for more than a few hundred items: pipelines and hooks' logs see
//! nothing.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Fewer items than this finish before a progress line would help.
const WORTH_SHOWING: usize = 300;

/// One progress line; [`Progress::tick`] may be called from any thread.
pub struct Progress {
    title: &'static str,
    total: usize,
    done: AtomicUsize,
    shown: AtomicUsize,
    active: bool,
}

impl Progress {
    /// A line titled `title` counting to `total`, shown when stderr is a terminal.
    pub fn new(title: &'static str, total: usize) -> Progress {
        let active = total >= WORTH_SHOWING && std::io::stderr().is_terminal();
        Progress { title, total, done: AtomicUsize::new(0), shown: AtomicUsize::new(usize::MAX), active }
    }

    /// Shown only if `wanted` too (git's `--quiet`, a helper's `option progress false`).
    pub fn only_if(mut self, wanted: bool) -> Progress {
        self.active &= wanted;
        self
    }

    /// One more item done; the line is redrawn when the percentage changes.
    pub fn tick(&self) {
        if !self.active {
            return;
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let percent = done * 100 / self.total.max(1);
        if self.shown.swap(percent, Ordering::Relaxed) != percent {
            let end = if done >= self.total { ", done.\n" } else { "\r" };
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "git-signed: {}: {percent:3}% ({done}/{}){end}", self.title, self.total);
        }
    }
}
