//! OpenVEX documents applied to findings. A statement applies to a finding
//! when it names the vulnerability (by any of the finding's names) and the
//! image as product, with the package among its subcomponents or with no
//! subcomponents at all (or names the package itself as product). Of the
//! statements that apply, the latest wins; `not_affected` and `fixed`
//! suppress the finding, `affected` and `under_investigation` do not.

use serde_json::Value;

use crate::matching::Finding;
use crate::purl;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Suppression {
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact_statement: Option<String>,
    /// The document's `@id`.
    pub document: String,
}

#[derive(Clone, Debug)]
pub struct Statement {
    pub names: Vec<String>,
    pub products: Vec<(String, Vec<String>)>,
    pub status: String,
    pub justification: Option<String>,
    pub impact_statement: Option<String>,
    pub timestamp: u64,
    pub document: String,
}

/// The statements of an OpenVEX document (v0.2.0; also the 0.0.x form,
/// where `vulnerability` is a string).
pub fn statements(doc: &Value) -> Result<Vec<Statement>, String> {
    if !doc.get("@context").and_then(Value::as_str).is_some_and(|c| c.starts_with("https://openvex.dev/ns")) {
        return Err("not an OpenVEX document (no @context https://openvex.dev/ns…)".into());
    }
    let document = doc["@id"].as_str().unwrap_or_default().to_string();
    let doc_time = doc["timestamp"].as_str().and_then(dhib_core::parse_rfc3339).unwrap_or(0);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).filter(|s| !s.is_empty());
    let mut out = Vec::new();
    for s in doc["statements"].as_array().into_iter().flatten() {
        let v = &s["vulnerability"];
        let mut names: Vec<String> = [v.as_str().map(str::to_string), text(v, "name"), text(v, "@id")].into_iter().flatten().collect();
        names.extend(v["aliases"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)));
        let id_of = |p: &Value| text(p, "@id").or_else(|| p["identifiers"].get("purl").and_then(Value::as_str).map(str::to_string));
        let products = s["products"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let subs = p["subcomponents"].as_array().into_iter().flatten().filter_map(id_of).collect();
                Some((id_of(p)?, subs))
            })
            .collect();
        let status = text(s, "status").ok_or_else(|| format!("a statement of {document} has no status"))?;
        out.push(Statement {
            names,
            products,
            status,
            justification: text(s, "justification"),
            impact_statement: text(s, "impact_statement"),
            timestamp: s["timestamp"].as_str().and_then(dhib_core::parse_rfc3339).unwrap_or(doc_time),
            document: document.clone(),
        });
    }
    Ok(out)
}

/// Marks the findings of the image (`image` is its purl, `digest` its
/// "sha256:…") that the statements suppress.
pub fn apply(findings: &mut [Finding], statements: &[Statement], image: Option<&str>, digest: Option<&str>) {
    let is_image = |id: &str| {
        image.is_some_and(|i| purl::names(id, i) || purl::names(i, id))
            || digest.is_some_and(|d| purl::Purl::parse(id).and_then(|p| p.version).as_deref() == Some(d))
    };
    for f in findings.iter_mut() {
        let names: Vec<&str> =
            std::iter::once(f.vulnerability.as_str()).chain(f.aliases.iter().chain(&f.records).map(String::as_str)).collect();
        let package = f.purl.clone().unwrap_or_default();
        let applies = |s: &&Statement| {
            s.names.iter().any(|n| names.contains(&n.as_str()))
                && s.products.iter().any(|(product, subs)| {
                    (is_image(product) && (subs.is_empty() || subs.iter().any(|c| purl::names(c, &package))))
                        || (!package.is_empty() && purl::names(product, &package))
                })
        };
        let latest = statements.iter().filter(applies).max_by_key(|s| s.timestamp);
        f.suppressed = latest.filter(|s| s.status == "not_affected" || s.status == "fixed").map(|s| Suppression {
            status: s.status.clone(),
            justification: s.justification.clone(),
            impact_statement: s.impact_statement.clone(),
            document: s.document.clone(),
        });
    }
}
