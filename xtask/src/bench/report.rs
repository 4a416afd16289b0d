//! Samples → medians, ratios, targets and the markdown tables. Pure: no timing here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::workload::Workload;

/// The tool that ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tool {
    CopilotLite,
    AwsCli,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::CopilotLite => "copilot-lite",
            Tool::AwsCli => "aws-cli",
        }
    }
}

/// Which run of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Empty bucket.
    Cold,
    /// Nothing changed since the cold run.
    Warm,
    /// Every mtime changed, content the same.
    Touch,
    /// One file of one function changed (restored after the run).
    Edit,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Cold, Mode::Warm, Mode::Touch, Mode::Edit];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Cold => "cold",
            Mode::Warm => "warm",
            Mode::Touch => "touch",
            Mode::Edit => "edit",
        }
    }
}

/// One measured tool run.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub workload: Workload,
    pub tool: Tool,
    pub mode: Mode,
    pub wall: Duration,
    /// User + system CPU time.
    pub cpu: Duration,
    pub max_rss_kib: u64,
    /// Body bytes of PUT requests (objects written).
    pub uploaded: u64,
    pub puts: u64,
    pub requests: u64,
    /// Whether the output template equals the one of the cold run of the same round
    /// (`None` for the cold run itself).
    pub same_output: Option<bool>,
}

/// A floor measurement of a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorSample {
    pub workload: Workload,
    pub read: Duration,
    pub deflate: Duration,
    /// CPU time of the read + deflate pass.
    pub deflate_cpu: Duration,
    pub bytes: u64,
    pub deflated: u64,
}

/// The median; the mean of the middle two for an even count. `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// `slow / fast`: how many times faster `fast` is. `None` when either is missing or zero.
pub fn ratio(slow: Option<f64>, fast: Option<f64>) -> Option<f64> {
    match (slow, fast) {
        (Some(s), Some(f)) if f > 0.0 && s > 0.0 => Some(s / f),
        _ => None,
    }
}

/// Medians of one (workload, tool, mode).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub wall_s: Option<f64>,
    pub cpu_s: Option<f64>,
    /// The largest peak RSS over the runs, KiB.
    pub max_rss_kib: u64,
    pub uploaded: Option<f64>,
    /// The most PUT requests of any run.
    pub max_puts: u64,
    /// `Some(true)` when every run's output equals its cold run's.
    pub same_output: Option<bool>,
}

pub fn summarize(samples: &[Sample], w: Workload, tool: Tool, mode: Mode) -> Option<Summary> {
    let s: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.workload == w && s.tool == tool && s.mode == mode)
        .collect();
    if s.is_empty() {
        return None;
    }
    let walls: Vec<f64> = s.iter().map(|s| s.wall.as_secs_f64()).collect();
    let cpus: Vec<f64> = s.iter().map(|s| s.cpu.as_secs_f64()).collect();
    let uploaded: Vec<f64> = s.iter().map(|s| s.uploaded as f64).collect();
    let same: Vec<bool> = s.iter().filter_map(|s| s.same_output).collect();
    Some(Summary {
        runs: s.len(),
        wall_s: median(&walls),
        cpu_s: median(&cpus),
        max_rss_kib: s.iter().map(|s| s.max_rss_kib).max().unwrap_or(0),
        uploaded: median(&uploaded),
        max_puts: s.iter().map(|s| s.puts).max().unwrap_or(0),
        same_output: (!same.is_empty()).then(|| same.iter().all(|b| *b)),
    })
}

/// Floor medians of a workload: (read seconds, read + deflate seconds).
pub fn floor_medians(floors: &[FloorSample], w: Workload) -> (Option<f64>, Option<f64>) {
    let f: Vec<&FloorSample> = floors.iter().filter(|f| f.workload == w).collect();
    let read: Vec<f64> = f.iter().map(|f| f.read.as_secs_f64()).collect();
    let deflate: Vec<f64> = f.iter().map(|f| f.deflate.as_secs_f64()).collect();
    (median(&read), median(&deflate))
}

/// Median CPU seconds of the read + deflate floor of a workload.
pub fn floor_cpu_median(floors: &[FloorSample], w: Workload) -> Option<f64> {
    let cpu: Vec<f64> = floors
        .iter()
        .filter(|f| f.workload == w)
        .map(|f| f.deflate_cpu.as_secs_f64())
        .collect();
    median(&cpu)
}

/// `1.23 s`, `456 ms`.
pub fn fmt_secs(s: Option<f64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s < 1.0 => format!("{:.0} ms", s * 1000.0),
        Some(s) if s < 10.0 => format!("{s:.2} s"),
        Some(s) => format!("{s:.1} s"),
    }
}

/// `0 B`, `512 B`, `1.5 KiB`, `39.8 MiB`.
pub fn fmt_bytes(b: Option<f64>) -> String {
    match b {
        None => "–".into(),
        Some(b) if b < 1024.0 => format!("{b:.0} B"),
        Some(b) if b < 1024.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        Some(b) if b < 1024.0 * 1024.0 * 1024.0 => format!("{:.1} MiB", b / 1048576.0),
        Some(b) => format!("{:.2} GiB", b / 1073741824.0),
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        None => "–".into(),
        Some(r) if r < 10.0 => format!("{r:.2}×"),
        Some(r) => format!("{r:.0}×"),
    }
}

fn fmt_rss(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

fn fmt_same(s: Option<bool>) -> &'static str {
    match s {
        None => "–",
        Some(true) => "same",
        Some(false) => "changed",
    }
}

/// One target of the issue, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub target: String,
    pub measured: String,
    /// `None`: not measured in this run (workload or tool left out).
    pub pass: Option<bool>,
}

/// The issue's targets, for the workloads in `samples`.
pub fn verdicts(samples: &[Sample], floors: &[FloorSample]) -> Vec<Verdict> {
    let mut out = Vec::new();
    let workloads: Vec<Workload> = {
        let mut w: Vec<Workload> = samples.iter().map(|s| s.workload).collect();
        w.sort();
        w.dedup();
        w
    };
    let sum = |w, t, m| summarize(samples, w, t, m);
    if workloads.contains(&Workload::W2) {
        out.push(faster_than_aws(samples, Workload::W2, 5.0, ""));
        let issue = " (packaging-speed issue)";
        out.push(faster_than_aws(samples, Workload::W2, 10.0, issue));
        out.push(near_floor(samples, floors, Workload::W2, 1.5));
    }
    for &w in &workloads {
        let cl = sum(w, Tool::CopilotLite, Mode::Warm);
        let aws = sum(w, Tool::AwsCli, Mode::Warm);
        let r = ratio(
            aws.as_ref().and_then(|s| s.wall_s),
            cl.as_ref().and_then(|s| s.wall_s),
        );
        out.push(Verdict {
            target: format!("{} warm: >= 20× faster than aws-cli", w.name()),
            measured: fmt_ratio(r),
            pass: r.map(|r| r >= 20.0),
        });
        out.push(Verdict {
            target: format!("{} warm: nothing uploaded", w.name()),
            measured: cl
                .as_ref()
                .map_or("–".into(), |s| format!("{} PUT", s.max_puts)),
            pass: cl.as_ref().map(|s| s.max_puts == 0),
        });
        let t = sum(w, Tool::CopilotLite, Mode::Touch);
        out.push(Verdict {
            target: format!("{} touch: same keys, nothing uploaded", w.name()),
            measured: t.as_ref().map_or("–".into(), |s| {
                format!("{} keys, {} PUT", fmt_same(s.same_output), s.max_puts)
            }),
            pass: t
                .as_ref()
                .map(|s| s.same_output == Some(true) && s.max_puts == 0),
        });
    }
    if workloads.contains(&Workload::W2) {
        let edit = sum(Workload::W2, Tool::CopilotLite, Mode::Edit).and_then(|s| s.wall_s);
        let warm = sum(Workload::W2, Tool::CopilotLite, Mode::Warm).and_then(|s| s.wall_s);
        let r = ratio(edit, warm);
        out.push(Verdict {
            target: "W2 edit: within 1.5× of the W2 warm run".into(),
            measured: fmt_ratio(r),
            pass: r.map(|r| r <= 1.5),
        });
    }
    if workloads.contains(&Workload::W4) {
        out.push(faster_than_aws(samples, Workload::W4, 5.0, ""));
    }
    if workloads.contains(&Workload::W5) {
        out.push(near_floor(samples, floors, Workload::W5, 1.3));
    }
    for &w in &workloads {
        let rss = samples
            .iter()
            .filter(|s| s.workload == w && s.tool == Tool::CopilotLite)
            .map(|s| s.max_rss_kib)
            .max();
        out.push(Verdict {
            target: format!("{}: peak RSS < 100 MB (every run)", w.name()),
            measured: rss.map_or("–".into(), fmt_rss),
            pass: rss.map(|k| k * 1024 < 100_000_000),
        });
    }
    out
}

/// Median wall seconds of the cold runs of `w` by `tool`.
fn cold_wall(samples: &[Sample], w: Workload, tool: Tool) -> Option<f64> {
    summarize(samples, w, tool, Mode::Cold).and_then(|s| s.wall_s)
}

/// "`w` cold: at least `times` faster than aws-cli".
fn faster_than_aws(samples: &[Sample], w: Workload, times: f64, note: &str) -> Verdict {
    let r = ratio(
        cold_wall(samples, w, Tool::AwsCli),
        cold_wall(samples, w, Tool::CopilotLite),
    );
    Verdict {
        target: format!("{} cold: >= {times}× faster than aws-cli{note}", w.name()),
        measured: fmt_ratio(r),
        pass: r.map(|r| r >= times),
    }
}

/// "`w` cold: within `times` of the floor".
fn near_floor(samples: &[Sample], floors: &[FloorSample], w: Workload, times: f64) -> Verdict {
    let (_, deflate) = floor_medians(floors, w);
    let r = ratio(cold_wall(samples, w, Tool::CopilotLite), deflate);
    Verdict {
        target: format!(
            "{} cold: within {times}× of the floor (read + deflate, all cores)",
            w.name()
        ),
        measured: fmt_ratio(r),
        pass: r.map(|r| r <= times),
    }
}

/// The results as markdown: one table of runs, one of floors, one of targets.
pub fn markdown(samples: &[Sample], floors: &[FloorSample]) -> String {
    let mut md = String::new();
    let mut workloads: Vec<Workload> = samples.iter().map(|s| s.workload).collect();
    workloads.sort();
    workloads.dedup();
    md.push_str(
        "| workload | run | copilot-lite | aws-cli | aws ÷ copilot | CPU copilot / aws | \
         RSS copilot / aws | uploaded copilot / aws | PUTs copilot / aws | \
         keys vs cold copilot / aws |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for &w in &workloads {
        for mode in Mode::ALL {
            let cl = summarize(samples, w, Tool::CopilotLite, mode);
            let aws = summarize(samples, w, Tool::AwsCli, mode);
            let wall = |s: &Option<Summary>| s.as_ref().and_then(|s| s.wall_s);
            let field = |s: &Option<Summary>, f: &dyn Fn(&Summary) -> String| {
                s.as_ref().map_or("–".to_string(), f)
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} |",
                w.name(),
                mode.name(),
                fmt_secs(wall(&cl)),
                fmt_secs(wall(&aws)),
                fmt_ratio(ratio(wall(&aws), wall(&cl))),
                fmt_secs(cl.as_ref().and_then(|s| s.cpu_s)),
                fmt_secs(aws.as_ref().and_then(|s| s.cpu_s)),
                field(&cl, &|s| fmt_rss(s.max_rss_kib)),
                field(&aws, &|s| fmt_rss(s.max_rss_kib)),
                field(&cl, &|s| fmt_bytes(s.uploaded)),
                field(&aws, &|s| fmt_bytes(s.uploaded)),
                field(&cl, &|s| s.max_puts.to_string()),
                field(&aws, &|s| s.max_puts.to_string()),
                field(&cl, &|s| fmt_same(s.same_output).to_string()),
                field(&aws, &|s| fmt_same(s.same_output).to_string()),
            );
        }
    }
    if !floors.is_empty() {
        md.push_str(
            "\n| workload | input | floor: read (all cores) | floor: read + deflate (all cores) | \
             deflated | copilot-lite cold ÷ deflate floor | CPU: deflate floor / copilot-lite \
             cold |\n|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut by_w: BTreeMap<Workload, &FloorSample> = BTreeMap::new();
        for f in floors {
            by_w.entry(f.workload).or_insert(f);
        }
        for (w, f) in by_w {
            let (read, deflate) = floor_medians(floors, w);
            let cold = summarize(samples, w, Tool::CopilotLite, Mode::Cold);
            let cold_cpu = cold.as_ref().and_then(|s| s.cpu_s);
            let cold = cold.and_then(|s| s.wall_s);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} / {} |",
                w.name(),
                fmt_bytes(Some(f.bytes as f64)),
                fmt_secs(read),
                fmt_secs(deflate),
                fmt_bytes(Some(f.deflated as f64)),
                fmt_ratio(ratio(cold, deflate)),
                fmt_secs(floor_cpu_median(floors, w)),
                fmt_secs(cold_cpu),
            );
        }
    }
    md.push_str("\n| target | measured | result |\n|---|---:|---|\n");
    for v in verdicts(samples, floors) {
        let result = match v.pass {
            None => "not measured",
            Some(true) => "pass",
            Some(false) => "**MISSED**",
        };
        let _ = writeln!(md, "| {} | {} | {} |", v.target, v.measured, result);
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(w: Workload, tool: Tool, mode: Mode, secs: f64, puts: u64) -> Sample {
        Sample {
            workload: w,
            tool,
            mode,
            wall: Duration::from_secs_f64(secs),
            cpu: Duration::from_secs_f64(secs * 1.5),
            max_rss_kib: 50_000,
            uploaded: puts * 1000,
            puts,
            requests: puts + 1,
            same_output: (mode != Mode::Cold).then_some(true),
        }
    }

    #[test]
    fn median_and_ratio() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
        assert_eq!(ratio(Some(10.0), Some(2.0)), Some(5.0));
        assert_eq!(ratio(Some(10.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_secs(Some(0.0456)), "46 ms");
        assert_eq!(fmt_secs(Some(1.234)), "1.23 s");
        assert_eq!(fmt_secs(Some(12.34)), "12.3 s");
        assert_eq!(fmt_secs(None), "–");
        assert_eq!(fmt_bytes(Some(0.0)), "0 B");
        assert_eq!(fmt_bytes(Some(1536.0)), "1.5 KiB");
        assert_eq!(fmt_bytes(Some(41_943_040.0)), "40.0 MiB");
        assert_eq!(fmt_ratio(Some(5.25)), "5.25×");
        assert_eq!(fmt_ratio(Some(123.4)), "123×");
        assert_eq!(fmt_rss(97_656), "100.0 MB");
    }

    #[test]
    fn verdicts_and_table() {
        use Mode::*;
        use Tool::*;
        let w = Workload::W2;
        let mut samples = vec![
            sample(w, CopilotLite, Cold, 2.0, 10),
            sample(w, CopilotLite, Cold, 4.0, 10),
            sample(w, CopilotLite, Cold, 3.0, 10),
            sample(w, AwsCli, Cold, 30.0, 10),
            sample(w, CopilotLite, Warm, 0.1, 0),
            sample(w, AwsCli, Warm, 1.0, 0),
            sample(w, CopilotLite, Touch, 0.1, 0),
            sample(w, AwsCli, Touch, 25.0, 10),
        ];
        samples[7].same_output = Some(false);
        let floors = vec![FloorSample {
            workload: w,
            read: Duration::from_millis(500),
            deflate: Duration::from_secs(2),
            deflate_cpu: Duration::from_secs(4),
            bytes: 400_000_000,
            deflated: 300_000_000,
        }];
        let v = verdicts(&samples, &floors);
        let get = |prefix: &str| v.iter().find(|v| v.target.starts_with(prefix)).unwrap();
        // median cold 3 s vs 30 s: 10×; vs floor 2 s: 1.5× (pass, inclusive).
        assert_eq!(get("W2 cold: >= 5×").pass, Some(true));
        assert_eq!(get("W2 cold: >= 5×").measured, "10×");
        assert_eq!(get("W2 cold: >= 10×").pass, Some(true), "inclusive");
        assert_eq!(get("W2 cold: within").pass, Some(true));
        assert_eq!(get("W2 warm: >= 20×").pass, Some(false), "only 10×");
        assert_eq!(get("W2 warm: nothing").pass, Some(true));
        assert_eq!(get("W2 touch").pass, Some(true));
        assert!(!v.iter().any(|v| v.target.starts_with("W4")));

        samples[6].puts = 1;
        let v = verdicts(&samples, &floors);
        assert_eq!(
            v.iter()
                .find(|v| v.target.starts_with("W2 touch"))
                .unwrap()
                .pass,
            Some(false)
        );

        let md = markdown(&samples, &floors);
        assert!(md.contains("| W2 | cold | 3.00 s | 30.0 s | 10× |"), "{md}");
        assert!(
            md.contains("| W2 | touch | 100 ms | 25.0 s | 250× |"),
            "{md}"
        );
        assert!(md.contains("same / changed"), "{md}");
        assert!(
            md.contains("| W2 | 381.5 MiB | 500 ms | 2.00 s | 286.1 MiB | 1.50× |"),
            "{md}"
        );
        assert!(md.contains("**MISSED**"));
    }

    #[test]
    fn w4_and_w5_cold_targets() {
        use Mode::Cold;
        use Tool::{AwsCli, CopilotLite};
        let samples = vec![
            sample(Workload::W4, CopilotLite, Cold, 2.0, 2),
            sample(Workload::W4, AwsCli, Cold, 9.0, 2),
            sample(Workload::W5, CopilotLite, Cold, 2.6, 2),
        ];
        let floors = vec![FloorSample {
            workload: Workload::W5,
            read: Duration::from_millis(50),
            deflate: Duration::from_secs(2),
            deflate_cpu: Duration::from_secs(4),
            bytes: 120_000_000,
            deflated: 60_000_000,
        }];
        let v = verdicts(&samples, &floors);
        let get = |prefix: &str| v.iter().find(|v| v.target.starts_with(prefix)).unwrap();
        assert_eq!(get("W4 cold: >= 5×").pass, Some(false), "4.5×");
        assert_eq!(get("W4 cold: >= 5×").measured, "4.50×");
        assert_eq!(get("W5 cold: within 1.3×").pass, Some(true), "inclusive");
        assert_eq!(get("W5: peak RSS").pass, Some(true));
        let slower = [sample(Workload::W5, CopilotLite, Cold, 2.7, 2)];
        let v = verdicts(&slower, &floors);
        let w5 = v.iter().find(|v| v.target.starts_with("W5 cold")).unwrap();
        assert_eq!((w5.pass, w5.measured.as_str()), (Some(false), "1.35×"));
    }

    #[test]
    fn w4_rss_target() {
        let mut s = sample(Workload::W4, Tool::CopilotLite, Mode::Cold, 1.0, 2);
        s.max_rss_kib = 120_000;
        let v = verdicts(&[s], &[]);
        let rss = v.iter().find(|v| v.target.starts_with("W4: peak")).unwrap();
        assert_eq!(rss.pass, Some(false));
        assert_eq!(rss.measured, "122.9 MB");
    }
}
