//! The two tables of the CloudWatch user guide's "How alarm state is evaluated when data is
//! missing" (3 of 3 and 2 of 3, evaluation range 5), every row under the four
//! TreatMissingData settings, plus the rows an earlier edition of the page had and the cases
//! of "Avoiding premature transitions to alarm state".

use alarm_eval::{decide, Point, State, TreatMissing};

/// "0" not breaching, "X" breaching, "-" missing; oldest first, as in the guide.
fn points(row: &str) -> Vec<Point> {
    row.split_whitespace()
        .map(|p| match p {
            "0" => Point::NotBreaching,
            "X" => Point::Breaching,
            "-" => Point::Missing,
            other => panic!("bad point {other}"),
        })
        .collect()
}

/// "Retain current state" in the guide: checked from every starting state.
const RETAIN: Option<State> = None;
const OK: Option<State> = Some(State::Ok);
const ALARM: Option<State> = Some(State::Alarm);
const INSUFFICIENT: Option<State> = Some(State::InsufficientData);

/// Columns MISSING, IGNORE, BREACHING, NOT BREACHING.
const TREATS: [TreatMissing; 4] = [
    TreatMissing::Missing,
    TreatMissing::Ignore,
    TreatMissing::Breaching,
    TreatMissing::NotBreaching,
];

fn check(m: usize, row: &str, filled: usize, expected: [Option<State>; 4]) {
    let pts = points(row);
    for (treat, want) in TREATS.iter().zip(expected) {
        for current in [State::Ok, State::Alarm, State::InsufficientData] {
            let d = decide(&pts, 3, m, *treat, current);
            let want = want.unwrap_or(current);
            assert_eq!(
                d.state, want,
                "{m} of 3, `{row}`, {treat:?}, from {current:?}: {d:?}"
            );
            assert_eq!(d.filled, filled, "{m} of 3, `{row}`: points to fill");
        }
    }
}

#[test]
fn table_3_of_3() {
    check(3, "0 - X - X", 0, [OK, OK, OK, OK]);
    check(3, "0 - - - -", 2, [OK, OK, OK, OK]);
    check(3, "- - - - -", 3, [INSUFFICIENT, RETAIN, ALARM, OK]);
    check(3, "0 X X - X", 0, [ALARM, ALARM, ALARM, ALARM]);
    // Premature alarm state: the oldest breach is old enough, nothing after it but missing.
    check(3, "- - X - -", 2, [ALARM, RETAIN, ALARM, OK]);
}

#[test]
fn table_2_of_3() {
    check(2, "0 - X - X", 0, [ALARM, ALARM, ALARM, ALARM]);
    check(2, "0 0 X 0 X", 0, [ALARM, ALARM, ALARM, ALARM]);
    check(2, "0 - X - -", 1, [OK, OK, ALARM, OK]);
    check(2, "- - - - 0", 2, [OK, OK, ALARM, OK]);
    check(2, "- - - X -", 2, [ALARM, RETAIN, ALARM, OK]);
}

/// Rows of an earlier edition of the same page (awsdocs/amazon-cloudwatch-user-guide,
/// AlarmThatSendsEmail.md): a lone recent breach waits (INSUFFICIENT_DATA with `missing`), a
/// lone old breach with only missing points after it alarms.
#[test]
fn earlier_edition_rows() {
    check(3, "- - - - X", 2, [INSUFFICIENT, RETAIN, ALARM, OK]);
    check(3, "X - - - -", 2, [ALARM, RETAIN, ALARM, OK]);
    check(2, "- - - - X", 2, [INSUFFICIENT, RETAIN, ALARM, OK]);
}

/// "Avoiding premature transitions to alarm state": with 3 of 3, `- - - - X` and `- - - X -`
/// do not go to ALARM (the next point may be non-breaching), and neither do `- - - X 0` or
/// `- - X - 0` once it comes.
#[test]
fn premature_transitions_are_avoided() {
    for row in ["- - - - X", "- - - X -", "- - - X 0", "- - X - 0"] {
        for treat in [TreatMissing::Missing, TreatMissing::Ignore] {
            let d = decide(&points(row), 3, 3, treat, State::Ok);
            assert_ne!(d.state, State::Alarm, "`{row}` {treat:?}: {d:?}");
        }
    }
}

/// "Evaluating an alarm": M of N need not be consecutive.
#[test]
fn m_of_n_need_not_be_consecutive() {
    let d = decide(&points("X 0 X 0 X"), 5, 3, TreatMissing::Missing, State::Ok);
    assert_eq!(d.state, State::Alarm);
    let d = decide(&points("X 0 X 0 0"), 5, 3, TreatMissing::Missing, State::Ok);
    assert_eq!(d.state, State::Ok);
}
