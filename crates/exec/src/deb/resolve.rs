//! Dependency closures over a `Packages` index: what `dhib lock` pins and
//! what an environment unpacks.
//!
//! The resolver is deliberately simpler than apt's: it follows `Depends` and
//! `Pre-Depends` (not `Recommends`), ignores `Conflicts` and `Breaks`, and
//! never backtracks, so the closure is a pure function of the index, the
//! roots and their order. Each package name appears at most once.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt;

use super::index::IndexEntry;
use super::version::compare_versions;

/// A version operator of a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`
    Lt,
    /// `<=` (and the obsolete `<`, which dpkg reads the same way)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    Ge,
    /// `>>`
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Lt,
            "<=" | "<" => Op::Le,
            "=" => Op::Eq,
            ">=" | ">" => Op::Ge,
            ">>" => Op::Gt,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }

    /// Whether `version` satisfies `op wanted`.
    pub fn admits(self, version: &str, wanted: &str) -> bool {
        let ord = compare_versions(version, wanted);
        match self {
            Op::Lt => ord.is_lt(),
            Op::Le => ord.is_le(),
            Op::Eq => ord.is_eq(),
            Op::Ge => ord.is_ge(),
            Op::Gt => ord.is_gt(),
        }
    }
}

/// One alternative of a relationship field: `name[:arch] [(op version)]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    pub name: String,
    /// The architecture qualifier: `any`, `native` or an architecture.
    pub arch: Option<String>,
    pub version: Option<(Op, String)>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(arch) = &self.arch {
            write!(f, ":{arch}")?;
        }
        if let Some((op, v)) = &self.version {
            write!(f, " ({} {v})", op.as_str())?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed relation `{0}`")]
pub struct RelationError(pub String);

/// Parses a relationship field (`Depends`, `Pre-Depends`, `Provides`): groups
/// separated by `,`, each a list of alternatives separated by `|`. The
/// architecture restrictions and build profiles of source packages
/// (`[amd64]`, `<!nocheck>`) never occur in binary packages and are refused.
pub fn parse_relations(field: &str) -> Result<Vec<Vec<Relation>>, RelationError> {
    field.split(',').map(str::trim).filter(|group| !group.is_empty()).map(|group| group.split('|').map(parse_relation).collect()).collect()
}

fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let text = text.trim();
    let bad = || RelationError(text.to_string());
    let (head, version) = match text.split_once('(') {
        Some((head, rest)) => {
            let inner = rest.trim_end().strip_suffix(')').ok_or_else(bad)?.trim();
            let op_len = inner.find(|c| !matches!(c, '<' | '>' | '=')).ok_or_else(bad)?;
            let op = Op::parse(&inner[..op_len]).ok_or_else(bad)?;
            let v = inner[op_len..].trim();
            if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '(' || c == ')') {
                return Err(bad());
            }
            (head.trim(), Some((op, v.to_string())))
        }
        None => (text, None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((name, arch)) => (name, Some(arch)),
        None => (head, None),
    };
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !valid(name) || arch.is_some_and(|a| !valid(a)) {
        return Err(bad());
    }
    Ok(Relation { name: name.to_string(), arch: arch.map(str::to_string), version })
}

/// A resolved closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure<'a> {
    /// Every package, sorted by name.
    pub packages: Vec<&'a IndexEntry>,
    /// For each package, the packages of the closure that satisfy its
    /// `Pre-Depends` and `Depends` (itself left out).
    pub depends: BTreeMap<&'a str, BTreeSet<&'a str>>,
    /// The package chosen for each root, in the roots' order.
    pub roots: Vec<&'a str>,
}

/// A relation nothing in the index satisfies, with the packages that led to
/// it: `gcc-12 -> cpp-12 -> libmpc3 (>= 1.1.0): not in the index`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ResolveError {
    /// From a root to the package declaring the relation; empty when the
    /// relation is a root itself.
    pub chain: Vec<String>,
    pub relation: String,
    pub reason: String,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for package in &self.chain {
            write!(f, "{package} -> ")?;
        }
        write!(f, "{}: {}", self.relation, self.reason)
    }
}

/// The closure of `roots` under `Depends` and `Pre-Depends`, for `arch`
/// (packages of architecture `all` included), sorted by package name.
/// A root is a package name or any relation (`libc6 (>= 2.36)`, `awk`,
/// `mawk | gawk`). See `resolve_closure` for the rules.
pub fn resolve<'a>(index: &'a [IndexEntry], roots: &[&str], arch: &str) -> Result<Vec<&'a IndexEntry>, ResolveError> {
    resolve_closure(index, roots, arch).map(|c| c.packages)
}

/// Like `resolve`, and also records which package satisfies each relation.
///
/// Roots and then dependencies are visited breadth first, in field order. A
/// relation group already satisfied by a package of the closure adds
/// nothing; otherwise its first alternative that can be satisfied wins, by
/// the highest version of a real package of that name, else by a provider
/// (first by name; a versioned relation needs a versioned `Provides`).
/// Architecture qualifiers `:any` and `:native` are satisfied by the one
/// architecture resolved.
pub fn resolve_closure<'a>(index: &'a [IndexEntry], roots: &[&str], arch: &str) -> Result<Closure<'a>, ResolveError> {
    let universe = Universe::new(index, arch);
    let mut chosen: BTreeMap<&'a str, Chosen<'a>> = BTreeMap::new();
    let mut queue: VecDeque<&'a IndexEntry> = VecDeque::new();
    let mut root_packages = Vec::new();

    for root in roots {
        let unparsable =
            || ResolveError { chain: Vec::new(), relation: root.to_string(), reason: "is not a package name or relation".into() };
        let groups = parse_relations(root).map_err(|_| unparsable())?;
        let [group] = groups.as_slice() else { return Err(unparsable()) };
        let entry = universe.choose(group, &chosen).map_err(|reason| ResolveError { chain: Vec::new(), relation: show(group), reason })?;
        root_packages.push(entry.package.as_str());
        if !chosen.contains_key(entry.package.as_str()) {
            chosen.insert(&entry.package, Chosen { entry, parent: None, depends: BTreeSet::new() });
            queue.push_back(entry);
        }
    }

    while let Some(entry) = queue.pop_front() {
        for (field, text) in [("Pre-Depends", &entry.pre_depends), ("Depends", &entry.depends)] {
            let groups = parse_relations(text).map_err(|e| ResolveError {
                chain: chain(&chosen, &entry.package),
                relation: e.0,
                reason: format!("cannot be parsed (in {field})"),
            })?;
            for group in &groups {
                let dep = universe.choose(group, &chosen).map_err(|reason| ResolveError {
                    chain: chain(&chosen, &entry.package),
                    relation: show(group),
                    reason,
                })?;
                if dep.package == entry.package {
                    continue;
                }
                if !chosen.contains_key(dep.package.as_str()) {
                    chosen.insert(&dep.package, Chosen { entry: dep, parent: Some(&entry.package), depends: BTreeSet::new() });
                    queue.push_back(dep);
                }
                if let Some(c) = chosen.get_mut(entry.package.as_str()) {
                    c.depends.insert(&dep.package);
                }
            }
        }
    }

    Ok(Closure {
        packages: chosen.values().map(|c| c.entry).collect(),
        depends: chosen.into_iter().map(|(name, c)| (name, c.depends)).collect(),
        roots: root_packages,
    })
}

struct Chosen<'a> {
    entry: &'a IndexEntry,
    /// The package whose relation first brought this one in.
    parent: Option<&'a str>,
    depends: BTreeSet<&'a str>,
}

fn chain(chosen: &BTreeMap<&str, Chosen<'_>>, package: &str) -> Vec<String> {
    let mut out = vec![package.to_string()];
    let mut at = chosen.get(package).and_then(|c| c.parent);
    while let Some(p) = at {
        out.push(p.to_string());
        at = chosen.get(p).and_then(|c| c.parent);
    }
    out.reverse();
    out
}

fn show(group: &[Relation]) -> String {
    group.iter().map(Relation::to_string).collect::<Vec<_>>().join(" | ")
}

/// The index as the resolver looks things up in it.
struct Universe<'a> {
    arch: String,
    /// Packages of the architecture and `all` by name, highest version first.
    by_name: HashMap<&'a str, Vec<&'a IndexEntry>>,
    /// Providers of each virtual name, by provider name, with the version
    /// they provide, if any.
    providers: HashMap<String, Vec<(&'a IndexEntry, Option<String>)>>,
}

impl<'a> Universe<'a> {
    fn new(index: &'a [IndexEntry], arch: &str) -> Self {
        let mut by_name: HashMap<&str, Vec<&IndexEntry>> = HashMap::new();
        let mut providers: HashMap<String, Vec<(&IndexEntry, Option<String>)>> = HashMap::new();
        for e in index.iter().filter(|e| e.architecture == arch || e.architecture == "all") {
            by_name.entry(&e.package).or_default().push(e);
            // A malformed Provides is ignored: its package can still be
            // chosen by name, it just stands in for nothing.
            for p in parse_relations(&e.provides).unwrap_or_default().into_iter().flatten() {
                providers.entry(p.name).or_default().push((e, p.version.map(|(_, v)| v)));
            }
        }
        // Stable sorts: among equal versions, the first in the index wins.
        for entries in by_name.values_mut() {
            entries.sort_by(|a, b| compare_versions(&b.version, &a.version));
        }
        for list in providers.values_mut() {
            list.sort_by(|(a, _), (b, _)| a.package.cmp(&b.package).then_with(|| compare_versions(&b.version, &a.version)));
        }
        Universe { arch: arch.to_string(), by_name, providers }
    }

    /// The entries that can satisfy `rel`, best first, or why there are none.
    fn candidates(&self, rel: &Relation) -> Result<Vec<&'a IndexEntry>, String> {
        if let Some(a) = rel.arch.as_deref().filter(|a| !matches!(*a, "any" | "native") && *a != self.arch) {
            return Err(format!("architecture {a} is not resolved, only {} and all", self.arch));
        }
        let real = self.by_name.get(rel.name.as_str()).map_or(&[][..], Vec::as_slice);
        let provided = self.providers.get(&rel.name).map_or(&[][..], Vec::as_slice);
        if real.is_empty() && provided.is_empty() {
            return Err("not in the index".into());
        }
        let admits = |version: Option<&str>| match (&rel.version, version) {
            (None, _) => true,
            (Some((op, wanted)), Some(v)) => op.admits(v, wanted),
            (Some(_), None) => false,
        };
        let found: Vec<&IndexEntry> = real
            .iter()
            .filter(|e| admits(Some(&e.version)))
            .copied()
            .chain(provided.iter().filter(|(_, v)| admits(v.as_deref())).map(|(e, _)| *e))
            .collect();
        if found.is_empty() {
            let have: Vec<String> = real
                .iter()
                .map(|e| format!("{} {}", e.package, e.version))
                .chain(provided.iter().map(|(e, v)| match v {
                    Some(v) => format!("{} (provides {} = {v})", e.package, rel.name),
                    None => format!("{} (provides {} without a version)", e.package, rel.name),
                }))
                .collect();
            return Err(format!("the index has only {}", have.join(", ")));
        }
        Ok(found)
    }

    /// The entry satisfying a group of alternatives, given what is chosen.
    fn choose(&self, group: &[Relation], chosen: &BTreeMap<&str, Chosen<'a>>) -> Result<&'a IndexEntry, String> {
        let options: Vec<_> = group.iter().map(|rel| self.candidates(rel)).collect();
        let in_closure = |e: &IndexEntry| chosen.get(e.package.as_str()).is_some_and(|c| c.entry.version == e.version);
        if let Some(e) = options.iter().flatten().flatten().find(|e| in_closure(e)) {
            return Ok(e);
        }
        let mut reasons = Vec::new();
        for (rel, option) in group.iter().zip(options) {
            match option {
                Ok(found) => match found.iter().find(|e| !chosen.contains_key(e.package.as_str())) {
                    Some(e) => return Ok(e),
                    None => {
                        let other: BTreeSet<String> = found
                            .iter()
                            .filter_map(|e| chosen.get(e.package.as_str()))
                            .map(|c| format!("{} {}", c.entry.package, c.entry.version))
                            .collect();
                        let other = other.into_iter().collect::<Vec<_>>().join(", ");
                        reasons.push((rel, format!("the closure already has {other}")));
                    }
                },
                Err(why) => reasons.push((rel, why)),
            }
        }
        Err(match reasons.as_slice() {
            [(_, why)] => why.clone(),
            _ => reasons.iter().map(|(rel, why)| format!("{rel}: {why}")).collect::<Vec<_>>().join("; "),
        })
    }
}
