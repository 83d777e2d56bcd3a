//! Evaluated attribute values and their canonical encoding.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::label::Label;

/// A fully evaluated value. Maps are ordered, so the serde encoding of a value
/// is canonical: attribute order and formatting in the source never reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Label(Label),
    File(FileRef),
    Call(BuiltinCall),
}

/// `file("certs/acme.pem", to = "/etc/ssl/certs/acme.pem")`: a file of the
/// workspace whose content is part of the key of every target using it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FileRef {
    /// Workspace-relative path.
    pub file: String,
    pub to: Option<String>,
    pub mode: Option<i64>,
}

/// A builtin whose meaning belongs to a later stage, e.g. an upstream monitor
/// `git_tags(url, pattern = "v{version}")`, kept as structured data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct BuiltinCall {
    #[serde(rename = "fn")]
    pub function: String,
    pub args: BTreeMap<String, Value>,
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "integer",
            Value::Bool(_) => "bool",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Label(_) => "label",
            Value::File(_) => "file",
            Value::Call(_) => "call",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Visits every label inside this value.
    pub fn labels<'a>(&'a self, out: &mut Vec<&'a Label>) {
        match self {
            Value::Label(l) => out.push(l),
            Value::List(items) => items.iter().for_each(|v| v.labels(out)),
            Value::Map(m) => m.values().for_each(|v| v.labels(out)),
            Value::Call(c) => c.args.values().for_each(|v| v.labels(out)),
            _ => {}
        }
    }

    /// Visits every workspace file referenced inside this value.
    pub fn files<'a>(&'a self, out: &mut Vec<&'a FileRef>) {
        match self {
            Value::File(f) => out.push(f),
            Value::List(items) => items.iter().for_each(|v| v.files(out)),
            Value::Map(m) => m.values().for_each(|v| v.files(out)),
            Value::Call(c) => c.args.values().for_each(|v| v.files(out)),
            _ => {}
        }
    }

    /// Bytes that identify the value exactly, for keys.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("values always serialize")
    }
}

/// How a value is shown to users, e.g. by `attr()` queries and JSON output.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Label(l) => write!(f, "{l}"),
            other => f.write_str(&serde_json::to_string(other).expect("values always serialize")),
        }
    }
}
