//! OpenVEX v0.2.0 documents: what the image's author states about
//! vulnerabilities, and what follows from where each component is used
//! (a component only in a build environment or a dev variant is not in the
//! image, so the image is not affected through it). No I/O.

use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    NotAffected,
    Affected,
    Fixed,
    UnderInvestigation,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotAffected => "not_affected",
            Status::Affected => "affected",
            Status::Fixed => "fixed",
            Status::UnderInvestigation => "under_investigation",
        }
    }
}

/// The justifications OpenVEX allows for `not_affected`.
pub const JUSTIFICATIONS: [&str; 5] = [
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Statement {
    /// "CVE-2024-1234".
    pub vulnerability: String,
    pub status: Status,
    pub justification: Option<String>,
    pub impact_statement: Option<String>,
    pub action_statement: Option<String>,
    pub products: Vec<Product>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Product {
    /// The purl of the image.
    pub id: String,
    /// Purls of the components the statement is about.
    pub subcomponents: Vec<String>,
}

/// A vulnerability status declared on a target (an image or a component).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub vulnerability: String,
    pub status: Status,
    pub justification: Option<String>,
    pub impact_statement: Option<String>,
    pub action_statement: Option<String>,
}

/// A component with the statuses declared on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub purl: String,
    pub label: String,
    pub declared: Vec<Declared>,
    /// Where the component is used, for the impact statement:
    /// "build environment //toolchains:gcc", "dev variant //images/lua:lua-dev".
    pub where_used: String,
}

/// What OpenVEX requires of a statement's status and its explanations.
pub fn validate(s: &Statement) -> Result<(), String> {
    let vuln = &s.vulnerability;
    if vuln.trim().is_empty() {
        return Err("a VEX statement needs the name of a vulnerability".into());
    }
    if s.products.is_empty() {
        return Err(format!("the statement on {vuln} names no product"));
    }
    if let Some(p) = s.products.iter().find(|p| p.id.trim().is_empty()) {
        return Err(format!("the statement on {vuln} has a product without an id (subcomponents {:?})", p.subcomponents));
    }
    if let Some(j) = &s.justification {
        if !JUSTIFICATIONS.contains(&j.as_str()) {
            return Err(format!("the statement on {vuln} has justification `{j}`; OpenVEX allows {}", JUSTIFICATIONS.join(", ")));
        }
        if s.status != Status::NotAffected {
            return Err(format!("the statement on {vuln} is {} but has a justification, which only not_affected takes", s.status.as_str()));
        }
    }
    match s.status {
        Status::NotAffected if s.justification.is_none() && s.impact_statement.is_none() => {
            Err(format!("the not_affected statement on {vuln} needs a justification or an impact statement"))
        }
        Status::Affected if s.action_statement.is_none() => Err(format!("the affected statement on {vuln} needs an action statement")),
        _ => Ok(()),
    }
}

/// The statements for one image: the author's own (on the image), plus, for
/// each vulnerability declared on a component,
/// - the component is in the image → the declared status carries over with
///   the component as subcomponent;
/// - the component is only in the image's build environments or in dev
///   variants, not in the image → not_affected, justification
///   component_not_present, with an impact statement naming where the
///   component is used instead. A component that is also in the image
///   (the same purl) gets no such statement: its own one applies.
///
/// Sorted by vulnerability, then product; duplicates are dropped.
pub fn image_statements(image_purl: &str, own: &[Declared], in_image: &[Component], not_in_image: &[Component]) -> Vec<Statement> {
    let statement = |d: &Declared, subcomponents: Vec<String>| Statement {
        vulnerability: d.vulnerability.clone(),
        status: d.status,
        justification: d.justification.clone(),
        impact_statement: d.impact_statement.clone(),
        action_statement: d.action_statement.clone(),
        products: vec![Product { id: image_purl.to_string(), subcomponents }],
    };
    let mut out: Vec<Statement> = own.iter().map(|d| statement(d, Vec::new())).collect();
    for c in in_image {
        out.extend(c.declared.iter().map(|d| statement(d, vec![c.purl.clone()])));
    }
    for c in not_in_image.iter().filter(|c| !in_image.iter().any(|i| i.purl == c.purl)) {
        for d in &c.declared {
            out.push(Statement {
                vulnerability: d.vulnerability.clone(),
                status: Status::NotAffected,
                justification: Some("component_not_present".into()),
                impact_statement: Some(format!("{} is not in the image; it is used only in the {}.", c.label, c.where_used)),
                action_statement: None,
                products: vec![Product { id: image_purl.to_string(), subcomponents: vec![c.purl.clone()] }],
            });
        }
    }
    out.sort_by(by_vulnerability_then_product);
    out.dedup();
    out
}

fn by_vulnerability_then_product(a: &Statement, b: &Statement) -> std::cmp::Ordering {
    (&a.vulnerability, &a.products).cmp(&(&b.vulnerability, &b.products)).then_with(|| a.cmp(b))
}

/// The OpenVEX v0.2.0 JSON document. `id` names it
/// ("https://dhib.dev/vex/<name>-<digest hex>"); `timestamp` is
/// SOURCE_DATE_EPOCH. Statements carry only the fields the schema allows.
/// The schema wants at least one statement: with none, emit no document.
pub fn document(id: &str, author: &str, timestamp: u64, statements: &[Statement]) -> Vec<u8> {
    let mut sorted = statements.to_vec();
    for s in &mut sorted {
        for p in &mut s.products {
            p.subcomponents.sort();
            p.subcomponents.dedup();
        }
        s.products.sort();
        s.products.dedup();
    }
    sorted.sort_by(by_vulnerability_then_product);
    sorted.dedup();
    let statements: Vec<Value> = sorted.iter().map(statement_json).collect();
    let doc = json!({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": id,
        "author": author,
        "timestamp": dhib_core::rfc3339(timestamp),
        "version": 1,
        "statements": statements,
    });
    // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("a JSON value always serializes");
    bytes.push(b'\n');
    bytes
}

fn statement_json(s: &Statement) -> Value {
    let products: Vec<Value> = s
        .products
        .iter()
        .map(|p| {
            let mut product = json!({ "@id": p.id });
            if !p.subcomponents.is_empty() {
                let subs: Vec<Value> = p.subcomponents.iter().map(|c| json!({ "@id": c })).collect();
                product["subcomponents"] = json!(subs);
            }
            product
        })
        .collect();
    let mut out = Map::new();
    out.insert("vulnerability".into(), json!({ "name": s.vulnerability }));
    out.insert("products".into(), json!(products));
    out.insert("status".into(), json!(s.status.as_str()));
    for (key, value) in
        [("justification", &s.justification), ("impact_statement", &s.impact_statement), ("action_statement", &s.action_statement)]
    {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "pkg:oci/lua@sha256%3Aabc";

    fn declared(vuln: &str, status: Status) -> Declared {
        Declared {
            vulnerability: vuln.into(),
            status,
            justification: None,
            impact_statement: None,
            action_statement: (status == Status::Affected).then(|| "upgrade".to_string()),
        }
    }

    fn statement(status: Status) -> Statement {
        Statement {
            vulnerability: "CVE-2024-1".into(),
            status,
            justification: None,
            impact_statement: None,
            action_statement: None,
            products: vec![Product { id: IMAGE.into(), subcomponents: vec![] }],
        }
    }

    #[test]
    fn validation_follows_openvex() {
        assert!(validate(&statement(Status::Fixed)).is_ok());
        assert!(validate(&statement(Status::UnderInvestigation)).is_ok());
        let err = validate(&statement(Status::NotAffected)).unwrap_err();
        assert!(err.contains("justification or an impact statement"), "{err}");
        let mut s = statement(Status::NotAffected);
        s.impact_statement = Some("the function is never called".into());
        assert!(validate(&s).is_ok());
        s.justification = Some("not_used".into());
        assert!(validate(&s).unwrap_err().contains("justification `not_used`"));
        s.justification = Some("vulnerable_code_not_present".into());
        assert!(validate(&s).is_ok());
        assert!(validate(&statement(Status::Affected)).unwrap_err().contains("action statement"));
        let mut s = statement(Status::Fixed);
        s.justification = Some("component_not_present".into());
        assert!(validate(&s).unwrap_err().contains("only not_affected"));
        let mut s = statement(Status::Fixed);
        s.products.clear();
        assert!(validate(&s).unwrap_err().contains("no product"));
        let mut s = statement(Status::Fixed);
        s.vulnerability = " ".into();
        assert!(validate(&s).is_err());
    }

    #[test]
    fn image_statements_carry_over_in_image_and_clear_the_rest() {
        let libc = Component {
            purl: "pkg:deb/debian/libc6@2.36".into(),
            label: "//debian:libc6".into(),
            declared: vec![declared("CVE-2024-2", Status::Affected)],
            where_used: "image".into(),
        };
        let gcc = Component {
            purl: "pkg:deb/debian/gcc-12@12.2".into(),
            label: "//debian:gcc-12".into(),
            declared: vec![declared("CVE-2024-3", Status::Affected), declared("CVE-2024-1", Status::UnderInvestigation)],
            where_used: "build environment //toolchains:gcc".into(),
        };
        // The same component also in a dev variant, but it is in the image: no not_affected for it.
        let libc_dev = Component { where_used: "dev variant //images/lua:lua-dev".into(), ..libc.clone() };
        let own = [declared("CVE-2024-9", Status::Fixed)];
        let out = image_statements(IMAGE, &own, std::slice::from_ref(&libc), &[gcc.clone(), libc_dev]);
        let names: Vec<&str> = out.iter().map(|s| s.vulnerability.as_str()).collect();
        assert_eq!(names, ["CVE-2024-1", "CVE-2024-2", "CVE-2024-3", "CVE-2024-9"]);
        assert!(out.iter().all(|s| validate(s).is_ok()), "{out:#?}");
        let in_image = &out[1];
        assert_eq!(in_image.status, Status::Affected);
        assert_eq!(in_image.action_statement.as_deref(), Some("upgrade"));
        assert_eq!(in_image.products, vec![Product { id: IMAGE.into(), subcomponents: vec![libc.purl.clone()] }]);
        for absent in [&out[0], &out[2]] {
            assert_eq!(absent.status, Status::NotAffected);
            assert_eq!(absent.justification.as_deref(), Some("component_not_present"));
            let impact = absent.impact_statement.as_deref().unwrap();
            assert!(impact.contains("//debian:gcc-12") && impact.contains("build environment //toolchains:gcc"), "{impact}");
            assert_eq!(absent.products[0].subcomponents, vec![gcc.purl.clone()]);
        }
        assert_eq!(out[3].products, vec![Product { id: IMAGE.into(), subcomponents: vec![] }]);
        assert_eq!(out[3].status, Status::Fixed);
    }

    #[test]
    fn documents_are_deterministic_and_strict() {
        let mut a = statement(Status::Fixed);
        a.vulnerability = "CVE-2024-2".into();
        let mut b = statement(Status::NotAffected);
        b.justification = Some("component_not_present".into());
        b.products[0].subcomponents = vec!["pkg:deb/debian/b@1".into(), "pkg:deb/debian/a@1".into()];
        let one = document("https://dhib.dev/vex/lua-abc", "dhib", 0, &[a.clone(), b.clone()]);
        assert_eq!(one, document("https://dhib.dev/vex/lua-abc", "dhib", 0, &[b, a]));
        let doc: Value = serde_json::from_slice(&one).unwrap();
        assert_eq!(doc["timestamp"], "1970-01-01T00:00:00Z");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["statements"][0]["vulnerability"]["name"], "CVE-2024-1");
        assert_eq!(doc["statements"][0]["products"][0]["subcomponents"][0]["@id"], "pkg:deb/debian/a@1");
        let keys: Vec<&String> = doc["statements"][1].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["products", "status", "vulnerability"]);
    }
}
