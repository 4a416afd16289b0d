//! `copilot-lite svc watch`: a hotswap deploy (falling back to a full deploy) on every change
//! of the service's addons or of the files they name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::args::{DeployFlags, OutputArgs, SvcDeployArgs, SvcWatchArgs};
use crate::report::Failure;
use crate::svc::{self, Done};

/// Set while `svc watch` runs: it handles Ctrl-C itself (it ends the watch cleanly).
static WATCHING: AtomicBool = AtomicBool::new(false);

/// Whether a running watch handles Ctrl-C (see `main`'s signal handling).
pub fn handles_ctrl_c() -> bool {
    WATCHING.load(Ordering::SeqCst)
}

pub async fn watch(args: SvcWatchArgs) -> Result<(), Failure> {
    let deploy = SvcDeployArgs {
        target: args.target.clone(),
        hotswap: true,
        resource_tags: None,
        how: DeployFlags {
            no_rollback: false,
            detach: false,
            diff: false,
            force: false,
        },
        output: OutputArgs::default(),
        bucket: args.bucket.clone(),
        upload: args.upload.clone(),
        aws: args.aws.clone(),
    };
    // Checked before anything runs: a bad name or a missing service ends the watch at once.
    let root = svc::service_root(&args.target)?;
    WATCHING.store(true, Ordering::SeqCst);
    let (stop_tx, mut stop) = tokio::sync::watch::channel(false);
    let listener = tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let result = rounds(
        &deploy,
        &root,
        Duration::from_millis(args.debounce),
        &mut stop,
    )
    .await;
    listener.abort();
    WATCHING.store(false, Ordering::SeqCst);
    result
}

async fn rounds(
    deploy: &SvcDeployArgs,
    root: &Path,
    debounce: Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), Failure> {
    let mut sources = Watched::default();
    let mut round = 0_u32;
    let mut changed = vec!["start".to_owned()];
    loop {
        round += 1;
        // The files to watch, read again each round (an edit can name new ones); while the
        // input is invalid, the last good set plus the addons folder.
        match svc::watched_paths(&deploy.target, &deploy.upload).await {
            Ok(paths) => sources = paths,
            Err((always, e)) => {
                tracing::info!(error = %e, "watch: input invalid, keeping the last paths");
                sources.merge(always);
            }
        }
        // Changes only: reading a file (the round itself reads them all) is no change.
        let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(event)
                    if matches!(
                        event.kind,
                        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                    ) =>
                {
                    for path in event.paths {
                        let _ = tx.send(path);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "file watcher error"),
            })
            .map_err(|e| Failure::Usage(format!("cannot watch files: {e}")))?;
        for (path, mode) in sources.watches() {
            if let Err(e) = watcher.watch(&path, mode) {
                tracing::warn!(path = %path.display(), error = %e, "cannot watch");
            }
        }
        // Watching before the round: an edit made while it runs starts the next one.
        let started = Instant::now();
        let outcome = {
            let work = svc::deploy_round(deploy, None);
            tokio::pin!(work);
            loop {
                tokio::select! {
                    result = &mut work => break Some(result),
                    _ = stop.changed() => {
                        // A deployment in progress cancels itself safely on Ctrl-C and ends
                        // the round; anything else stops here.
                        if !svc::handles_ctrl_c() {
                            break None;
                        }
                    }
                }
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let what = describe_changes(&changed);
        match outcome {
            None => {
                eprintln!("round {round} ({what}): interrupted after {secs:.1} s; watch ended.");
                return Ok(());
            }
            Some(Ok(done)) => eprintln!("round {round} ({what}): {} in {secs:.1} s", said(&done)),
            Some(Err(failure)) => {
                crate::report::print(&failure);
                eprintln!("round {round} ({what}): failed after {secs:.1} s; watching on.");
            }
        }
        if *stop.borrow() {
            eprintln!("Watch ended.");
            return Ok(());
        }
        eprintln!("Watching {} path(s); Ctrl-C ends.", sources.len());
        // Wait for a relevant change, or Ctrl-C; then for `debounce` without another one.
        let mut paths: Vec<PathBuf> = Vec::new();
        while paths.is_empty() {
            tokio::select! {
                path = events.recv() => match path {
                    Some(path) if sources.relevant(&path) => paths.push(path),
                    Some(_) => {}
                    None => return Err(Failure::Usage("the file watcher stopped".into())),
                },
                _ = stop.changed() => {
                    eprintln!("Watch ended.");
                    return Ok(());
                }
            }
        }
        while let Ok(Some(path)) = tokio::time::timeout(debounce, events.recv()).await {
            if sources.relevant(&path) {
                paths.push(path);
            }
        }
        let mut names: Vec<String> = paths.iter().map(|p| relative(p, root)).collect();
        names.sort();
        names.dedup();
        changed = names;
        drop(watcher);
    }
}

/// What a watch round looks at: folders (with everything below them) and single files.
#[derive(Debug, Default)]
pub(crate) struct Watched {
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) files: Vec<PathBuf>,
}

impl Watched {
    /// Adds `other`'s paths (the last good set kept, plus what is always watched).
    fn merge(&mut self, other: Watched) {
        self.dirs.extend(other.dirs);
        self.files.extend(other.files);
        self.dirs.sort();
        self.dirs.dedup();
        self.files.sort();
        self.files.dedup();
    }

    fn len(&self) -> usize {
        self.dirs.len() + self.files.len()
    }

    /// Folders, recursively; each file through its folder, not recursively (editors replace a
    /// file by renaming another over it, which ends a watch on the file itself).
    fn watches(&self) -> Vec<(PathBuf, RecursiveMode)> {
        let mut watches: Vec<(PathBuf, RecursiveMode)> = self
            .dirs
            .iter()
            .map(|d| (d.clone(), RecursiveMode::Recursive))
            .collect();
        for file in &self.files {
            if let Some(parent) = file.parent()
                && !watches.iter().any(|(p, _)| p == parent)
                && !self.dirs.iter().any(|d| file.starts_with(d))
            {
                watches.push((parent.to_path_buf(), RecursiveMode::NonRecursive));
            }
        }
        watches
    }

    /// An event path inside a watched folder, or a watched file itself.
    fn relevant(&self, path: &Path) -> bool {
        self.dirs.iter().any(|d| path.starts_with(d)) || self.files.iter().any(|f| f == path)
    }
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn describe_changes(changed: &[String]) -> String {
    match changed {
        [] => "no change".into(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} and {} more", rest.len()),
    }
}

fn said(done: &Done) -> String {
    match done {
        Done::NoAddons => "no addons, nothing deployed".into(),
        Done::NoChanges => "no changes".into(),
        Done::Hotswapped { updated, skipped } if updated.is_empty() => {
            format!("hotswap: nothing to update ({skipped} already up to date)")
        }
        Done::Hotswapped { updated, .. } => format!("hotswapped {}", updated.join(", ")),
        Done::Deployed(outcome) => format!("deployed through a change set ({outcome:?})"),
    }
}
