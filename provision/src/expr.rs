//! A checker for CloudWatch metric-math ids and expressions: tokens, balanced brackets,
//! known functions, and references to ids that exist.

use std::collections::BTreeSet;

/// Metric-math functions and bare keywords CloudWatch knows (CloudWatch User Guide, "Metric
/// math syntax and functions").
const FUNCTIONS: &[&str] = &[
    "ABS",
    "ANOMALY_DETECTION_BAND",
    "AVG",
    "CEIL",
    "DATAPOINT_COUNT",
    "DAY",
    "DB_PERF_INSIGHTS",
    "DIFF",
    "DIFF_TIME",
    "EPOCH",
    "FILL",
    "FIRST",
    "FLOOR",
    "HOUR",
    "IF",
    "INSIGHT_RULE_METRIC",
    "LAMBDA",
    "LAST",
    "LOG",
    "LOG10",
    "MAX",
    "METRIC_COUNT",
    "METRICS",
    "MIN",
    "MINUTE",
    "MONTH",
    "PERIOD",
    "RATE",
    "REMOVE_EMPTY",
    "RUNNING_SUM",
    "SEARCH",
    "SERVICE_QUOTA",
    "SLICE",
    "SORT",
    "STDDEV",
    "SUM",
    "TIME_SERIES",
    "YEAR",
];
/// Bare words allowed as arguments (`FILL(m, REPEAT)`, `SORT(m, SUM, DESC)`).
const KEYWORDS: &[&str] = &["REPEAT", "LINEAR", "ASC", "DESC", "AND", "OR", "NOT"];

/// Whether `id` is a valid metric query id: a lowercase letter, then letters, digits, `_`
/// (PutMetricAlarm `MetricDataQuery.Id`).
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 255
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num,
    Str,
    Ident(String),
    Op(&'static str),
    Open(char),
    Close(char),
    Comma,
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else if c == '\'' || c == '"' {
            let quote = c;
            i += 1;
            while i < chars.len() && chars[i] != quote {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            if i >= chars.len() {
                return Err(format!("unterminated string starting with {quote}"));
            }
            i += 1;
            out.push(Tok::Str);
        } else if matches!(c, '(' | '[') {
            out.push(Tok::Open(c));
            i += 1;
        } else if matches!(c, ')' | ']') {
            out.push(Tok::Close(c));
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = ["<=", ">=", "==", "!="]
                .into_iter()
                .find(|op| *op == two)
                .or_else(|| {
                    ["+", "-", "*", "/", "^", "<", ">"]
                        .into_iter()
                        .find(|op| op.starts_with(c))
                });
            match op {
                Some(op) => {
                    i += op.len();
                    out.push(Tok::Op(op));
                }
                None => return Err(format!("unexpected character `{c}`")),
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    ids: &'a BTreeSet<String>,
    used: BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// expr := unary (binop unary)*
    fn expr(&mut self) -> Result<(), String> {
        self.unary()?;
        while let Some(Tok::Op(_)) | Some(Tok::Ident(_)) = self.peek() {
            match self.peek() {
                Some(Tok::Ident(w)) if w == "AND" || w == "OR" => {}
                Some(Tok::Op(_)) => {}
                _ => break,
            }
            self.next();
            self.unary()?;
        }
        Ok(())
    }

    fn unary(&mut self) -> Result<(), String> {
        match self.peek() {
            Some(Tok::Op("-")) | Some(Tok::Op("+")) => {
                self.next();
                self.unary()
            }
            Some(Tok::Ident(w)) if w == "NOT" => {
                self.next();
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Tok::Num) | Some(Tok::Str) => Ok(()),
            Some(Tok::Open('(')) => {
                self.expr()?;
                self.close(')')
            }
            Some(Tok::Open('[')) => {
                self.list(']')?;
                Ok(())
            }
            Some(Tok::Ident(name)) => {
                if self.peek() == Some(&Tok::Open('(')) {
                    if !FUNCTIONS.contains(&name.as_str()) {
                        return Err(format!("unknown function `{name}`"));
                    }
                    self.next();
                    self.list(')')
                } else if FUNCTIONS.contains(&name.as_str()) || KEYWORDS.contains(&name.as_str()) {
                    Ok(())
                } else if self.ids.contains(&name) {
                    self.used.insert(name);
                    Ok(())
                } else {
                    Err(format!("`{name}` is not the id of another query here"))
                }
            }
            Some(tok) => Err(format!("unexpected {}", describe(&tok))),
            None => Err("the expression ends too early".to_owned()),
        }
    }

    fn list(&mut self, close: char) -> Result<(), String> {
        if self.peek() == Some(&Tok::Close(close)) {
            self.next();
            return Ok(());
        }
        loop {
            self.expr()?;
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::Close(c)) if c == close => return Ok(()),
                Some(tok) => {
                    return Err(format!(
                        "expected `,` or `{close}`, found {}",
                        describe(&tok)
                    ))
                }
                None => return Err(format!("missing `{close}`")),
            }
        }
    }

    fn close(&mut self, close: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Close(c)) if c == close => Ok(()),
            Some(tok) => Err(format!("expected `{close}`, found {}", describe(&tok))),
            None => Err(format!("missing `{close}`")),
        }
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Num => "a number".into(),
        Tok::Str => "a string".into(),
        Tok::Ident(n) => format!("`{n}`"),
        Tok::Op(op) => format!("`{op}`"),
        Tok::Open(c) | Tok::Close(c) => format!("`{c}`"),
        Tok::Comma => "`,`".into(),
    }
}

/// Checks an expression against the ids defined beside it; returns the ids it uses.
pub fn check_expression(expr: &str, ids: &BTreeSet<String>) -> Result<BTreeSet<String>, String> {
    if expr.trim().is_empty() {
        return Err("the expression is empty".to_owned());
    }
    let toks = tokenize(expr)?;
    let mut parser = Parser {
        toks,
        pos: 0,
        ids,
        used: BTreeSet::new(),
    };
    parser.expr()?;
    if let Some(tok) = parser.peek() {
        return Err(format!(
            "unexpected {} after a complete expression",
            describe(tok)
        ));
    }
    Ok(parser.used)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn accepts_catalog_expressions() {
        let known = ids(&["errors", "requests", "m1"]);
        for expr in [
            "100 * FILL(errors, 0) / requests",
            "IF(requests > 0, 100 * errors / requests, 0)",
            "SEARCH('{AIStudio/Streaming,Environment,Endpoint} MetricName=\"ErrorCount\"', 'Sum', 60)",
            "SORT(METRICS(), SUM, DESC)",
            "FILL(m1, REPEAT)",
            "-m1 + [m1, errors]",
        ] {
            assert!(check_expression(expr, &known).is_ok(), "{expr}: {:?}", check_expression(expr, &known));
        }
        assert_eq!(
            check_expression("errors / requests", &known).ok(),
            Some(ids(&["errors", "requests"]))
        );
    }

    #[test]
    fn rejects_broken_expressions() {
        let known = ids(&["a", "b"]);
        for (expr, want) in [
            ("a / (b", "missing `)`"),
            ("a / c", "`c` is not the id"),
            ("NOPE(a)", "unknown function `NOPE`"),
            ("a b", "unexpected `b`"),
            ("a / ", "ends too early"),
            ("'open", "unterminated string"),
            ("a % b", "unexpected character `%`"),
            ("", "empty"),
        ] {
            let err = check_expression(expr, &known).expect_err(expr);
            assert!(err.contains(want), "{expr}: {err}");
        }
    }

    #[test]
    fn ids_start_lowercase() {
        assert!(is_valid_id("errors_5xx"));
        assert!(!is_valid_id("Errors"));
        assert!(!is_valid_id("1a"));
        assert!(!is_valid_id("a-b"));
        assert!(!is_valid_id(""));
    }
}
