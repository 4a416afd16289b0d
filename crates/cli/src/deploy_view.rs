//! Live progress of a deployment: on a terminal, one line per resource that updates in place
//! (nested stacks' resources indented under them); otherwise one plain line per event.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use deploy::{DeployObserver, Phase, StackEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub struct DeployView {
    root: String,
    live: Option<Live>,
    /// The change set of the root stack executed last (for `--output json`).
    executed: Mutex<Option<String>>,
}

struct Live {
    multi: MultiProgress,
    lines: Mutex<HashMap<(String, String), ProgressBar>>,
}

impl DeployView {
    pub fn new(root_stack: &str) -> Self {
        let live = std::io::stderr().is_terminal().then(|| Live {
            multi: MultiProgress::new(),
            lines: Mutex::new(HashMap::new()),
        });
        DeployView {
            root: root_stack.to_string(),
            live,
            executed: Mutex::new(None),
        }
    }

    /// The name of the root stack's change set executed last, if one was.
    pub fn executed_change_set(&self) -> Option<String> {
        self.executed.lock().ok().and_then(|name| name.clone())
    }

    /// Leaves every line as it is on the terminal.
    pub fn finish(&self) {
        if let Some(live) = &self.live
            && let Ok(lines) = live.lines.lock()
        {
            for bar in lines.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }

    fn say(&self, line: String) {
        let line = crate::report::escape_lines(&line);
        match &self.live {
            Some(live) => {
                let _ = live.multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

fn symbol(status: &str) -> &'static str {
    if status.ends_with("_FAILED") || status == "ROLLBACK_COMPLETE" {
        "✘"
    } else if status.ends_with("_COMPLETE") {
        "✔"
    } else {
        "…"
    }
}

impl DeployObserver for DeployView {
    fn phase(&self, phase: &Phase) {
        let line = match phase {
            Phase::DeletingStack { stack, status } => {
                format!("Deleting stack {stack} (was {status})...")
            }
            Phase::CreatingChangeSet {
                stack,
                change_set,
                create,
            } => format!(
                "Proposing infrastructure changes for stack {stack} ({} change set {change_set})...",
                if *create { "create" } else { "update" }
            ),
            Phase::Executing {
                stack,
                changes,
                change_set,
            } => {
                if *stack == self.root
                    && let Ok(mut executed) = self.executed.lock()
                {
                    *executed = Some(change_set.clone());
                }
                let mut line = format!("Executing {} change(s) on stack {stack}:", changes.len());
                for c in changes {
                    line.push_str(&format!(
                        "\n  {:<8} {} ({})",
                        c.action, c.logical_id, c.resource_type
                    ));
                    if let Some(r) = c.replacement.as_deref().filter(|r| *r != "False") {
                        line.push_str(&format!(" replacement: {r}"));
                    }
                }
                line
            }
            Phase::NoChanges { stack, .. } => {
                format!("- No new infrastructure changes for stack {stack}")
            }
            Phase::CleanedUpChangeSets { stack, deleted } => {
                format!(
                    "Deleted {deleted} empty change set(s) of stack {stack} and its nested stacks."
                )
            }
            Phase::Cancelling { stack, status } => {
                format!("Cancelling stack {stack} ({status}); rolling back...")
            }
            Phase::DeletingAgain { stack, status } => format!(
                "Stack {stack} settled in {status} instead of being deleted; deleting it again..."
            ),
            Phase::CancelTooLate { stack, status } => format!(
                "Too late to cancel: stack {stack} finished ({status}) before it could be stopped."
            ),
            Phase::CreatingStackFor { stack, output } => {
                format!("Creating stack {stack} (for its output {output})...")
            }
            Phase::Guarded { stack, refused } => {
                let mut text = format!(
                    "✘ The change set of stack {stack} would change resources copilot-lite does not own; it was deleted, not executed:"
                );
                for c in refused {
                    text.push_str(&format!(
                        "\n    {} {} ({}){}",
                        c.action,
                        c.logical_id,
                        c.resource_type,
                        if c.replacement.as_deref() == Some("True") {
                            ", replacement"
                        } else {
                            ""
                        }
                    ));
                }
                text
            }
            other => format!("{other:?}"),
        };
        self.say(line);
    }

    fn event(&self, event: &StackEvent) {
        let nested = event.stack != self.root;
        let indent = if nested { "    " } else { "  " };
        let mut text = format!(
            "{indent}{} {:<32} {:<36} {}",
            symbol(&event.status),
            event.logical_id,
            event.resource_type,
            event.status
        );
        if let Some(reason) = event.reason.as_deref().filter(|r| !r.is_empty()) {
            text.push_str(&format!(": {reason}"));
        }
        // Names and reasons come from the template and from CloudFormation: never raw.
        let text = crate::report::escape(&text).into_owned();
        let Some(live) = &self.live else {
            eprintln!("{text}");
            return;
        };
        let Ok(mut lines) = live.lines.lock() else {
            return;
        };
        let bar = lines
            .entry((event.stack.clone(), event.logical_id.clone()))
            .or_insert_with(|| {
                let bar = live.multi.add(ProgressBar::new_spinner());
                if let Ok(style) = ProgressStyle::with_template("{msg}") {
                    bar.set_style(style);
                }
                bar
            });
        bar.set_message(text);
        if event.status.ends_with("_COMPLETE") || event.status.ends_with("_FAILED") {
            bar.tick();
        }
    }
}
