//! What the commands print: validation problems, the plan, and the apply report.

use std::fmt;

/// One validation problem, located by file and by path inside it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// Where in the file (`widgets[3].properties.metrics[0]`, `Period`, `line 4, column 1`).
    pub path: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem in `file` at `path`.
    pub fn new(file: &str, path: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

/// The kind of resource a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// An SNS topic.
    Topic,
    /// An SNS subscription.
    Subscription,
    /// A CloudWatch dashboard.
    Dashboard,
    /// A CloudWatch alarm.
    Alarm,
    /// A CloudWatch Logs log group (its retention).
    LogGroup,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Topic => "topic",
            Kind::Subscription => "subscription",
            Kind::Dashboard => "dashboard",
            Kind::Alarm => "alarm",
            Kind::LogGroup => "log group",
        })
    }
}

/// What the plan does with a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// It is missing and will be created.
    Create,
    /// It differs and will be updated.
    Update,
    /// It is managed, not defined any more, and `--prune` was given.
    Delete,
    /// It is managed and not defined any more; kept because `--prune` was not given.
    Orphan,
    /// It matches.
    NoChange,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "+ create",
            Action::Update => "~ update",
            Action::Delete => "- delete",
            Action::Orphan => "? orphan",
            Action::NoChange => "= no change",
        })
    }
}

/// One changed field: its path, the live value and the defined value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// The field (`Threshold`, `widgets[2].properties.title`).
    pub field: String,
    /// Live value, compact JSON, or `(unset)`.
    pub before: String,
    /// Defined value, compact JSON, or `(unset)`.
    pub after: String,
}

/// One resource in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The resource kind.
    pub kind: Kind,
    /// Its name (for a subscription: `TOPIC protocol:endpoint`).
    pub name: String,
    /// What happens.
    pub action: Action,
    /// For updates: the fields that differ.
    pub fields: Vec<FieldChange>,
}

/// The plan for one environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Every resource, defined or managed, in apply order.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Changes with this action.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether applying it writes anything.
    pub fn has_writes(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.action, Action::Create | Action::Update | Action::Delete))
    }

    /// The change of a resource, by kind and name.
    pub fn find(&self, kind: Kind, name: &str) -> Option<&Change> {
        self.changes
            .iter()
            .find(|c| c.kind == kind && c.name == name)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for change in &self.changes {
            writeln!(
                f,
                "{:<12} {:<12} {}",
                change.action.to_string(),
                change.kind.to_string(),
                change.name
            )?;
            for field in &change.fields {
                writeln!(
                    f,
                    "{:>16}{}: {} -> {}",
                    "", field.field, field.before, field.after
                )?;
            }
        }
        let orphans = self.count(Action::Orphan);
        write!(
            f,
            "plan: {} to create, {} to update, {} to delete, {} unchanged",
            self.count(Action::Create),
            self.count(Action::Update),
            self.count(Action::Delete),
            self.count(Action::NoChange)
        )?;
        if orphans > 0 {
            write!(
                f,
                ", {orphans} orphaned (not defined any more; apply --prune deletes them)"
            )?;
        }
        Ok(())
    }
}

/// The outcome of one write.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The resource kind.
    pub kind: Kind,
    /// The resource name.
    pub name: String,
    /// What was attempted.
    pub action: Action,
    /// `None` when it worked, else what failed.
    pub error: Option<String>,
}

/// What `apply` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyReport {
    /// Every attempted write, in order.
    pub outcomes: Vec<Outcome>,
    /// Resources that already matched.
    pub unchanged: usize,
    /// Resources not defined any more but kept (no `--prune`).
    pub orphaned: usize,
}

impl ApplyReport {
    /// The writes that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.error.is_some())
    }

    /// Whether every write worked.
    pub fn is_success(&self) -> bool {
        self.failures().next().is_none()
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.outcomes {
            match &o.error {
                None => writeln!(
                    f,
                    "{:<12} {:<12} {}: done",
                    o.action.to_string(),
                    o.kind.to_string(),
                    o.name
                )?,
                Some(err) => writeln!(
                    f,
                    "{:<12} {:<12} {}: FAILED: {err}",
                    o.action.to_string(),
                    o.kind.to_string(),
                    o.name
                )?,
            }
        }
        let failed = self.failures().count();
        write!(
            f,
            "apply: {} done, {failed} failed, {} unchanged",
            self.outcomes.len() - failed,
            self.unchanged
        )?;
        if self.orphaned > 0 {
            write!(
                f,
                ", {} orphaned (apply --prune deletes them)",
                self.orphaned
            )?;
        }
        if failed > 0 {
            write!(
                f,
                "; fix the failures above and run apply again: it converges from where it stopped"
            )?;
        }
        Ok(())
    }
}
