//! Parsing metric-math expressions of alarms (evaluation is in [`crate::matheval`]).
//!
//! Grammar: numbers, query ids (lowercase first letter), strings, `REPEAT`/`LINEAR`, function
//! calls `NAME(args)`, arrays `[a, b]`, unary `-`, and binary operators loosest first: `OR`
//! `||`, `AND` `&&`, `== != < <= > >=`, `+ -`, `* /`, `^` (right-associative).

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `AND`, `&&`
    And,
    /// `OR`, `||`
    Or,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// Another query's id.
    Ref(String),
    /// A string argument (`METRICS("errors")`).
    Str(String),
    /// `REPEAT` or `LINEAR` (FILL modes).
    Keyword(String),
    /// Unary minus.
    Neg(Box<Expr>),
    /// A binary operation.
    Bin(Op, Box<Expr>, Box<Expr>),
    /// A function call.
    Call(String, Vec<Expr>),
    /// An array `[a, b]`.
    List(Vec<Expr>),
}

impl Expr {
    /// The query ids the expression refers to.
    pub fn references(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_refs(&mut out);
        out
    }

    fn collect_refs(&self, out: &mut Vec<String>) {
        match self {
            Expr::Ref(id) => out.push(id.clone()),
            Expr::Neg(e) => e.collect_refs(out),
            Expr::Bin(_, a, b) => {
                a.collect_refs(out);
                b.collect_refs(out);
            }
            Expr::Call(_, args) | Expr::List(args) => args.iter().for_each(|a| a.collect_refs(out)),
            Expr::Num(_) | Expr::Str(_) | Expr::Keyword(_) => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Str(String),
    Punct(&'static str),
}

const PUNCTS: [&str; 18] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "^", "(", ")", "[", "]", ",",
];

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if c.is_ascii_digit() || c == '.' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .unwrap_or(rest.len());
            let n = rest[..end]
                .parse::<f64>()
                .map_err(|_| format!("`{}` is not a number", &rest[..end]))?;
            out.push(Tok::Num(n));
            rest = &rest[end..];
        } else if c.is_ascii_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            out.push(Tok::Name(rest[..end].to_owned()));
            rest = &rest[end..];
        } else if c == '"' {
            let body = &rest[1..];
            let end = body.find('"').ok_or("unterminated string")?;
            out.push(Tok::Str(body[..end].to_owned()));
            rest = &body[end + 1..];
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            out.push(Tok::Punct(p));
            rest = &rest[p.len()..];
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(out)
}

/// Parses an expression.
pub fn parse(text: &str) -> Result<Expr, String> {
    let toks = tokenize(text)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.binary(0)?;
    match p.toks.get(p.pos) {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after the expression")),
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

/// Binding strength, loosest first: OR, AND, comparisons, + -, * /, ^.
fn op_of(tok: &Tok) -> Option<(Op, u8)> {
    Some(match tok {
        Tok::Name(n) if n == "OR" => (Op::Or, 0),
        Tok::Punct("||") => (Op::Or, 0),
        Tok::Name(n) if n == "AND" => (Op::And, 1),
        Tok::Punct("&&") => (Op::And, 1),
        Tok::Punct("==") => (Op::Eq, 2),
        Tok::Punct("!=") => (Op::Ne, 2),
        Tok::Punct("<") => (Op::Lt, 2),
        Tok::Punct("<=") => (Op::Le, 2),
        Tok::Punct(">") => (Op::Gt, 2),
        Tok::Punct(">=") => (Op::Ge, 2),
        Tok::Punct("+") => (Op::Add, 3),
        Tok::Punct("-") => (Op::Sub, 3),
        Tok::Punct("*") => (Op::Mul, 4),
        Tok::Punct("/") => (Op::Div, 4),
        Tok::Punct("^") => (Op::Pow, 5),
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, p: &'static str) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(q)) if q == p => Ok(()),
            other => Err(format!("expected `{p}`, found {other:?}")),
        }
    }

    fn binary(&mut self, min: u8) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some((op, level)) = self.peek().and_then(op_of) {
            if level < min {
                break;
            }
            self.pos += 1;
            // `^` is right-associative, the others left-associative.
            let next_min = if op == Op::Pow { level } else { level + 1 };
            let right = self.binary(next_min)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Punct("-")) {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn list(&mut self, close: &'static str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.peek() == Some(&Tok::Punct(close)) {
            self.pos += 1;
            return Ok(items);
        }
        loop {
            items.push(self.binary(0)?);
            match self.next() {
                Some(Tok::Punct(",")) => {}
                Some(Tok::Punct(p)) if p == close => return Ok(items),
                other => return Err(format!("expected `,` or `{close}`, found {other:?}")),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Punct("(")) => {
                let e = self.binary(0)?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Punct("[")) => Ok(Expr::List(self.list("]")?)),
            Some(Tok::Name(name)) => {
                if self.peek() == Some(&Tok::Punct("(")) {
                    self.pos += 1;
                    let args = self.list(")")?;
                    return Ok(Expr::Call(name, args));
                }
                match name.as_str() {
                    "REPEAT" | "LINEAR" => Ok(Expr::Keyword(name)),
                    _ if name.starts_with(|c: char| c.is_ascii_lowercase()) => Ok(Expr::Ref(name)),
                    _ => Err(format!(
                        "`{name}` is neither a function call nor a query id (ids start with a \
                         lowercase letter)"
                    )),
                }
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_errors() {
        assert_eq!(
            parse("1 + 2 * 3 ^ 2").expect("parses"),
            Expr::Bin(
                Op::Add,
                Box::new(Expr::Num(1.0)),
                Box::new(Expr::Bin(
                    Op::Mul,
                    Box::new(Expr::Num(2.0)),
                    Box::new(Expr::Bin(
                        Op::Pow,
                        Box::new(Expr::Num(3.0)),
                        Box::new(Expr::Num(2.0))
                    ))
                ))
            )
        );
        assert_eq!(
            parse("FILL(METRICS(\"err\"), REPEAT)")
                .expect("parses")
                .references(),
            Vec::<String>::new()
        );
        assert_eq!(
            parse("-a + [b, c] / d").expect("parses").references(),
            vec!["a", "b", "c", "d"]
        );
        for bad in ["1 +", "FILL(m, 0", "Errors", "m1 $ 2", "\"open"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
