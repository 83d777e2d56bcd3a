//! Runs the nodes a build needs, in dependency order and in parallel, reusing
//! every result the action cache already holds for a node's key.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use petgraph::stable_graph::NodeIndex;
use serde::Serialize;

use crate::actions;
use crate::actions::attest;
use crate::facts;
use crate::job::{self, BuildError, Context, Job};
use crate::sandbox::Mode;
use dhib_analysis::KeyTable;
use dhib_graph::query::{reach, NodeSet, Targets};
use dhib_graph::{BuildGraph, NodeId, NodeKind, Roles};
use dhib_lang::eval::TargetDef;
use dhib_lang::schema::Kind;
use dhib_store::{ActionResult, StoreError};

/// Whether a node has an action (every kind has, once its definition is known).
fn executable(kind: Option<NodeKind>) -> bool {
    kind.is_some()
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The plan: how many nodes will be looked at.
    Plan {
        total: usize,
        skipped: usize,
    },
    Started {
        node: String,
    },
    /// The result was already in the action cache.
    Cached {
        node: String,
    },
    Built {
        node: String,
        seconds: f64,
    },
    Failed {
        node: String,
        error: String,
    },
    /// Not run because something it depends on failed (or the build stopped).
    NotRun {
        node: String,
    },
    /// A stored blob failed verification; the node that made it is rebuilt.
    Corrupt {
        node: String,
        error: String,
    },
    /// Nothing changed since the last successful build of the same request:
    /// `count` nodes are up to date, and nothing was analysed.
    UpToDate {
        count: usize,
    },
}

pub struct Options {
    pub jobs: usize,
    pub keep_going: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub built: Vec<String>,
    pub cached: Vec<String>,
    pub failed: Vec<String>,
    pub not_run: Vec<String>,
    /// Requested nodes that have no action (their definition is missing).
    pub skipped: Vec<String>,
    /// Tests that ran and failed, and test reports with failed tests or
    /// standard checks (also in `built` or `cached`).
    pub failed_tests: Vec<(String, String)>,
    #[serde(skip)]
    pub errors: Vec<(NodeId, BuildError)>,
    /// The key of every built or cached node.
    #[serde(skip)]
    pub keys: HashMap<String, dhib_graph::Key>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.not_run.is_empty() && self.failed_tests.is_empty()
    }
}

/// What the actions read besides their dependencies' results, fetched
/// before the workers start because the analysis database is not shared
/// across threads.
struct Defs {
    defs: HashMap<NodeIndex, Arc<TargetDef>>,
    vex: HashMap<NodeIndex, Arc<attest::VexFacts>>,
}

/// A node's direct dependencies that have results, each with the attributes
/// that name it.
type Deps<'g> = Vec<(&'g Roles, NodeIndex, Arc<ActionResult>)>;

struct State {
    /// Executable dependencies not yet finished, per waiting node.
    waiting_on: HashMap<NodeIndex, usize>,
    ready: VecDeque<NodeIndex>,
    results: HashMap<NodeIndex, Arc<ActionResult>>,
    running: usize,
    stop: bool,
    summary: Summary,
}

/// Builds `requested` and everything it depends on.
pub fn execute(
    cx: &Context<'_>,
    g: &BuildGraph,
    targets: &dyn Targets,
    keys: &KeyTable,
    requested: &NodeSet,
    opts: &Options,
    on_event: &(dyn Fn(&Event) + Sync),
) -> Summary {
    let closure = reach(g, requested, None, true);
    let nodes: BTreeSet<NodeIndex> = closure.iter().copied().filter(|n| executable(g.kind(*n))).collect();
    let mut skipped: Vec<String> = closure.iter().filter(|n| !executable(g.kind(**n))).map(|n| g.node(*n).to_string()).collect();
    skipped.sort();
    let summary = Summary { skipped, ..Summary::default() };
    on_event(&Event::Plan { total: nodes.len(), skipped: summary.skipped.len() });

    let mut waiting_on = HashMap::new();
    let mut ready = VecDeque::new();
    for &n in &nodes {
        let count = g.dependencies(n).filter(|d| nodes.contains(d)).count();
        if count == 0 {
            ready.push_back(n);
        } else {
            waiting_on.insert(n, count);
        }
    }
    // The definitions, fetched here because the analysis database is not
    // shared across threads.
    let defs: HashMap<NodeIndex, Arc<TargetDef>> =
        nodes.iter().filter_map(|n| targets.target(&g.node(*n).label).map(|d| (*n, d))).collect();
    // Only for the VEX documents that are not cached: the walk is not free.
    let vex: HashMap<NodeIndex, Arc<attest::VexFacts>> = nodes
        .iter()
        .filter(|n| g.node(**n).facet.as_deref() == Some("vex"))
        .filter(|n| {
            let cached = keys.get(g.node(**n)).and_then(|k| cx.store.ac_get(&k)).is_some_and(|r| cx.store.has_outputs(&r));
            !(cx.sandbox == Mode::Bwrap && cached)
        })
        .map(|n| (*n, Arc::new(attest::vex_facts(targets, &g.node(*n).label))))
        .collect();
    let defs = Defs { defs, vex };
    let state = Mutex::new(State { waiting_on, ready, results: HashMap::new(), running: 0, stop: false, summary });
    let wake = Condvar::new();
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.max(1) {
            s.spawn(|| worker(cx, g, &defs, keys, &nodes, opts, on_event, &state, &wake));
        }
    });
    let mut st = state.into_inner().expect("workers do not panic while holding the lock");
    // Whatever never became ready waited on a failure.
    let mut left: Vec<String> = st.waiting_on.keys().chain(st.ready.iter()).map(|n| g.node(*n).to_string()).collect();
    left.sort();
    for n in &left {
        on_event(&Event::NotRun { node: n.clone() });
    }
    st.summary.not_run.extend(left);
    st.summary
}

#[allow(clippy::too_many_arguments)]
fn worker(
    cx: &Context<'_>,
    g: &BuildGraph,
    defs: &Defs,
    keys: &KeyTable,
    nodes: &BTreeSet<NodeIndex>,
    opts: &Options,
    on_event: &(dyn Fn(&Event) + Sync),
    state: &Mutex<State>,
    wake: &Condvar,
) {
    loop {
        let (n, deps, closure) = {
            let mut st = state.lock().expect("lock");
            loop {
                if st.stop && st.running == 0 {
                    return;
                }
                if !st.stop {
                    if let Some(n) = st.ready.pop_front() {
                        st.running += 1;
                        let deps: Deps<'_> = g
                            .graph
                            .edges_directed(n, petgraph::Direction::Outgoing)
                            .filter_map(|e| {
                                use petgraph::visit::EdgeRef;
                                st.results.get(&e.target()).map(|r| (e.weight(), e.target(), r.clone()))
                            })
                            .collect();
                        // An attestation reads everything its image was built
                        // from; an image, the runtime dependencies of its packages.
                        let wants_closure =
                            matches!(g.kind(n), Some(NodeKind::Attestation | NodeKind::Target(Kind::Image | Kind::Customization)));
                        let closure: Vec<(NodeIndex, Arc<ActionResult>)> = if wants_closure {
                            let all = reach(g, &NodeSet::from([n]), None, true);
                            all.iter().filter(|d| **d != n).filter_map(|d| st.results.get(d).map(|r| (*d, r.clone()))).collect()
                        } else {
                            Vec::new()
                        };
                        break (n, deps, closure);
                    }
                }
                if st.running == 0 && (st.ready.is_empty() || st.stop) {
                    return;
                }
                st = wake.wait(st).expect("lock");
            }
        };
        let outcome = run_node(cx, g, defs, keys, n, &deps, &closure, on_event);
        let mut st = state.lock().expect("lock");
        st.running -= 1;
        let id = g.node(n).to_string();
        match outcome {
            Ok((result, cached)) => {
                if let Some(k) = keys.get(g.node(n)) {
                    st.summary.keys.insert(id.clone(), k);
                }
                if facts::reports_failure(&result) {
                    let message = facts::test_outcome(&result).and_then(|t| t.message).unwrap_or_else(|| {
                        let count = facts::failed_count(&result).map_or("some".to_string(), |n| n.to_string());
                        format!("{count} tests or checks failed; dhib test shows which")
                    });
                    st.summary.failed_tests.push((id.clone(), message));
                }
                if cached {
                    st.summary.cached.push(id);
                } else {
                    st.summary.built.push(id);
                }
                st.results.insert(n, Arc::new(result));
                for d in g.dependents(n).filter(|d| nodes.contains(d)) {
                    if let Some(c) = st.waiting_on.get_mut(&d) {
                        *c -= 1;
                        if *c == 0 {
                            st.waiting_on.remove(&d);
                            st.ready.push_back(d);
                        }
                    }
                }
            }
            Err(e) => {
                on_event(&Event::Failed { node: id.clone(), error: e.to_string() });
                st.summary.failed.push(id);
                st.summary.errors.push((g.node(n).clone(), e));
                if !opts.keep_going {
                    st.stop = true;
                }
            }
        }
        wake.notify_all();
    }
}

/// Looks the node up in the action cache, or runs it. A dependency's blob
/// that proves corrupt while this node uses it evicts that dependency's
/// result; the dependency is rebuilt once and the node retried.
#[allow(clippy::too_many_arguments)]
fn run_node<'g>(
    cx: &Context<'_>,
    g: &'g BuildGraph,
    defs: &Defs,
    keys: &KeyTable,
    n: NodeIndex,
    deps: &[(&'g Roles, NodeIndex, Arc<ActionResult>)],
    closure: &[(NodeIndex, Arc<ActionResult>)],
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<(ActionResult, bool), BuildError> {
    let id = g.node(n);
    let key = keys.get(id).ok_or_else(|| BuildError::Invalid(format!("{id} has no key")))?;
    // Unsandboxed results are debugging aids: never reused, never stored.
    let cache = cx.sandbox == Mode::Bwrap;
    if let Some(hit) = cx.store.ac_get(&key).filter(|_| cache) {
        if cx.store.has_outputs(&hit) {
            on_event(&Event::Cached { node: id.to_string() });
            return Ok((hit, true));
        }
        cx.store.ac_evict(&key);
    }
    let def = defs.defs.get(&n).cloned().ok_or_else(|| BuildError::Invalid(format!("{id} has no definition")))?;
    let _lock = cx.store.lock_key(&key)?;
    // Another process may have built it while we waited for the lock.
    if let Some(hit) = cx.store.ac_get(&key).filter(|_| cache) {
        on_event(&Event::Cached { node: id.to_string() });
        return Ok((hit, true));
    }
    on_event(&Event::Started { node: id.to_string() });
    let start = Instant::now();
    let mut deps: Deps<'_> = deps.to_vec();
    for attempt in 0..2 {
        let job = Job {
            id,
            def: def.clone(),
            key,
            deps: deps.iter().map(|(roles, d, r)| (*roles, g.node(*d), r.clone())).collect(),
            closure: closure
                .iter()
                .map(|(d, r)| job::Material {
                    id: g.node(*d),
                    def: defs.defs.get(d).cloned(),
                    result: r.clone(),
                    deps: g
                        .graph
                        .edges_directed(*d, petgraph::Direction::Outgoing)
                        .map(|e| {
                            use petgraph::visit::EdgeRef;
                            (e.weight(), g.node(e.target()))
                        })
                        .collect(),
                })
                .collect(),
            vex: defs.vex.get(&n).cloned(),
        };
        let work = cx.store.root().join("work").join(key.to_string());
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).map_err(|e| BuildError::Io(format!("{}: {e}", work.display())))?;
        let result = actions::run(cx, &job, &work);
        let _ = std::fs::remove_dir_all(&work);
        match result {
            Ok(mut r) => {
                // When it was built, for provenance; never part of an output.
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                facts::set_run(&mut r, cx.sandbox, now.saturating_sub(start.elapsed().as_secs()), now);
                // A failed test is a result to report, not to remember: it runs again next time.
                if cache && !facts::is_failed_test(&r) {
                    cx.store.ac_put(&key, &r)?;
                }
                on_event(&Event::Built { node: id.to_string(), seconds: round(start.elapsed()) });
                return Ok((r, false));
            }
            Err(BuildError::Store(e @ StoreError::Corrupt { .. })) if attempt == 0 => {
                on_event(&Event::Corrupt { node: id.to_string(), error: e.to_string() });
                deps = rebuild_deps(cx, g, defs, keys, &deps, on_event)?;
            }
            Err(e) => {
                if let BuildError::Step { log, .. } = &e {
                    record_failed_log(cx, &key, log);
                }
                return Err(e);
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// Evicts and rebuilds the direct dependencies of a node whose inputs proved
/// corrupt (their blobs were already evicted by the failed verification).
fn rebuild_deps<'g>(
    cx: &Context<'_>,
    g: &'g BuildGraph,
    defs: &Defs,
    keys: &KeyTable,
    deps: &[(&'g Roles, NodeIndex, Arc<ActionResult>)],
    on_event: &(dyn Fn(&Event) + Sync),
) -> Result<Deps<'g>, BuildError> {
    let mut out = Vec::new();
    for (roles, d, _) in deps {
        if let Some(k) = keys.get(g.node(*d)) {
            cx.store.ac_evict(&k);
        }
        let inner: Deps<'_> = g
            .graph
            .edges_directed(*d, petgraph::Direction::Outgoing)
            .filter_map(|e| {
                use petgraph::visit::EdgeRef;
                let k = keys.get(g.node(e.target()))?;
                cx.store.ac_get(&k).map(|r| (e.weight(), e.target(), Arc::new(r)))
            })
            .collect();
        let (r, _) = run_node(cx, g, defs, keys, *d, &inner, &[], on_event)?;
        out.push((*roles, *d, Arc::new(r)));
    }
    Ok(out)
}

/// Remembers the log of the last failed build of a key, for `dhib log`.
fn record_failed_log(cx: &Context<'_>, key: &dhib_graph::Key, log: &dhib_store::Digest) {
    let dir = cx.store.root().join("failed");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(key.to_string()), log.hex());
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}
