//! A catalog's plural rule: the C expression of its `Plural-Forms` header
//! (`nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : …);`), which picks the
//! form for a count, as GNU gettext reads it (its manual, "Plural forms").

/// A parsed `plural=` expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PluralRule {
    expr: Expr,
    forms: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    N,
    Number(u64),
    Not(Box<Expr>),
    Binary(Op, Box<Expr>, Box<Expr>),
    Choose(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A tree deeper than this is refused rather than built: evaluating and
/// dropping it recurse once per level. Real rules are under 20 deep.
const MAX_DEPTH: usize = 64;

impl PluralRule {
    /// The rule of languages with two forms, singular for 1 (English,
    /// German…): gettext's default when a catalog names none.
    pub(crate) fn germanic() -> Self {
        PluralRule { expr: Expr::Binary(Op::Ne, Box::new(Expr::N), Box::new(Expr::Number(1))), forms: 2 }
    }

    /// Reads a `Plural-Forms` header value.
    pub(crate) fn from_header(header: &str) -> Result<Self, String> {
        let mut forms = None;
        let mut expr = None;
        for part in header.split(';') {
            let Some((key, value)) = part.split_once('=') else { continue };
            match key.trim() {
                "nplurals" => forms = value.trim().parse::<usize>().ok(),
                // The expression may hold `==`: everything after the first `=`.
                "plural" => expr = Some(value.trim()),
                _ => {}
            }
        }
        let forms = forms.filter(|n| (1..=16).contains(n)).ok_or("no nplurals between 1 and 16")?;
        let text = expr.ok_or("no plural= expression")?;
        let mut parser = Parser { text: text.as_bytes(), at: 0, depth: 0 };
        let expr = parser.choose()?;
        parser.skip_space();
        if parser.at != parser.text.len() {
            return Err(format!("unexpected {:?} in {text:?}", &text[parser.at..]));
        }
        Ok(PluralRule { expr, forms })
    }

    /// How many forms the catalog has (`nplurals`).
    pub(crate) fn forms(&self) -> usize {
        self.forms
    }

    /// The form for `n`: an index below the number of forms.
    pub(crate) fn form(&self, n: u64) -> usize {
        usize::try_from(self.expr.eval(n)).unwrap_or(usize::MAX).min(self.forms - 1)
    }
}

impl Expr {
    fn eval(&self, n: u64) -> u64 {
        match self {
            Expr::N => n,
            Expr::Number(v) => *v,
            Expr::Not(e) => u64::from(e.eval(n) == 0),
            Expr::Choose(c, a, b) => {
                if c.eval(n) != 0 {
                    a.eval(n)
                } else {
                    b.eval(n)
                }
            }
            Expr::Binary(op, a, b) => {
                let x = a.eval(n);
                // `||` and `&&` short-circuit, as in C.
                match op {
                    Op::Or => return u64::from(x != 0 || b.eval(n) != 0),
                    Op::And => return u64::from(x != 0 && b.eval(n) != 0),
                    _ => {}
                }
                let y = b.eval(n);
                match op {
                    Op::Eq => u64::from(x == y),
                    Op::Ne => u64::from(x != y),
                    Op::Lt => u64::from(x < y),
                    Op::Le => u64::from(x <= y),
                    Op::Gt => u64::from(x > y),
                    Op::Ge => u64::from(x >= y),
                    Op::Add => x.wrapping_add(y),
                    Op::Sub => x.wrapping_sub(y),
                    Op::Mul => x.wrapping_mul(y),
                    Op::Div => x.checked_div(y).unwrap_or(0),
                    Op::Rem => x.checked_rem(y).unwrap_or(0),
                    Op::Or | Op::And => unreachable!("handled above"),
                }
            }
        }
    }
}

/// A recursive-descent parser over C's precedence levels, lowest first.
struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    depth: usize,
}

/// The binary levels, loosest first: each holds its operators' spellings.
const LEVELS: [&[(&str, Op)]; 6] = [
    &[("||", Op::Or)],
    &[("&&", Op::And)],
    &[("==", Op::Eq), ("!=", Op::Ne)],
    &[("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)],
    &[("+", Op::Add), ("-", Op::Sub)],
    &[("*", Op::Mul), ("/", Op::Div), ("%", Op::Rem)],
];

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let found = self.text[self.at..].starts_with(token.as_bytes());
        if found {
            self.at += token.len();
        }
        found
    }

    /// One level deeper in the tree being built.
    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("the expression nests too deeply".into());
        }
        Ok(())
    }

    fn choose(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let condition = self.binary(0)?;
        let expr = if self.eat("?") {
            let yes = self.choose()?;
            if !self.eat(":") {
                return Err("`?` without `:`".into());
            }
            let no = self.choose()?;
            Expr::Choose(Box::new(condition), Box::new(yes), Box::new(no))
        } else {
            condition
        };
        self.depth -= 1;
        Ok(expr)
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        let Some(ops) = LEVELS.get(level) else { return self.unary() };
        let mut left = self.binary(level + 1)?;
        // `n+n+n…` grows the tree one level per operator, to the left.
        let mut chained = 0;
        'more: loop {
            for (spelling, op) in ops.iter() {
                // `<` must not take the first half of `<=`, nor `!` of `!=`.
                if self.eat(spelling) {
                    self.enter()?;
                    chained += 1;
                    let right = self.binary(level + 1)?;
                    left = Expr::Binary(*op, Box::new(left), Box::new(right));
                    continue 'more;
                }
            }
            self.depth -= chained;
            return Ok(left);
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_space();
        if self.text[self.at..].starts_with(b"!") && !self.text[self.at..].starts_with(b"!=") {
            self.at += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.eat("(") {
            let inner = self.choose()?;
            return if self.eat(")") { Ok(inner) } else { Err("`(` without `)`".into()) };
        }
        if self.eat("n") {
            return Ok(Expr::N);
        }
        let digits = self.text[self.at..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!("expected n, a number or `(` at byte {}", self.at));
        }
        let number = std::str::from_utf8(&self.text[self.at..self.at + digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or("a number too large")?;
        self.at += digits;
        Ok(Expr::Number(number))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forms(header: &str, counts: &[u64]) -> Vec<usize> {
        let rule = PluralRule::from_header(header).unwrap();
        counts.iter().map(|&n| rule.form(n)).collect()
    }

    #[test]
    fn french_counts_zero_and_one_as_singular() {
        assert_eq!(forms("nplurals=2; plural=(n > 1);", &[0, 1, 2, 10]), [0, 0, 1, 1]);
    }

    #[test]
    fn english_is_the_default() {
        let rule = PluralRule::germanic();
        assert_eq!([0, 1, 2].map(|n| rule.form(n)), [1, 0, 1]);
    }

    #[test]
    fn russian_has_three_forms() {
        let header =
            "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);";
        assert_eq!(forms(header, &[1, 2, 5, 11, 21, 22, 25, 111, 112]), [0, 1, 2, 2, 0, 1, 2, 2, 2]);
    }

    #[test]
    fn arabic_has_six_forms() {
        let header =
            "nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5;";
        assert_eq!(forms(header, &[0, 1, 2, 3, 11, 100, 102]), [0, 1, 2, 3, 4, 5, 5]);
    }

    #[test]
    fn negation_division_and_an_index_past_the_forms() {
        assert_eq!(forms("nplurals=2; plural=!(n == 1);", &[1, 2]), [0, 1]);
        // Division by zero is 0, not a panic; 7 is clamped to the last form.
        assert_eq!(forms("nplurals=2; plural=n / 0 + n % 0;", &[5]), [0]);
        assert_eq!(forms("nplurals=2; plural=7;", &[5]), [1]);
    }

    #[test]
    fn malformed_rules_are_refused_with_a_reason() {
        for bad in ["nplurals=2;", "plural=n;", "nplurals=2; plural=(n > 1;", "nplurals=2; plural=n ? 1;"] {
            assert!(PluralRule::from_header(bad).is_err(), "{bad}");
        }
        let deep = format!("nplurals=2; plural={}n{};", "(".repeat(500), ")".repeat(500));
        assert!(PluralRule::from_header(&deep).unwrap_err().contains("deeply"));
        let nots = format!("nplurals=2; plural={}n;", "!".repeat(500));
        assert!(PluralRule::from_header(&nots).is_err());
        // A long chain nests as deeply as parentheses do, one level per
        // operator: refused, not a tree whose evaluation overflows the stack.
        let chain = format!("nplurals=2; plural=n{};", "+n".repeat(200_000));
        assert!(PluralRule::from_header(&chain).unwrap_err().contains("deeply"));
        let chain = format!("nplurals=2; plural=n{};", "%9+n".repeat(20));
        assert_eq!(PluralRule::from_header(&chain).map(|rule| rule.form(1)), Ok(1));
    }
}
