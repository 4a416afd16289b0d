//! Progress display: a bar with the bytes sent on a terminal; otherwise, while a transfer runs
//! long, a line on stderr every [`REPORT_EVERY`] (logs say the rest).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use packager::UploadReport;
use upload::{Uploaded, Uploader};

/// Off a terminal, how often a running transfer reports its progress (none for shorter runs).
pub const REPORT_EVERY: Duration = Duration::from_secs(30);
/// How often the bar's byte count is refreshed.
const TICK: Duration = Duration::from_millis(250);

/// Shows upload progress on stderr: objects and bytes sent.
pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    done: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts showing the progress of `uploader`'s transfers.
    pub fn new(what: &'static str, uploader: &Uploader) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what);
            bar
        });
        let done = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let (bar, uploader) = (bar.clone(), uploader.clone());
            let (done, total) = (Arc::clone(&done), Arc::clone(&total));
            let start = uploader.bytes_sent();
            tokio::spawn(async move {
                let period = if bar.is_some() { TICK } else { REPORT_EVERY };
                let mut interval = tokio::time::interval(period);
                interval.tick().await;
                loop {
                    interval.tick().await;
                    let sent = human_bytes(uploader.bytes_sent().saturating_sub(start));
                    let (done, total) =
                        (done.load(Ordering::Relaxed), total.load(Ordering::Relaxed));
                    match &bar {
                        Some(bar) => bar.set_message(format!("{what} ({sent} sent)")),
                        None => eprintln!("{what}: {sent} sent, {done} of {total} objects done..."),
                    }
                }
            })
        };
        Progress {
            bar,
            what,
            done,
            total,
            ticker,
        }
    }

    pub fn finish(&self) {
        self.ticker.abort();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl packager::Observer for Progress {
    fn uploads_planned(&self, total: usize, _bytes: u64) {
        self.total.store(total, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_message(self.what);
        }
    }
    fn upload_finished(&self, report: &UploadReport) {
        match report.outcome {
            Uploaded::Skipped => {
                tracing::info!(key = %report.key, source = %report.source.display(), "already uploaded")
            }
            Uploaded::Sent { bytes } => {
                tracing::info!(key = %report.key, source = %report.source.display(), bytes, "uploaded")
            }
        }
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

/// One line on stderr: what was sent and what was already there.
pub fn summary(uploads: &[UploadReport]) {
    let sent: Vec<u64> = uploads
        .iter()
        .filter_map(|u| match u.outcome {
            Uploaded::Sent { bytes } => Some(bytes),
            Uploaded::Skipped => None,
        })
        .collect();
    let bytes: u64 = sent.iter().sum();
    eprintln!(
        "Uploaded {} object{} ({}), {} already present.",
        sent.len(),
        if sent.len() == 1 { "" } else { "s" },
        human_bytes(bytes),
        uploads.len() - sent.len()
    );
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_bytes() {
        assert_eq!(super::human_bytes(0), "0 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(300 * 1024 * 1024), "300.0 MiB");
    }
}
