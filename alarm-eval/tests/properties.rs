//! Properties of the evaluation rules over random evaluation ranges and timelines.

use alarm_eval::evaluate::{simulate, PeriodData};
use alarm_eval::{decide, Alarm, Point, State, TreatMissing};
use proptest::prelude::*;

fn point() -> impl Strategy<Value = Point> {
    prop_oneof![
        Just(Point::Missing),
        Just(Point::NotBreaching),
        Just(Point::Breaching)
    ]
}

fn treat() -> impl Strategy<Value = TreatMissing> {
    prop_oneof![
        Just(TreatMissing::Missing),
        Just(TreatMissing::Ignore),
        Just(TreatMissing::Breaching),
        Just(TreatMissing::NotBreaching)
    ]
}

fn state() -> impl Strategy<Value = State> {
    prop_oneof![
        Just(State::Ok),
        Just(State::Alarm),
        Just(State::InsufficientData)
    ]
}

/// (N, M, range of N + extra points).
fn shape() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..=10)
        .prop_flat_map(|n| (Just(n), 1..=n, 0usize..=3))
        .prop_map(|(n, m, extra)| (n, m, n + extra))
}

fn range() -> impl Strategy<Value = (usize, usize, Vec<Point>)> {
    shape().prop_flat_map(|(n, m, len)| (Just(n), Just(m), prop::collection::vec(point(), len)))
}

proptest! {
    #[test]
    fn not_breaching_never_alarms_on_all_missing((n, m, len) in shape(), current in state()) {
        let d = decide(&vec![Point::Missing; len], n, m, TreatMissing::NotBreaching, current);
        prop_assert_eq!(d.state, State::Ok);
    }

    #[test]
    fn breaching_always_alarms_on_all_missing((n, m, len) in shape(), current in state()) {
        let d = decide(&vec![Point::Missing; len], n, m, TreatMissing::Breaching, current);
        prop_assert_eq!(d.state, State::Alarm);
    }

    /// Replacing a missing point with a non-breaching one never turns OK into ALARM.
    #[test]
    fn a_non_breaching_point_never_moves_ok_to_alarm(
        (n, m, pts) in range(), t in treat(), current in state(), pick in any::<prop::sample::Index>()
    ) {
        let before = decide(&pts, n, m, t, current);
        let missing: Vec<usize> = (0..pts.len()).filter(|i| pts[*i] == Point::Missing).collect();
        prop_assume!(before.state == State::Ok && !missing.is_empty());
        let mut after = pts.clone();
        after[missing[pick.index(missing.len())]] = Point::NotBreaching;
        prop_assert_ne!(decide(&after, n, m, t, current).state, State::Alarm);
    }

    /// Turning a point into a breaching one never takes an alarm out of ALARM.
    #[test]
    fn more_breaching_never_clears_an_alarm(
        (n, m, pts) in range(), t in treat(), current in state(), pick in any::<prop::sample::Index>()
    ) {
        prop_assume!(decide(&pts, n, m, t, current).state == State::Alarm);
        let mut after = pts.clone();
        after[pick.index(pts.len())] = Point::Breaching;
        prop_assert_eq!(decide(&after, n, m, t, current).state, State::Alarm);
    }

    /// With at least N real points in the range, TreatMissingData is not used.
    #[test]
    fn enough_real_points_make_treat_missing_irrelevant((n, m, pts) in range(), current in state()) {
        prop_assume!(pts.iter().filter(|p| **p != Point::Missing).count() >= n);
        let states: Vec<State> = [TreatMissing::Missing, TreatMissing::Ignore, TreatMissing::Breaching, TreatMissing::NotBreaching]
            .iter()
            .map(|t| decide(&pts, n, m, *t, current).state)
            .collect();
        prop_assert!(states.windows(2).all(|w| w[0] == w[1]), "{:?}", states);
        prop_assert_eq!(decide(&pts, n, m, TreatMissing::Missing, current).filled, 0);
    }

    /// Exactly N points are evaluated: real ones plus filled ones.
    #[test]
    fn n_points_are_evaluated((n, m, pts) in range(), t in treat(), current in state()) {
        let real = pts.iter().filter(|p| **p != Point::Missing).count();
        let d = decide(&pts, n, m, t, current);
        prop_assert_eq!(d.filled, n.saturating_sub(real));
    }

    /// Notifications only on transitions, one per action, to the action lists of the new
    /// state; never while the state stays.
    #[test]
    fn notifications_only_on_transitions(values in prop::collection::vec(prop::option::of(0u8..4), 1..40), t in treat(), start in state()) {
        let treat_name = match t {
            TreatMissing::Missing => "missing",
            TreatMissing::Ignore => "ignore",
            TreatMissing::Breaching => "breaching",
            TreatMissing::NotBreaching => "notBreaching",
        };
        let alarm = Alarm::from_json(&serde_json::json!({
            "AlarmName": "aistudio-test-x",
            "MetricName": "M", "Namespace": "N", "Statistic": "Maximum", "Period": 60,
            "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": 2.0,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": treat_name,
            "AlarmActions": ["arn:a1", "arn:a2"], "OKActions": ["arn:ok"],
            "InsufficientDataActions": ["arn:insufficient"],
        })).expect("valid alarm");
        let data: Vec<PeriodData> = values.iter().map(|v| match v {
            Some(v) => PeriodData::Value(f64::from(*v)),
            None => PeriodData::Missing,
        }).collect();
        let tl = simulate(&alarm, &[data], values.len(), start, 5).expect("runs");
        let mut expected = Vec::new();
        let mut state = start;
        for row in &tl.rows {
            prop_assert_eq!(row.before, state);
            if row.decision.state != state {
                for a in alarm.actions_for(row.decision.state) {
                    expected.push((row.period, state, row.decision.state, a.clone()));
                }
            }
            state = row.decision.state;
        }
        let got: Vec<_> = tl.notifications.iter().map(|n| (n.period, n.from, n.to, n.action.clone())).collect();
        prop_assert_eq!(got, expected);
    }
}

fn alarm(treat: &str, n: usize, m: usize) -> Alarm {
    Alarm::from_json(&serde_json::json!({
        "AlarmName": "aistudio-test-x",
        "MetricName": "M", "Namespace": "N", "Statistic": "Sum", "Period": 60,
        "EvaluationPeriods": n, "DatapointsToAlarm": m, "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": treat,
    }))
    .expect("valid alarm")
}

proptest! {
    /// With notBreaching, ALARM always has M real breaching points in the evaluation range
    /// behind it: missing data alone never alarms.
    #[test]
    fn not_breaching_alarms_only_on_real_breaches(
        (n, m, _) in shape(), values in prop::collection::vec(prop::option::of(0u8..3), 1..60)
    ) {
        let a = alarm("notBreaching", n, m);
        let data: Vec<PeriodData> = values.iter().map(|v| v.map_or(PeriodData::Missing, |v| PeriodData::Value(f64::from(v)))).collect();
        let range = n + 2;
        let tl = simulate(&a, &[data], values.len(), State::Ok, range).expect("runs");
        for row in &tl.rows {
            if row.decision.state == State::Alarm {
                let from = row.period.saturating_sub(range);
                let real_breaches = values[from..row.period].iter().filter(|v| matches!(v, Some(v) if *v > 1)).count();
                prop_assert!(real_breaches >= m, "period {}: {} real breaches < M = {}", row.period, real_breaches, m);
            }
        }
    }

    /// A test file with any part replaced by arbitrary text never panics the runner: it passes,
    /// fails or reports an error at a line of the file.
    #[test]
    fn mangled_test_files_are_errors_not_panics(at in 0usize..400, len in 0usize..20, junk in "[ -~\n]{0,20}") {
        let good = "alarm = \"cpu\"\nenv = \"prod\"\nstart = 2026-01-05T10:00:00Z\n[[test]]\nname = \"t\"\nstate = \"OK\"\n\
                    series = [{ metric = \"M\", values = \"2 2 _ 5x3\" }, { metric = \"M\", dimensions = { A = \"b\" }, samples = [\"1x3 2\", { repeat = 2, samples = \"_\" }] }]\n\
                    expect = { 1 = \"OK\", 3 = \"ALARM\" }\nnotifications = [{ at = 1, transition = \"OK -> ALARM\", topic = \"t\" }]\n";
        let at = at.min(good.len());
        let end = (at + len).min(good.len());
        let text = format!("{}{}{}", &good[..at], junk, &good[end..]);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t.toml"), &text).expect("write");
        let source = |_: &str, env: &str| -> Result<serde_json::Value, String> {
            Ok(serde_json::json!({
                "AlarmName": format!("aistudio-{env}-cpu"), "MetricName": "M", "Namespace": "N",
                "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 2, "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanThreshold", "AlarmActions": ["arn:t"],
            }))
        };
        let report = alarm_eval::run_files(&[dir.path().to_path_buf()], &source);
        prop_assert!(!report.cases.is_empty());
        let lines = text.lines().count() + 1;
        for case in &report.cases {
            if let alarm_eval::Outcome::Error(e) = &case.outcome {
                prop_assert!(e.line >= 1 && e.line <= lines, "{}", e);
            }
        }
    }
}
