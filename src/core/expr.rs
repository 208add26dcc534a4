//! The scenario expression language: parsing (`grammar/expr.pest`), type checking and evaluation.
//!
//! Guards (`when:`) are expressions; string templates are text with `{{ expr }}`
//! interpolations. Both are parsed once at compile time into an [`Expr`] tree whose
//! spans are byte offsets into the expression text, so the compiler can point at
//! the exact character of a mistake inside a YAML scalar.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use pest::Parser as _;
use pest::iterators::Pair;
use regex::Regex;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/expr.pest"]
struct ExprParser;

/// A runtime value of the expression language.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Arc<str>),
    Num(f64),
    Bool(bool),
    /// Milliseconds.
    Duration(u64),
    List(Arc<[Value]>),
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Self {
        Value::Str(s.into())
    }

    pub fn type_of(&self) -> Type {
        match self {
            Value::Str(_) => Type::Str,
            Value::Num(_) => Type::Num,
            Value::Bool(_) => Type::Bool,
            Value::Duration(_) => Type::Duration,
            Value::List(items) => {
                Type::List(Box::new(items.first().map_or(Type::Any, Value::type_of)))
            }
        }
    }

    /// Whether a guard that produced this value lets the call through.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Str(s) => !s.is_empty(),
            Value::Num(n) => *n != 0.0,
            Value::Duration(d) => *d != 0,
            Value::List(l) => !l.is_empty(),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Duration(ms) => write!(f, "{}", format_duration_ms(*ms)),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Formats milliseconds the way scenarios write durations (`1500ms`, `2s`, `5m`).
pub fn format_duration_ms(ms: u64) -> String {
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Why a text is not a duration literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("`{0}` has no unit: write it as `{0}s` or `{0}ms`")]
    NoUnit(String),
    #[error("`{text}` has an unknown unit `{unit}` (use ms, s, m or h)")]
    UnknownUnit { text: String, unit: String },
    #[error("`{0}` is not a duration (examples: 500ms, 2s, 1.5s, 5m)")]
    NotANumber(String),
    #[error("`{0}` is too long")]
    TooLong(String),
}

/// Parses a duration literal such as `500ms`, `2s`, `1.5s`, `5m` or `1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationError::NoUnit(text.to_string()))?;
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| DurationError::NotANumber(text.to_string()))?;
    let ms = value * factor;
    if !ms.is_finite() || ms > 1e12 {
        return Err(DurationError::TooLong(text.to_string()));
    }
    Ok(ms.round() as u64)
}

/// The static type of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Str,
    Num,
    Bool,
    Duration,
    List(Box<Type>),
    /// Unknown element type (an empty list literal).
    Any,
}

impl Type {
    fn compatible(&self, other: &Type) -> bool {
        match (self, other) {
            (Type::Any, _) | (_, Type::Any) => true,
            (Type::List(a), Type::List(b)) => a.compatible(b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Str => f.write_str("string"),
            Type::Num => f.write_str("number"),
            Type::Bool => f.write_str("boolean"),
            Type::Duration => f.write_str("duration"),
            Type::List(t) => write!(f, "list of {t}"),
            Type::Any => f.write_str("anything"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn parse(text: &str) -> Self {
        match text {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        }
    }

    fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// The pure functions an expression may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Contains,
    Matches,
    Len,
    Lower,
}

impl Func {
    pub const ALL: [(&'static str, Func); 4] = [
        ("contains", Func::Contains),
        ("matches", Func::Matches),
        ("len", Func::Len),
        ("lower", Func::Lower),
    ];

    fn by_name(name: &str) -> Option<Func> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    fn signature(self) -> &'static str {
        match self {
            Func::Contains => "contains(text, part)",
            Func::Matches => "matches(text, \"regex\")",
            Func::Len => "len(text or list)",
            Func::Lower => "lower(text)",
        }
    }
}

/// A dotted variable name such as `lead.custom.city`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VarPath(pub Vec<String>);

impl fmt::Display for VarPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A parsed expression with its byte span in the expression text.
#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Range<usize>,
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Lit(Value),
    Var(VarPath),
    List(Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In {
        negated: bool,
        item: Box<Expr>,
        list: Box<Expr>,
    },
    /// A function call; `matches` with a literal pattern carries the compiled regex.
    Call(Func, Vec<Expr>, Option<Arc<Regex>>),
}

/// A problem found in an expression, with its span in the expression text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub span: Range<usize>,
    pub message: String,
    pub kind: ExprErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprErrorKind {
    Syntax,
    UnknownVariable,
    TypeMismatch,
    UnknownFunction,
    BadRegex,
    /// A string compared with `intent` that is no declared intent.
    UnknownIntent,
    /// A string compared with `result` that is no known result.
    UnknownResult,
}

impl ExprError {
    fn new(kind: ExprErrorKind, span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            kind,
        }
    }
}

/// A string template: literal text and interpolated expressions.
#[derive(Debug, Clone)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

impl Template {
    /// A template that is exactly one interpolation keeps the expression's type.
    pub fn single_expr(&self) -> Option<&Expr> {
        match self.parts.as_slice() {
            [TemplatePart::Expr(e)] => Some(e),
            _ => None,
        }
    }

    pub fn render(&self, vars: &dyn Fn(&VarPath) -> Option<Value>) -> Result<Value, EvalError> {
        if let Some(expr) = self.single_expr() {
            return eval(expr, vars);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                TemplatePart::Expr(e) => out.push_str(&eval(e, vars)?.to_string()),
            }
        }
        Ok(Value::str(out))
    }
}

/// Parses a guard expression.
pub fn parse_guard(text: &str) -> Result<Expr, ExprError> {
    let mut pairs = ExprParser::parse(Rule::guard, text).map_err(syntax_error)?;
    let guard = pairs.next().expect("the guard rule always yields one pair");
    let expr = guard
        .into_inner()
        .next()
        .expect("a guard holds one expression");
    build_expr(expr)
}

/// Parses a string template with `{{ expr }}` interpolations.
pub fn parse_template(text: &str) -> Result<Template, ExprError> {
    let mut pairs = ExprParser::parse(Rule::template, text).map_err(syntax_error)?;
    let template = pairs
        .next()
        .expect("the template rule always yields one pair");
    let mut parts = Vec::new();
    for pair in template.into_inner() {
        match pair.as_rule() {
            Rule::text => parts.push(TemplatePart::Text(pair.as_str().to_string())),
            Rule::interpolation => {
                let inner = pair
                    .into_inner()
                    .next()
                    .expect("an interpolation holds one expression");
                parts.push(TemplatePart::Expr(build_expr(inner)?));
            }
            _ => {}
        }
    }
    Ok(Template { parts })
}

fn syntax_error(err: pest::error::Error<Rule>) -> ExprError {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let message = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut wanted: Vec<&str> =
                positives.iter().filter_map(|r| describe_rule(*r)).collect();
            wanted.sort_unstable();
            wanted.dedup();
            if wanted.is_empty() {
                "unexpected character in expression".to_string()
            } else {
                format!("expected {}", join_or(&wanted))
            }
        }
        pest::error::ErrorVariant::CustomError { message } => message.clone(),
    };
    ExprError::new(ExprErrorKind::Syntax, pos..pos + 1, message)
}

fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::expr | Rule::or_expr | Rule::and_expr | Rule::not_expr | Rule::comparison => {
            "a value"
        }
        Rule::variable | Rule::ident => "a name",
        Rule::string => "a string",
        Rule::number => "a number",
        Rule::duration => "a duration",
        Rule::boolean => "true or false",
        Rule::list => "a list",
        Rule::call => "a function call",
        Rule::cmp_op => "a comparison (==, !=, <, <=, >, >=)",
        Rule::and_op => "`and`",
        Rule::or_op => "`or`",
        Rule::not_op => "`not`",
        Rule::in_op | Rule::not_in_op => "`in`",
        Rule::EOI => "the end of the expression",
        Rule::interpolation => "`{{`",
        Rule::text => "text",
        _ => return None,
    })
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    }
}

fn span_of(pair: &Pair<'_, Rule>) -> Range<usize> {
    let s = pair.as_span();
    s.start()..s.end()
}

fn build_expr(pair: Pair<'_, Rule>) -> Result<Expr, ExprError> {
    let span = span_of(&pair);
    match pair.as_rule() {
        Rule::expr => build_expr(pair.into_inner().next().expect("expr wraps or_expr")),
        Rule::or_expr | Rule::and_expr => {
            let is_or = pair.as_rule() == Rule::or_expr;
            let mut inner = pair
                .into_inner()
                .filter(|p| !matches!(p.as_rule(), Rule::or_op | Rule::and_op));
            let mut acc = build_expr(inner.next().expect("at least one operand"))?;
            for next in inner {
                let rhs = build_expr(next)?;
                let span = acc.span.start..rhs.span.end;
                let kind = if is_or {
                    ExprKind::Or(Box::new(acc), Box::new(rhs))
                } else {
                    ExprKind::And(Box::new(acc), Box::new(rhs))
                };
                acc = Expr { kind, span };
            }
            Ok(acc)
        }
        Rule::not_expr => {
            let mut nots = Vec::new();
            let mut operand = None;
            for p in pair.into_inner() {
                if p.as_rule() == Rule::not_op {
                    nots.push(span_of(&p).start);
                } else {
                    operand = Some(build_expr(p)?);
                }
            }
            let mut acc = operand.expect("not_expr ends in a comparison");
            for start in nots.into_iter().rev() {
                let span = start..acc.span.end;
                acc = Expr {
                    kind: ExprKind::Not(Box::new(acc)),
                    span,
                };
            }
            Ok(acc)
        }
        Rule::comparison => {
            let mut inner = pair.into_inner();
            let lhs = build_expr(inner.next().expect("comparison has an operand"))?;
            let Some(op) = inner.next() else {
                return Ok(lhs);
            };
            let rhs = build_expr(inner.next().expect("an operator has a right operand"))?;
            let kind = match op.as_rule() {
                Rule::cmp_op => {
                    ExprKind::Cmp(CmpOp::parse(op.as_str()), Box::new(lhs), Box::new(rhs))
                }
                Rule::in_op => ExprKind::In {
                    negated: false,
                    item: Box::new(lhs),
                    list: Box::new(rhs),
                },
                _ => ExprKind::In {
                    negated: true,
                    item: Box::new(lhs),
                    list: Box::new(rhs),
                },
            };
            Ok(Expr { kind, span })
        }
        Rule::list => {
            let items = pair
                .into_inner()
                .map(build_expr)
                .collect::<Result<_, _>>()?;
            Ok(Expr {
                kind: ExprKind::List(items),
                span,
            })
        }
        Rule::call => {
            let mut inner = pair.into_inner();
            let name = inner.next().expect("a call has a name");
            let name_span = span_of(&name);
            let func = Func::by_name(name.as_str()).ok_or_else(|| {
                let known: Vec<&str> = Func::ALL.iter().map(|(n, _)| *n).collect();
                ExprError::new(
                    ExprErrorKind::UnknownFunction,
                    name_span,
                    format!(
                        "unknown function `{}`, expected one of {}",
                        name.as_str(),
                        known.join(", ")
                    ),
                )
            })?;
            let args = inner.map(build_expr).collect::<Result<_, _>>()?;
            Ok(Expr {
                kind: ExprKind::Call(func, args, None),
                span,
            })
        }
        Rule::variable => {
            let path = pair.into_inner().map(|p| p.as_str().to_string()).collect();
            Ok(Expr {
                kind: ExprKind::Var(VarPath(path)),
                span,
            })
        }
        Rule::string => {
            let inner = pair.into_inner().next().expect("a string has a body");
            Ok(Expr {
                kind: ExprKind::Lit(Value::str(unescape(inner.as_str()))),
                span,
            })
        }
        Rule::number => {
            let n: f64 = pair.as_str().parse().map_err(|_| {
                ExprError::new(
                    ExprErrorKind::Syntax,
                    span.clone(),
                    format!("`{}` is not a number", pair.as_str()),
                )
            })?;
            Ok(Expr {
                kind: ExprKind::Lit(Value::Num(n)),
                span,
            })
        }
        Rule::duration => {
            let ms = parse_duration_ms(pair.as_str())
                .map_err(|e| ExprError::new(ExprErrorKind::Syntax, span.clone(), e.to_string()))?;
            Ok(Expr {
                kind: ExprKind::Lit(Value::Duration(ms)),
                span,
            })
        }
        Rule::boolean => Ok(Expr {
            kind: ExprKind::Lit(Value::Bool(pair.as_str() == "true")),
            span,
        }),
        other => Err(ExprError::new(
            ExprErrorKind::Syntax,
            span,
            format!("unexpected {other:?} in expression"),
        )),
    }
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A name or literal the scope does not accept, with the words its diagnostic shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No variable of that name.
    #[error("{0}")]
    UnknownVariable(String),
    /// A string compared with `intent` that the scenario does not declare.
    #[error("{0}")]
    UnknownIntent(String),
    /// A string compared with `result` that is no known result.
    #[error("{0}")]
    UnknownResult(String),
    /// A string the variable can never hold.
    #[error("{0}")]
    NeverHeld(String),
}

impl ScopeError {
    fn kind(&self) -> ExprErrorKind {
        match self {
            ScopeError::UnknownVariable(_) => ExprErrorKind::UnknownVariable,
            ScopeError::UnknownIntent(_) => ExprErrorKind::UnknownIntent,
            ScopeError::UnknownResult(_) => ExprErrorKind::UnknownResult,
            ScopeError::NeverHeld(_) => ExprErrorKind::TypeMismatch,
        }
    }
}

/// What the type checker needs to know about the names in scope.
pub trait Scope {
    /// The type of a variable, or why the name is unknown.
    fn lookup(&self, path: &VarPath) -> Result<Type, ScopeError>;
    /// Called for every `==`/`!=`/`in` between a variable and a string literal,
    /// so the compiler can check e.g. that `intent == "maybe"` names a declared intent.
    fn check_literal(&self, _path: &VarPath, _literal: &str) -> Result<(), ScopeError> {
        Ok(())
    }
}

/// Type-checks an expression in place (compiling literal regexes) and returns its type.
/// Every problem is pushed to `errors`; checking goes on after the first one.
pub fn check(expr: &mut Expr, scope: &dyn Scope, errors: &mut Vec<ExprError>) -> Option<Type> {
    let span = expr.span.clone();
    let op = if matches!(expr.kind, ExprKind::And(..)) {
        "and"
    } else {
        "or"
    };
    let mismatch = |errors: &mut Vec<ExprError>, span: Range<usize>, msg: String| {
        errors.push(ExprError::new(ExprErrorKind::TypeMismatch, span, msg));
        None
    };
    match &mut expr.kind {
        ExprKind::Lit(v) => Some(v.type_of()),
        ExprKind::Var(path) => match scope.lookup(path) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(ExprError::new(e.kind(), span, e.to_string()));
                None
            }
        },
        ExprKind::List(items) => {
            let mut elem = Type::Any;
            for item in items.iter_mut() {
                let item_span = item.span.clone();
                if let Some(t) = check(item, scope, errors) {
                    if !elem.compatible(&t) {
                        return mismatch(
                            errors,
                            item_span,
                            format!("a list cannot mix {elem} and {t}"),
                        );
                    }
                    if elem == Type::Any {
                        elem = t;
                    }
                }
            }
            Some(Type::List(Box::new(elem)))
        }
        ExprKind::Not(inner) => {
            let inner_span = inner.span.clone();
            match check(inner, scope, errors)? {
                Type::Bool => Some(Type::Bool),
                t => mismatch(
                    errors,
                    inner_span,
                    format!("`not` needs a boolean, found {t}"),
                ),
            }
        }
        ExprKind::And(a, b) | ExprKind::Or(a, b) => {
            let mut ok = true;
            for side in [a, b] {
                let side_span = side.span.clone();
                match check(side, scope, errors) {
                    Some(Type::Bool) => {}
                    Some(t) => {
                        ok = false;
                        errors.push(ExprError::new(
                            ExprErrorKind::TypeMismatch,
                            side_span,
                            format!("`{op}` needs booleans on both sides, found {t}"),
                        ));
                    }
                    None => ok = false,
                }
            }
            ok.then_some(Type::Bool)
        }
        ExprKind::Cmp(op, a, b) => {
            let op = *op;
            let ta = check(a, scope, errors);
            let tb = check(b, scope, errors);
            let (ta, tb) = (ta?, tb?);
            if !ta.compatible(&tb) {
                return mismatch(errors, span, format!("cannot compare {ta} with {tb}"));
            }
            if op.is_ordering() && !matches!(ta, Type::Num | Type::Duration) {
                return mismatch(
                    errors,
                    span,
                    format!("`<`, `>`, `<=` and `>=` compare numbers or durations, not {ta}"),
                );
            }
            check_literals(a, b, scope, errors);
            Some(Type::Bool)
        }
        ExprKind::In { item, list, .. } => {
            let ti = check(item, scope, errors);
            let tl = check(list, scope, errors);
            let (ti, tl) = (ti?, tl?);
            match &tl {
                Type::List(elem) if elem.compatible(&ti) => {}
                Type::List(elem) => {
                    return mismatch(
                        errors,
                        span,
                        format!("cannot look for a {ti} in a list of {elem}"),
                    );
                }
                Type::Str if ti == Type::Str => {}
                other => {
                    return mismatch(
                        errors,
                        list.span.clone(),
                        format!("`in` needs a list, found {other}"),
                    );
                }
            }
            if let ExprKind::List(items) = &list.kind {
                for lit in items {
                    check_literals(item, lit, scope, errors);
                }
            }
            Some(Type::Bool)
        }
        ExprKind::Call(func, args, compiled) => {
            let func = *func;
            let arity = match func {
                Func::Contains | Func::Matches => 2,
                Func::Len | Func::Lower => 1,
            };
            if args.len() != arity {
                return mismatch(
                    errors,
                    span,
                    format!(
                        "{} takes {arity} argument{}, found {}",
                        func.signature(),
                        if arity == 1 { "" } else { "s" },
                        args.len()
                    ),
                );
            }
            let types: Vec<Option<Type>> =
                args.iter_mut().map(|a| check(a, scope, errors)).collect();
            let types: Vec<Type> = types.into_iter().collect::<Option<_>>()?;
            match func {
                Func::Contains => {
                    let ok = matches!((&types[0], &types[1]), (Type::Str, Type::Str))
                        || matches!(&types[0], Type::List(e) if e.compatible(&types[1]));
                    if !ok {
                        return mismatch(
                            errors,
                            span,
                            format!(
                                "{} needs text (or a list) and a value, found {} and {}",
                                func.signature(),
                                types[0],
                                types[1]
                            ),
                        );
                    }
                    Some(Type::Bool)
                }
                Func::Matches => {
                    if types[0] != Type::Str || types[1] != Type::Str {
                        return mismatch(
                            errors,
                            span,
                            format!(
                                "{} needs two strings, found {} and {}",
                                func.signature(),
                                types[0],
                                types[1]
                            ),
                        );
                    }
                    if let ExprKind::Lit(Value::Str(pattern)) = &args[1].kind {
                        match Regex::new(pattern) {
                            Ok(re) => *compiled = Some(Arc::new(re)),
                            Err(e) => {
                                let msg = e
                                    .to_string()
                                    .lines()
                                    .last()
                                    .unwrap_or("invalid pattern")
                                    .trim()
                                    .trim_start_matches("error: ")
                                    .to_string();
                                errors.push(ExprError::new(
                                    ExprErrorKind::BadRegex,
                                    args[1].span.clone(),
                                    format!("invalid regular expression: {msg}"),
                                ));
                                return None;
                            }
                        }
                    }
                    Some(Type::Bool)
                }
                Func::Len => match &types[0] {
                    Type::Str | Type::List(_) => Some(Type::Num),
                    t => mismatch(
                        errors,
                        span,
                        format!("{} needs text or a list, found {t}", func.signature()),
                    ),
                },
                Func::Lower => match &types[0] {
                    Type::Str => Some(Type::Str),
                    t => mismatch(
                        errors,
                        span,
                        format!("{} needs text, found {t}", func.signature()),
                    ),
                },
            }
        }
    }
}

fn check_literals(a: &Expr, b: &Expr, scope: &dyn Scope, errors: &mut Vec<ExprError>) {
    let pairs = [(a, b), (b, a)];
    for (var, lit) in pairs {
        if let (ExprKind::Var(path), ExprKind::Lit(Value::Str(text))) = (&var.kind, &lit.kind)
            && let Err(e) = scope.check_literal(path, text)
        {
            errors.push(ExprError::new(e.kind(), lit.span.clone(), e.to_string()));
        }
    }
}

/// Why a checked expression has no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("`{0}` has no value")]
    Unset(VarPath),
    #[error("invalid regular expression: {0}")]
    BadRegex(#[from] regex::Error),
    #[error("{signature} cannot take {args}")]
    BadArguments {
        signature: &'static str,
        /// The values it was given, as debug text.
        args: String,
    },
}

/// Evaluates a checked expression. Variables come from `vars`; an unset variable is an error.
pub fn eval(expr: &Expr, vars: &dyn Fn(&VarPath) -> Option<Value>) -> Result<Value, EvalError> {
    Ok(match &expr.kind {
        ExprKind::Lit(v) => v.clone(),
        ExprKind::Var(path) => vars(path).ok_or_else(|| EvalError::Unset(path.clone()))?,
        ExprKind::List(items) => Value::List(
            items
                .iter()
                .map(|e| eval(e, vars))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        ExprKind::Not(e) => Value::Bool(!eval(e, vars)?.truthy()),
        ExprKind::And(a, b) => Value::Bool(eval(a, vars)?.truthy() && eval(b, vars)?.truthy()),
        ExprKind::Or(a, b) => Value::Bool(eval(a, vars)?.truthy() || eval(b, vars)?.truthy()),
        ExprKind::Cmp(op, a, b) => {
            let (a, b) = (eval(a, vars)?, eval(b, vars)?);
            let ord = match (&a, &b) {
                (Value::Num(x), Value::Num(y)) => x.partial_cmp(y),
                (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
                (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
                (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
                _ => None,
            };
            use std::cmp::Ordering::*;
            Value::Bool(match (op, ord) {
                (CmpOp::Eq, _) => a == b,
                (CmpOp::Ne, _) => a != b,
                (_, None) => false,
                (CmpOp::Lt, Some(o)) => o == Less,
                (CmpOp::Le, Some(o)) => o != Greater,
                (CmpOp::Gt, Some(o)) => o == Greater,
                (CmpOp::Ge, Some(o)) => o != Less,
            })
        }
        ExprKind::In {
            negated,
            item,
            list,
        } => {
            let (item, list) = (eval(item, vars)?, eval(list, vars)?);
            let found = match (&item, &list) {
                (_, Value::List(items)) => items.contains(&item),
                (Value::Str(needle), Value::Str(hay)) => hay.contains(needle.as_ref()),
                _ => false,
            };
            Value::Bool(found != *negated)
        }
        ExprKind::Call(func, args, compiled) => {
            let values = args
                .iter()
                .map(|a| eval(a, vars))
                .collect::<Result<Vec<_>, _>>()?;
            match (func, values.as_slice()) {
                (Func::Contains, [Value::Str(hay), Value::Str(needle)]) => {
                    Value::Bool(hay.to_lowercase().contains(&needle.to_lowercase()))
                }
                (Func::Contains, [Value::List(items), v]) => Value::Bool(items.contains(v)),
                (Func::Matches, [Value::Str(text), Value::Str(pattern)]) => {
                    let re = match compiled {
                        Some(re) => re.clone(),
                        None => Arc::new(Regex::new(pattern)?),
                    };
                    Value::Bool(re.is_match(text))
                }
                (Func::Len, [Value::Str(s)]) => Value::Num(s.chars().count() as f64),
                (Func::Len, [Value::List(l)]) => Value::Num(l.len() as f64),
                (Func::Lower, [Value::Str(s)]) => Value::str(s.to_lowercase()),
                (f, args) => {
                    return Err(EvalError::BadArguments {
                        signature: f.signature(),
                        args: format!("{args:?}"),
                    });
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestScope;
    impl Scope for TestScope {
        fn lookup(&self, path: &VarPath) -> Result<Type, ScopeError> {
            match path.to_string().as_str() {
                "intent" | "transcript" | "lead.name" => Ok(Type::Str),
                "attempt" | "visits.ask" => Ok(Type::Num),
                "elapsed" => Ok(Type::Duration),
                other => Err(ScopeError::UnknownVariable(format!(
                    "unknown variable `{other}`"
                ))),
            }
        }
        fn check_literal(&self, path: &VarPath, literal: &str) -> Result<(), ScopeError> {
            if path.to_string() == "intent" && !["yes", "no"].contains(&literal) {
                return Err(ScopeError::UnknownIntent(format!(
                    "`{literal}` is not an intent"
                )));
            }
            Ok(())
        }
    }

    fn vars(path: &VarPath) -> Option<Value> {
        match path.to_string().as_str() {
            "intent" => Some(Value::str("yes")),
            "transcript" => Some(Value::str("Yes, I am Interested")),
            "attempt" => Some(Value::Num(2.0)),
            "visits.ask" => Some(Value::Num(1.0)),
            "elapsed" => Some(Value::Duration(2500)),
            _ => None,
        }
    }

    fn run(text: &str) -> Value {
        let mut e = parse_guard(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let mut errors = Vec::new();
        check(&mut e, &TestScope, &mut errors);
        assert!(errors.is_empty(), "{text}: {errors:?}");
        eval(&e, &vars).unwrap()
    }

    fn errors(text: &str) -> Vec<ExprError> {
        match parse_guard(text) {
            Err(e) => vec![e],
            Ok(mut e) => {
                let mut errors = Vec::new();
                check(&mut e, &TestScope, &mut errors);
                errors
            }
        }
    }

    #[test]
    fn evaluates_guards() {
        assert_eq!(run(r#"intent == "yes""#), Value::Bool(true));
        assert_eq!(run(r#"intent != "yes" or attempt >= 2"#), Value::Bool(true));
        assert_eq!(
            run(r#"not (intent in ["no"]) and visits.ask < 2"#),
            Value::Bool(true)
        );
        assert_eq!(run(r#"intent not in ["yes", "no"]"#), Value::Bool(false));
        assert_eq!(
            run(r#"contains(transcript, "interested")"#),
            Value::Bool(true)
        );
        assert_eq!(
            run(r#"matches(lower(transcript), "^yes\\b")"#),
            Value::Bool(true)
        );
        assert_eq!(run("len(transcript) > 5"), Value::Bool(true));
        assert_eq!(run("elapsed > 2s and elapsed < 2600ms"), Value::Bool(true));
        assert_eq!(run("not not true"), Value::Bool(true));
    }

    #[test]
    fn reports_positions_of_mistakes() {
        let e = errors(r#"intent == "maybe""#);
        assert_eq!(e[0].span, 10..17);
        assert_eq!(e[0].message, "`maybe` is not an intent");
        let e = errors("intnet == 1");
        assert_eq!(e[0].kind, ExprErrorKind::UnknownVariable);
        assert_eq!(e[0].span, 0..6);
        let e = errors(r#"attempt == "two""#);
        assert_eq!(e[0].message, "cannot compare number with string");
        let e = errors(r#"intent == "yes" and"#);
        assert_eq!(e[0].kind, ExprErrorKind::Syntax);
        assert_eq!(e[0].span.start, 19);
        let e = errors(r#"matches(transcript, "(")"#);
        assert_eq!(e[0].kind, ExprErrorKind::BadRegex);
        let e = errors("shout(transcript)");
        assert_eq!(e[0].kind, ExprErrorKind::UnknownFunction);
        let e = errors("attempt and true");
        assert!(e[0].message.contains("`and` needs booleans"));
    }

    #[test]
    fn templates_interpolate() {
        let t = parse_template("Hi {{ lead.name }}, attempt {{ attempt }}").unwrap();
        let v = t
            .render(&|p: &VarPath| match p.to_string().as_str() {
                "lead.name" => Some(Value::str("Sara")),
                "attempt" => Some(Value::Num(3.0)),
                _ => None,
            })
            .unwrap();
        assert_eq!(v, Value::str("Hi Sara, attempt 3"));
        let single = parse_template("{{ attempt }}").unwrap();
        assert!(single.single_expr().is_some());
        assert!(parse_template("broken {{ attempt").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1500));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert!(parse_duration_ms("10").is_err());
        assert!(parse_duration_ms("3 days").is_err());
        assert_eq!(format_duration_ms(1500), "1500ms");
        assert_eq!(format_duration_ms(120_000), "2m");
    }
}
