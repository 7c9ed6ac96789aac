//! The state of an alarm status widget's alarms: each alarm's rendered PutMetricAlarm payload
//! run through the offline alarm engine (`alarm_eval::simulate`) over the preview's data,
//! the state after the last period; "not evaluated" with the reason when that is not
//! possible (the alarm is not ours, or uses what the engine refuses).

use alarm_eval::evaluate::{default_evaluation_range, simulate, PeriodData};
use alarm_eval::{Alarm, State};
use provision::render::AlarmSpec;

use crate::datums::{MetricData, MetricKey};
use crate::math::Range;
use crate::stats::period_starts;

/// What an alarm widget shows for one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmStatus {
    /// The alarm name (from the ARN).
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`, or `None`: not evaluated.
    pub state: Option<&'static str>,
    /// Why not evaluated, or how many periods were evaluated.
    pub detail: String,
}

/// The alarm name of an alarm ARN (`arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME`); a bare
/// name stays as it is.
pub fn alarm_name(arn: &str) -> &str {
    arn.split_once(":alarm:").map_or(arn, |(_, name)| name)
}

/// Evaluates the alarm `arn` over `range` of `data`.
pub fn status(arn: &str, alarms: &[AlarmSpec], data: &dyn MetricData, range: Range) -> AlarmStatus {
    let name = alarm_name(arn).to_owned();
    let not_evaluated = |detail: String| AlarmStatus {
        name: name.clone(),
        state: None,
        detail,
    };
    let Some(spec) = alarms.iter().find(|a| a.alarm_name == name) else {
        return not_evaluated("not evaluated: the alarm is not defined in alarms/".into());
    };
    let alarm = match serde_json::to_value(spec)
        .map_err(|e| e.to_string())
        .and_then(|json| Alarm::from_json(&json))
    {
        Ok(a) => a,
        Err(e) => return not_evaluated(format!("not evaluated: {e}")),
    };
    let period = alarm.period.max(1);
    let starts = period_starts(range.from, range.to, period);
    let series: Vec<Vec<PeriodData>> = alarm
        .metrics
        .iter()
        .map(|m| {
            let key = MetricKey::new(
                &m.namespace,
                &m.metric_name,
                m.dimensions
                    .iter()
                    .map(|d| (d.name.clone(), d.value.clone()))
                    .collect(),
            );
            let (values, _) = data.series(&key, &m.stat, period, &starts);
            values
                .into_iter()
                .map(|v| v.map_or(PeriodData::Missing, PeriodData::Value))
                .collect()
        })
        .collect();
    let range_len = default_evaluation_range(alarm.evaluation_periods);
    match simulate(
        &alarm,
        &series,
        starts.len(),
        State::InsufficientData,
        range_len,
    ) {
        Ok(timeline) => match timeline.rows.last() {
            Some(row) => AlarmStatus {
                name,
                state: Some(row.decision.state.as_str()),
                detail: format!(
                    "offline engine, {} period(s) of {period} s",
                    timeline.rows.len()
                ),
            },
            None => not_evaluated("not evaluated: the data covers no period".into()),
        },
        Err(e) => not_evaluated(format!("not evaluated: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_arns() {
        assert_eq!(
            alarm_name("arn:aws:cloudwatch:us-east-1:123:alarm:aistudio-dev-x"),
            "aistudio-dev-x"
        );
        assert_eq!(alarm_name("plain"), "plain");
    }
}
