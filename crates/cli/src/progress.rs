//! Progress display: a bar on a terminal, nothing otherwise (logs say the rest).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use packager::UploadReport;
use upload::Uploaded;

/// Shows upload progress on stderr when it is a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(what: &'static str) -> Self {
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
        Progress { bar }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl packager::Observer for Progress {
    fn uploads_planned(&self, total: usize, _bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
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
