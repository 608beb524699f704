//! The functions Docker's CLI adds to Go's templates: `json`, `split`, `join`,
//! `title`, `lower`, `upper`, `pad` and `truncate`. Go's own (`eq`, `index`,
//! `len`, `printf`, `println`...) come with gotmpl.
//!
//! In a table's header line Docker swaps each for one that returns its first
//! argument, so that `{{upper .Names}}` is headed `NAMES`, not `NAMES` quoted
//! or cut; [`docker`] gives those when asked for the header's.

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

/// Docker's functions, or their header-line versions.
pub fn docker(header: bool) -> FuncMap {
    let mut map = FuncMap::new();
    let mut add = |name: &str, f: fn(&[Value]) -> Result<Value, TemplateError>| {
        let f: gotmpl::ValueFunc = if header {
            Arc::new(|args: &[Value]| Ok(args.first().cloned().unwrap_or(Value::Nil)))
        } else {
            Arc::new(f)
        };
        map.insert(name.to_string(), f);
    };
    add("json", json);
    add("split", split);
    add("join", join);
    add("title", title);
    add("lower", |a| map_string("lower", a, |s| s.to_lowercase()));
    add("upper", |a| map_string("upper", a, |s| s.to_uppercase()));
    add("pad", pad);
    add("truncate", truncate);
    map
}

/// `json`: the value as one line of JSON (Docker turns off Go's escaping of
/// `<`, `>` and `&`, as serde_json never does it).
fn json(args: &[Value]) -> Result<Value, TemplateError> {
    let [value] = args else {
        return Err(arity("json", 1, args));
    };
    let text = serde_json::to_string(&to_json(value))
        .map_err(|e| TemplateError::Exec(format!("json: {e}")))?;
    Ok(Value::String(text.into()))
}

/// Template data back as JSON. Maps keep gotmpl's order, which is sorted, as
/// Go's encoding of a map is.
fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Nil | Value::Function(_) => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(n) => J::from(*n),
        Value::Uint(n) => J::from(*n),
        Value::Float(f) => J::from(*f),
        Value::String(s) => J::String(s.to_string()),
        Value::List(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => J::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
    }
}

/// `split STRING SEP`: Go's strings.Split.
fn split(args: &[Value]) -> Result<Value, TemplateError> {
    let [text, sep] = strings("split", args)?;
    let parts: Vec<Value> = if text.is_empty() {
        // Go splits "" into one empty string.
        vec![Value::String("".into())]
    } else if sep.is_empty() {
        text.chars()
            .map(|c| Value::String(c.to_string().into()))
            .collect()
    } else {
        text.split(sep.as_str())
            .map(|p| Value::String(p.into()))
            .collect()
    };
    Ok(Value::List(parts.into()))
}

/// `join LIST SEP`: Go's strings.Join.
fn join(args: &[Value]) -> Result<Value, TemplateError> {
    let [Value::List(items), Value::String(sep)] = args else {
        return Err(TemplateError::Exec(
            "join: give a list of strings and a separator".into(),
        ));
    };
    let words: Vec<String> = items.iter().map(|v| v.to_string()).collect();
    Ok(Value::String(words.join(sep).into()))
}

/// `title`: each word's first letter in capitals, as Go's strings.Title.
fn title(args: &[Value]) -> Result<Value, TemplateError> {
    map_string("title", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut start = true;
        for c in s.chars() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            start = !c.is_alphanumeric() && c != '_' && c != '\'';
        }
        out
    })
}

/// `pad STRING BEFORE AFTER`: spaces around the text.
fn pad(args: &[Value]) -> Result<Value, TemplateError> {
    let [text, before, after] = args else {
        return Err(arity("pad", 3, args));
    };
    let (before, after) = (count("pad", before)?, count("pad", after)?);
    let text = format!("{}{text}{}", " ".repeat(before), " ".repeat(after));
    Ok(Value::String(text.into()))
}

/// `truncate STRING N`: the first N characters.
fn truncate(args: &[Value]) -> Result<Value, TemplateError> {
    let [text, n] = args else {
        return Err(arity("truncate", 2, args));
    };
    let cut: String = text
        .to_string()
        .chars()
        .take(count("truncate", n)?)
        .collect();
    Ok(Value::String(cut.into()))
}

fn map_string(
    name: &str,
    args: &[Value],
    f: impl Fn(&str) -> String,
) -> Result<Value, TemplateError> {
    let [value] = args else {
        return Err(arity(name, 1, args));
    };
    Ok(Value::String(f(&value.to_string()).into()))
}

fn strings<const N: usize>(name: &str, args: &[Value]) -> Result<[String; N], TemplateError> {
    let words: Vec<String> = args.iter().map(|v| v.to_string()).collect();
    words.try_into().map_err(|_| arity(name, N, args))
}

fn count(name: &str, value: &Value) -> Result<usize, TemplateError> {
    value
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| TemplateError::Exec(format!("{name}: {value} is not a count")))
}

fn arity(name: &str, expected: usize, args: &[Value]) -> TemplateError {
    TemplateError::ArgCount {
        name: name.to_string(),
        expected,
        got: args.len(),
    }
}
