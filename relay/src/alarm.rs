//! CloudWatch's alarm notification (the JSON an alarm action publishes to SNS), read into the
//! facts a person needs: which alarm, which environment, what changed, why, and what to check
//! first.

use serde::Deserialize;

use aistudio_core::catalog::KNOWN_ENVIRONMENTS;

/// Where provision puts the runbook inside `AlarmDescription` (`render.rs`: "{description}
/// First check: {runbook}").
pub const RUNBOOK_MARKER: &str = "First check:";

/// The notification's fields the relay uses (CloudWatch adds more; they are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmNotification {
    /// The alarm's name.
    pub alarm_name: String,
    /// Description (and runbook).
    #[serde(default)]
    pub alarm_description: Option<String>,
    /// The alarm's ARN (its region is the console's).
    #[serde(default)]
    pub alarm_arn: Option<String>,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub new_state_value: String,
    /// The state before.
    #[serde(default)]
    pub old_state_value: Option<String>,
    /// CloudWatch's reason text.
    #[serde(default)]
    pub new_state_reason: Option<String>,
    /// When the state changed.
    #[serde(default)]
    pub state_change_time: Option<String>,
    /// The evaluated condition.
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// `Trigger`: a single metric, or a metric-math alarm (`Metrics`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    /// Metric name (single-metric alarms).
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Namespace (single-metric alarms).
    #[serde(default)]
    pub namespace: Option<String>,
    /// `AVERAGE`, `SUM`, … (single-metric alarms).
    #[serde(default)]
    pub statistic: Option<String>,
    /// `p95`, … when the alarm uses a percentile.
    #[serde(default)]
    pub extended_statistic: Option<String>,
    /// Seconds per period.
    #[serde(default)]
    pub period: Option<u64>,
    /// Periods evaluated.
    #[serde(default)]
    pub evaluation_periods: Option<u64>,
    /// Periods that must breach.
    #[serde(default)]
    pub datapoints_to_alarm: Option<u64>,
    /// `GreaterThanThreshold`, …
    #[serde(default)]
    pub comparison_operator: Option<String>,
    /// The threshold.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Metric-math queries (their presence marks a math alarm).
    #[serde(default)]
    pub metrics: Option<Vec<serde_json::Value>>,
}

impl AlarmNotification {
    /// Reads an SNS `Message` as an alarm notification, if it is one.
    pub fn parse(message: &str) -> Option<Self> {
        serde_json::from_str::<Self>(message).ok()
    }

    /// The environment, from the managed name prefix `aistudio-{env}-`.
    pub fn environment(&self) -> Option<&'static str> {
        let rest = self.alarm_name.strip_prefix("aistudio-")?;
        KNOWN_ENVIRONMENTS
            .iter()
            .copied()
            .find(|env| rest.starts_with(&format!("{env}-")))
    }

    /// The AWS region code, from the alarm ARN.
    pub fn region(&self) -> Option<&str> {
        self.alarm_arn.as_deref()?.split(':').nth(3)
    }

    /// The description without the runbook, and the runbook ("first check") line.
    pub fn description_and_runbook(&self) -> (Option<&str>, Option<&str>) {
        let Some(text) = self.alarm_description.as_deref() else {
            return (None, None);
        };
        match text.split_once(RUNBOOK_MARKER) {
            Some((desc, runbook)) => (non_empty(desc), non_empty(runbook)),
            None => (non_empty(text), None),
        }
    }
}

fn non_empty(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

impl Trigger {
    /// The condition in words: "Average of ResponseTimeMs (AIStudio/Streaming) greater than
    /// 2000 in 5 of 5 periods of 1 minute".
    pub fn in_words(&self) -> String {
        let what = match (&self.metric_name, &self.metrics) {
            (Some(name), _) => {
                let stat = self
                    .extended_statistic
                    .clone()
                    .or_else(|| self.statistic.as_deref().map(title_case))
                    .unwrap_or_else(|| "Value".to_owned());
                match &self.namespace {
                    Some(ns) => format!("{stat} of {name} ({ns})"),
                    None => format!("{stat} of {name}"),
                }
            }
            (None, Some(_)) => "The metric expression".to_owned(),
            (None, None) => "The metric".to_owned(),
        };
        let op = match self.comparison_operator.as_deref() {
            Some("GreaterThanThreshold") => "greater than",
            Some("GreaterThanOrEqualToThreshold") => "greater than or equal to",
            Some("LessThanThreshold") => "less than",
            Some("LessThanOrEqualToThreshold") => "less than or equal to",
            Some("LessThanLowerOrGreaterThanUpperThreshold") => "outside the band",
            Some("LessThanLowerThreshold") => "below the band",
            Some("GreaterThanUpperThreshold") => "above the band",
            _ => "compared with",
        };
        let threshold = self.threshold.map(format_number).unwrap_or_default();
        let mut out = format!("{what} {op} {threshold}").trim_end().to_owned();
        if let (Some(n), Some(period)) = (self.evaluation_periods, self.period) {
            let m = self.datapoints_to_alarm.unwrap_or(n);
            out.push_str(&format!(
                " in {m} of {n} periods of {}",
                duration_words(period)
            ));
        }
        out
    }
}

fn title_case(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

fn duration_words(secs: u64) -> String {
    match secs {
        60 => "1 minute".to_owned(),
        s if s % 3600 == 0 => format!("{} hours", s / 3600).replace("1 hours", "1 hour"),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runbook_environment_and_condition_are_read() {
        let n = AlarmNotification::parse(
            r#"{"AlarmName":"aistudio-prod-response-time-p95-high","AlarmDescription":"p95 above 2 s. First check: the Application Performance dashboard.","AlarmArn":"arn:aws:cloudwatch:eu-west-1:1:alarm:x","NewStateValue":"ALARM","Trigger":{"MetricName":"ResponseTimeMs","Namespace":"AIStudio/Streaming","ExtendedStatistic":"p95","Period":300,"EvaluationPeriods":3,"DatapointsToAlarm":2,"ComparisonOperator":"GreaterThanThreshold","Threshold":2000.0}}"#,
        )
        .unwrap();
        assert_eq!(n.environment(), Some("prod"));
        assert_eq!(n.region(), Some("eu-west-1"));
        assert_eq!(
            n.description_and_runbook(),
            (
                Some("p95 above 2 s."),
                Some("the Application Performance dashboard.")
            )
        );
        assert_eq!(
            n.trigger.unwrap().in_words(),
            "p95 of ResponseTimeMs (AIStudio/Streaming) greater than 2000 in 2 of 3 periods of 5 minutes"
        );
        assert!(AlarmNotification::parse("plain text").is_none());
    }
}
