//! Evaluating metric-math expressions over one evaluation range, with CloudWatch's
//! missing-data rules (user guide, "Metric math syntax and functions", "Using IF
//! expressions").
//!
//! Supported: numbers, query ids, `+ - * / ^`, unary `-`, the comparison operators
//! `== != <= >= < >`, `AND`/`&&`, `OR`/`||`, arrays `[a, b]`, `METRICS()` / `METRICS("s")`,
//! `FILL(x, S | TS | REPEAT | LINEAR)`, `IF(cond, a[, b])`, `SUM`/`AVG`/`MIN`/`MAX` of an
//! array, `ABS`, `CEIL`, `FLOOR`. Anything else is refused as "not supported offline" rather
//! than evaluated wrongly.

use crate::mathexpr::{Expr, Op};

/// One time series over the evaluation range, oldest first; `None` is a missing point.
pub type Series = Vec<Option<f64>>;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A scalar.
    Scalar(f64),
    /// A time series.
    Series(Series),
    /// An array of time series.
    Array(Vec<Series>),
    /// A string argument.
    Str(String),
    /// A FILL mode keyword.
    Keyword(String),
}

/// What an expression can refer to.
pub trait Scope {
    /// The value of query `id` (a metric's series, or another expression evaluated).
    fn lookup(&self, id: &str) -> Result<Val, String>;
    /// `METRICS(filter)`: every metric query (not expressions) whose id contains `filter`.
    fn metrics(&self, filter: &str) -> Vec<Series>;
}

/// Evaluates `expr`.
pub fn eval(expr: &Expr, scope: &dyn Scope) -> Result<Val, String> {
    match expr {
        Expr::Num(n) => Ok(Val::Scalar(*n)),
        Expr::Str(s) => Ok(Val::Str(s.clone())),
        Expr::Keyword(k) => Ok(Val::Keyword(k.clone())),
        Expr::Ref(id) => scope.lookup(id),
        Expr::Neg(e) => binary(Op::Mul, Val::Scalar(-1.0), eval(e, scope)?),
        Expr::Bin(op, a, b) => binary(*op, eval(a, scope)?, eval(b, scope)?),
        Expr::List(items) => {
            let mut out = Vec::new();
            for item in items {
                match eval(item, scope)? {
                    Val::Series(s) => out.push(s),
                    Val::Array(a) => out.extend(a),
                    other => return Err(format!("an array holds time series, not {other:?}")),
                }
            }
            Ok(Val::Array(out))
        }
        Expr::Call(name, args) => {
            let vals = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<Vec<_>, _>>()?;
            call(name, vals, scope)
        }
    }
}

fn apply(op: Op, a: f64, b: f64) -> Option<f64> {
    let truth = |c: bool| Some(if c { 1.0 } else { 0.0 });
    let v = match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        // "If the value of a data point causes a function to attempt to divide by zero, the
        // data point is dropped."
        Op::Div if b == 0.0 => return None,
        Op::Div => a / b,
        Op::Pow => a.powf(b),
        Op::Eq => return truth(a == b),
        Op::Ne => return truth(a != b),
        Op::Lt => return truth(a < b),
        Op::Le => return truth(a <= b),
        Op::Gt => return truth(a > b),
        Op::Ge => return truth(a >= b),
        Op::And => return truth(a != 0.0 && b != 0.0),
        Op::Or => return truth(a != 0.0 || b != 0.0),
    };
    v.is_finite().then_some(v)
}

fn binary(op: Op, a: Val, b: Val) -> Result<Val, String> {
    Ok(match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => Val::Scalar(
            apply(op, x, y).ok_or_else(|| format!("{x} {op:?} {y} has no finite value"))?,
        ),
        (Val::Series(s), Val::Scalar(y)) => {
            Val::Series(s.iter().map(|x| x.and_then(|x| apply(op, x, y))).collect())
        }
        (Val::Scalar(x), Val::Series(s)) => {
            Val::Series(s.iter().map(|y| y.and_then(|y| apply(op, x, y))).collect())
        }
        // "Missing values in a time series are treated as 0" (arithmetic), and "when
        // comparison operators are used between two time series, and only one of the time
        // series has a value for a particular time stamp, the function treats the missing
        // value in the other time series as 0". A timestamp neither has stays missing.
        (Val::Series(s), Val::Series(t)) => Val::Series(
            s.iter()
                .zip(&t)
                .map(|(x, y)| match (x, y) {
                    (None, None) => None,
                    _ => apply(op, x.unwrap_or(0.0), y.unwrap_or(0.0)),
                })
                .collect(),
        ),
        (Val::Array(arr), other @ (Val::Scalar(_) | Val::Series(_))) => Val::Array(
            arr.into_iter()
                .map(|s| series_of(binary(op, Val::Series(s), other.clone())?))
                .collect::<Result<_, _>>()?,
        ),
        (other @ (Val::Scalar(_) | Val::Series(_)), Val::Array(arr)) => Val::Array(
            arr.into_iter()
                .map(|s| series_of(binary(op, other.clone(), Val::Series(s))?))
                .collect::<Result<_, _>>()?,
        ),
        (a, b) => {
            return Err(format!(
                "{op:?} of {a:?} and {b:?} is not supported offline"
            ))
        }
    })
}

fn series_of(v: Val) -> Result<Series, String> {
    match v {
        Val::Series(s) => Ok(s),
        other => Err(format!("expected a time series, got {other:?}")),
    }
}

fn call(name: &str, args: Vec<Val>, scope: &dyn Scope) -> Result<Val, String> {
    match (name, args.as_slice()) {
        ("METRICS", []) => Ok(Val::Array(scope.metrics(""))),
        ("METRICS", [Val::Str(f)]) => Ok(Val::Array(scope.metrics(f))),
        ("FILL", [x, with]) => fill(x, with),
        ("IF", [c, a]) => if_expr(c, a, None),
        ("IF", [c, a, b]) => if_expr(c, a, Some(b)),
        ("SUM" | "AVG" | "MIN" | "MAX", [Val::Array(arr)]) => Ok(Val::Series(reduce(name, arr))),
        ("SUM" | "AVG" | "MIN" | "MAX", [Val::Series(_)]) => Err(format!(
            "{name} of a single time series is a scalar over every point CloudWatch fetched, \
             which depends on the evaluation range it uses: not supported offline (the guide \
             recommends against it in alarms)"
        )),
        ("ABS" | "CEIL" | "FLOOR", [x]) => {
            let f = match name {
                "ABS" => f64::abs,
                "CEIL" => f64::ceil,
                _ => f64::floor,
            };
            map_points(x, &|v| Some(f(v)))
        }
        _ => Err(format!(
            "{name} with {} argument(s) is not supported offline (supported: METRICS, FILL, IF, \
             SUM, AVG, MIN, MAX, ABS, CEIL, FLOOR and the operators)",
            args.len()
        )),
    }
}

fn map_points(x: &Val, f: &dyn Fn(f64) -> Option<f64>) -> Result<Val, String> {
    Ok(match x {
        Val::Scalar(v) => Val::Scalar(f(*v).ok_or("no finite value")?),
        Val::Series(s) => Val::Series(s.iter().map(|v| v.and_then(f)).collect()),
        Val::Array(a) => Val::Array(
            a.iter()
                .map(|s| s.iter().map(|v| v.and_then(f)).collect())
                .collect(),
        ),
        other => return Err(format!("expected a number or time series, got {other:?}")),
    })
}

/// SUM/AVG/MIN/MAX across an array, per timestamp. SUM and AVG treat a missing value as 0
/// ("Missing values are treated as 0", AVG); MIN and MAX take the values present. A timestamp
/// no series has stays missing.
fn reduce(name: &str, arr: &[Series]) -> Series {
    let len = arr.iter().map(Vec::len).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let present: Vec<f64> = arr
                .iter()
                .filter_map(|s| s.get(i).copied().flatten())
                .collect();
            if present.is_empty() {
                return None;
            }
            Some(match name {
                "SUM" => present.iter().sum(),
                "AVG" => present.iter().sum::<f64>() / arr.len() as f64,
                "MIN" => present.iter().copied().fold(f64::INFINITY, f64::min),
                _ => present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            })
        })
        .collect()
}

fn fill_one(s: &Series, with: &Val) -> Result<Series, String> {
    Ok(match with {
        Val::Scalar(v) => s.iter().map(|x| Some(x.unwrap_or(*v))).collect(),
        Val::Series(t) => s.iter().zip(t).map(|(x, y)| x.or(*y)).collect(),
        Val::Keyword(k) if k == "REPEAT" => {
            let mut last = None;
            s.iter()
                .map(|x| {
                    if x.is_some() {
                        last = *x;
                    }
                    last
                })
                .collect()
        }
        Val::Keyword(_) => {
            // LINEAR: interpolate inside gaps that have a value on both sides; the edges of
            // the range stay missing (there is nothing to interpolate from).
            let mut out = s.clone();
            let known: Vec<usize> = (0..s.len()).filter(|i| s[*i].is_some()).collect();
            for pair in known.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let (va, vb) = (s[a].unwrap_or_default(), s[b].unwrap_or_default());
                for (i, slot) in out.iter_mut().enumerate().take(b).skip(a + 1) {
                    *slot = Some(va + (vb - va) * (i - a) as f64 / (b - a) as f64);
                }
            }
            out
        }
        other => return Err(format!("FILL with {other:?} is not supported")),
    })
}

fn fill(x: &Val, with: &Val) -> Result<Val, String> {
    match x {
        Val::Series(s) => Ok(Val::Series(fill_one(s, with)?)),
        Val::Array(a) => Ok(Val::Array(
            a.iter()
                .map(|s| fill_one(s, with))
                .collect::<Result<_, _>>()?,
        )),
        other => Err(format!(
            "FILL needs a time series or an array, got {other:?}"
        )),
    }
}

/// IF, as "Using IF expressions" in the guide: per timestamp of the condition, the true
/// branch's value (a missing true-branch point is 0), else the false branch's value (a
/// missing false-branch point, or no false branch, drops the point); a missing condition
/// point drops the point.
fn if_expr(c: &Val, a: &Val, b: Option<&Val>) -> Result<Val, String> {
    let at = |v: Option<&Val>, i: usize, missing_is_zero: bool| -> Option<f64> {
        match v {
            Some(Val::Scalar(s)) => Some(*s),
            Some(Val::Series(s)) => match s.get(i).copied().flatten() {
                Some(x) => Some(x),
                None if missing_is_zero => Some(0.0),
                None => None,
            },
            _ => None,
        }
    };
    match c {
        Val::Scalar(cond) => match (cond != &0.0, b) {
            (true, _) => Ok(a.clone()),
            (false, Some(b)) => Ok(b.clone()),
            (false, None) => Ok(Val::Series(Vec::new())),
        },
        Val::Series(cs) => Ok(Val::Series(
            cs.iter()
                .enumerate()
                .map(|(i, cv)| match cv {
                    None => None,
                    Some(v) if *v != 0.0 => at(Some(a), i, true),
                    Some(_) => at(b, i, false),
                })
                .collect(),
        )),
        other => Err(format!(
            "IF needs a time series or scalar condition, got {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mathexpr::parse;

    struct Fixed(Vec<(&'static str, Series)>);

    impl Scope for Fixed {
        fn lookup(&self, id: &str) -> Result<Val, String> {
            self.0
                .iter()
                .find(|(k, _)| *k == id)
                .map(|(_, s)| Val::Series(s.clone()))
                .ok_or_else(|| format!("no {id}"))
        }
        fn metrics(&self, filter: &str) -> Vec<Series> {
            self.0
                .iter()
                .filter(|(k, _)| k.contains(filter))
                .map(|(_, s)| s.clone())
                .collect()
        }
    }

    fn run(text: &str, scope: &Fixed) -> Val {
        eval(&parse(text).expect("parses"), scope).expect("evaluates")
    }

    #[test]
    fn guide_comparison_examples() {
        // "Comparison and logical operators": metric1 [30, 20, 0, 0], metric2 [20, -, 20, -].
        let s = Fixed(vec![
            (
                "metric1",
                vec![Some(30.0), Some(20.0), Some(0.0), Some(0.0)],
            ),
            ("metric2", vec![Some(20.0), None, Some(20.0), None]),
        ]);
        let ones = |v: &[f64]| Val::Series(v.iter().map(|x| Some(*x)).collect());
        assert_eq!(run("(metric1 < metric2)", &s), ones(&[0.0, 0.0, 1.0, 0.0]));
        assert_eq!(run("(metric1 >= 30)", &s), ones(&[1.0, 0.0, 0.0, 0.0]));
        // metric2 > 15 is missing where metric2 is; AND of two series treats that as 0.
        assert_eq!(
            run("(metric1 > 15 AND metric2 > 15)", &s),
            ones(&[1.0, 0.0, 0.0, 0.0])
        );
    }

    #[test]
    fn guide_if_examples() {
        let s = Fixed(vec![
            (
                "metric1",
                vec![Some(1.0), Some(1.0), Some(0.0), Some(0.0), None],
            ),
            (
                "metric2",
                vec![Some(30.0), None, Some(0.0), Some(0.0), Some(30.0)],
            ),
            (
                "metric3",
                vec![Some(0.0), Some(0.0), Some(20.0), None, Some(20.0)],
            ),
        ]);
        let v = |xs: [Option<f64>; 5]| Val::Series(xs.to_vec());
        assert_eq!(
            run("IF(metric1, metric2, metric3)", &s),
            v([Some(30.0), Some(0.0), Some(20.0), None, None])
        );
        assert_eq!(
            run("IF(metric1, 5, metric3)", &s),
            v([Some(5.0), Some(5.0), Some(20.0), None, None])
        );
        assert_eq!(
            run("IF(metric1, metric2, 5)", &s),
            v([Some(30.0), Some(0.0), Some(5.0), Some(5.0), None])
        );
    }

    #[test]
    fn fill_and_division_by_zero() {
        let s = Fixed(vec![
            ("errors", vec![None, Some(3.0), None]),
            ("requests", vec![None, Some(60.0), Some(10.0)]),
        ]);
        assert_eq!(
            run("100 * FILL(errors, 0) / requests", &s),
            Val::Series(vec![None, Some(5.0), Some(0.0)])
        );
        assert_eq!(
            run("FILL(errors, REPEAT)", &s),
            Val::Series(vec![None, Some(3.0), Some(3.0)])
        );
        assert_eq!(
            run("SUM(METRICS())", &s),
            Val::Series(vec![None, Some(63.0), Some(10.0)])
        );
        assert_eq!(
            run("SUM([errors, requests])", &s),
            run("SUM(METRICS())", &s)
        );
        assert_eq!(
            run("-errors + 1", &s),
            Val::Series(vec![None, Some(-2.0), None])
        );
    }

    #[test]
    fn linear_fill_interpolates_inside_gaps_only() {
        let s = Fixed(vec![(
            "m",
            vec![None, Some(0.0), None, None, Some(3.0), None],
        )]);
        assert_eq!(
            run("FILL(m, LINEAR)", &s),
            Val::Series(vec![None, Some(0.0), Some(1.0), Some(2.0), Some(3.0), None])
        );
    }

    #[test]
    fn unsupported_functions_are_refused() {
        let s = Fixed(vec![("m", vec![Some(1.0)])]);
        let err = eval(&parse("ANOMALY_DETECTION_BAND(m)").expect("parses"), &s)
            .expect_err("unsupported");
        assert!(err.contains("not supported offline"), "{err}");
        let err = eval(&parse("SUM(m)").expect("parses"), &s).expect_err("scalar");
        assert!(err.contains("not supported offline"), "{err}");
    }
}
