//! Where the alarm payloads under test come from: [`AlarmSource`], and [`RenderedDir`] for a
//! directory written by `aistudio-sidecar provision render --env ENV --out DIR`.

use std::path::{Path, PathBuf};

/// Managed resources are named `aistudio-{env}-{id}` (as `provision render` names them).
pub fn alarm_name(alarm_id: &str, env: &str) -> String {
    format!("aistudio-{env}-{alarm_id}")
}

/// Gives the PutMetricAlarm payload of an alarm, rendered for an environment.
pub trait AlarmSource {
    /// The payload (JSON, API field names) of alarm `alarm_id` (the file stem in `alarms/`,
    /// e.g. `jobs-failed-high`) rendered for `env`; the error says what is missing and how to
    /// get it.
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String>;

    /// The alarm ids known for `env`, for "write one of ..." hints (may be empty).
    fn alarm_ids(&self, _env: &str) -> Vec<String> {
        Vec::new()
    }
}

impl<F> AlarmSource for F
where
    F: Fn(&str, &str) -> Result<serde_json::Value, String>,
{
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String> {
        self(alarm_id, env)
    }
}

/// Several sources (e.g. one rendered directory per environment): the first that has the
/// alarm answers.
impl<S: AlarmSource> AlarmSource for [S] {
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String> {
        let mut errors = Vec::new();
        for source in self {
            match source.alarm(alarm_id, env) {
                Ok(v) => return Ok(v),
                Err(e) => errors.push((!source.alarm_ids(env).is_empty(), e)),
            }
        }
        // A source that has the environment explains best; the others only say they have not.
        if errors.iter().any(|(has_env, _)| *has_env) {
            errors.retain(|(has_env, _)| *has_env);
        }
        let errors: Vec<String> = errors.into_iter().map(|(_, e)| e).collect();
        Err(if errors.is_empty() {
            "no alarm source given".to_owned()
        } else {
            errors.join("; ")
        })
    }

    fn alarm_ids(&self, env: &str) -> Vec<String> {
        let mut ids: Vec<String> = self.iter().flat_map(|s| s.alarm_ids(env)).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

impl<S: AlarmSource> AlarmSource for Vec<S> {
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String> {
        self.as_slice().alarm(alarm_id, env)
    }

    fn alarm_ids(&self, env: &str) -> Vec<String> {
        self.as_slice().alarm_ids(env)
    }
}

/// A directory written by `provision render`: `alarms/aistudio-{env}-{id}.json` holds each
/// PutMetricAlarm payload (the `alarms/` folder itself is accepted too).
#[derive(Debug, Clone)]
pub struct RenderedDir {
    root: PathBuf,
}

impl RenderedDir {
    /// The directory given to `provision render --out`.
    pub fn new(root: impl Into<PathBuf>) -> RenderedDir {
        RenderedDir { root: root.into() }
    }

    fn alarms_dir(&self) -> PathBuf {
        let sub = self.root.join("alarms");
        if sub.is_dir() {
            sub
        } else {
            self.root.clone()
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".json"))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl AlarmSource for RenderedDir {
    fn alarm(&self, alarm_id: &str, env: &str) -> Result<serde_json::Value, String> {
        let dir = self.alarms_dir();
        let name = alarm_name(alarm_id, env);
        let path = dir.join(format!("{name}.json"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let names = RenderedDir::names(&dir);
                let prefix = alarm_name("", env);
                let hint = if names.iter().any(|n| n.starts_with(&prefix)) {
                    format!("no alarm `{alarm_id}` was rendered for {env}")
                } else {
                    format!(
                        "{} holds no {env} payloads: run `aistudio-sidecar provision render \
                         --env {env} --out DIR` and pass that DIR",
                        dir.display()
                    )
                };
                return Err(format!("{} not found: {hint}", path.display()));
            }
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}; render it again", path.display()))
    }

    fn alarm_ids(&self, env: &str) -> Vec<String> {
        let prefix = alarm_name("", env);
        RenderedDir::names(&self.alarms_dir())
            .into_iter()
            .filter_map(|n| n.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_dir_reads_payloads_and_explains_what_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let alarms = dir.path().join("alarms");
        std::fs::create_dir(&alarms).expect("mkdir");
        std::fs::write(
            alarms.join("aistudio-dev-cpu.json"),
            r#"{"AlarmName": "aistudio-dev-cpu"}"#,
        )
        .expect("write");
        std::fs::write(alarms.join("aistudio-dev-bad.json"), "{").expect("write");
        let src = RenderedDir::new(dir.path());
        let v = src.alarm("cpu", "dev").expect("found");
        assert_eq!(v["AlarmName"], "aistudio-dev-cpu");
        assert_eq!(src.alarm_ids("dev"), vec!["bad", "cpu"]);
        let e = src.alarm("cpuu", "dev").expect_err("unknown id");
        assert!(e.contains("no alarm `cpuu` was rendered for dev"), "{e}");
        let e = src.alarm("cpu", "prod").expect_err("other env");
        assert!(
            e.contains("holds no prod payloads: run `aistudio-sidecar provision render --env prod"),
            "{e}"
        );
        let e = src.alarm("bad", "dev").expect_err("not json");
        assert!(e.contains("is not JSON"), "{e}");
        // The alarms/ folder itself works too, and several sources answer in turn.
        let both = vec![
            RenderedDir::new(dir.path().join("nowhere")),
            RenderedDir::new(&alarms),
        ];
        assert!(both.alarm("cpu", "dev").is_ok());
        let e = both.alarm("cpuu", "dev").expect_err("unknown id");
        assert!(
            !e.contains("nowhere"),
            "the source that has dev explains: {e}"
        );
    }
}
