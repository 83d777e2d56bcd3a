//! The `dhib` command line: parses arguments, calls the library, prints.

use dhib::upstream::update::write_atomically;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use dhib::analysis::{self, Analysis, Analyzed};
use dhib::exec;
use dhib::graph::query::{self, QUERY_FILE};
use dhib::graph::NodeId;
use dhib::lang::diag::{Diag, Rendered, SourceLookup, Span};
use dhib::lang::fmt as dhifmt;
use dhib::store::Store;

mod progress;

const ABOUT: &str = "Declarative, content-addressed builds of hardened container images";

const LONG_ABOUT: &str = "\
dhib reads the .dhi files of a workspace (the directory holding dhi.toml and
everything below it) into one build graph of sources, packages, images,
customizations, tests and attestations, each with a content key that changes
exactly when something that affects its output changes.

Targets are named by labels: //pkgs/zlib:zlib (directory pkgs/zlib, target
zlib), //pkgs/zlib (the same, short form), :zlib (in the same directory).
Patterns name many: //... (everything), //images/... (everything below
images/), //images:all (everything in images/ itself).";

const EXAMPLES: &str = "\
Examples:
  dhib fetch //examples/...                   download the pinned sources and debs
  dhib build //examples/...                   build (a second run does nothing)
  dhib query 'rdeps(//..., //pkgs/zlib)'      what must rebuild if zlib changes
  dhib query 'kind(image, //...)' --output json
  dhib graph //images/lua:lua | dot -Tsvg > lua.svg
  dhib key //images/lua:lua
  dhib upstream check                         newer releases of sources and debs
  dhib log //pkgs/zlib:zlib                   the build log of a node
  dhib run //images/lua:lua -- -e 'print(1)'  build an image and run it in the sandbox
  dhib publish //images/... --registry ghcr.io/acme
  dhib keygen                                 cosign.key and cosign.pub for signing
  dhib test //examples/...                    tests and standard checks, CTRF reports
  dhib verify //examples/images/lua:lua       signature, attestations, SBOM vs layers
  dhib affected --since origin/main           CI: what a change makes rebuild
  dhib guard old.tar.gz new.tar.gz            vet an upstream change before trusting it
  dhib fmt --check";

#[derive(Parser)]
#[command(name = "dhib", version, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
struct Cli {
    /// Run as if started in DIR (the workspace is found by walking up to dhi.toml).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR", env = "DHIB_DIRECTORY")]
    directory: Option<PathBuf>,
    /// The store of built results (default: .dhib/ in the workspace); share one
    /// between workspaces by pointing them at the same directory.
    #[arg(long, global = true, value_name = "DIR", env = "DHIB_STORE")]
    store: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    /// One node per line.
    Label,
    /// A JSON array of {node, kind, key}.
    Json,
    /// A Graphviz digraph of the result and the edges between its nodes.
    Dot,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum GuardOutput {
    /// One block per finding, then a summary.
    Text,
    /// The whole report as one JSON object.
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SandboxArg {
    /// bubblewrap: no network, only declared inputs, read-only environment.
    Bwrap,
    /// No isolation, for debugging build steps; results are marked unsandboxed.
    None,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Progress {
    /// One line per action on stderr.
    Text,
    /// One JSON event per line on stdout, for CI.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Build targets: fetch pinned sources and packages, build in the sandbox,
    /// and cache every result by its key (a second run does nothing).
    #[command(after_help = "\
Examples:
  dhib build //examples/...                  everything below examples/
  dhib build //examples/pkgs/zlib -j 4       one package and what it needs
  dhib build 'rdeps(//..., //examples/pkgs/zlib)' --keep-going
  dhib build //... --output json             events for CI, one JSON object per line
  dhib build //examples/images/lua --check-reproducible
                                             build twice from nothing, compare")]
    Build {
        /// Target patterns or query expressions; their union is built.
        #[arg(default_value = "//...")]
        patterns: Vec<String>,
        /// Actions run at once (default: the number of cores).
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Keep building what does not depend on a failure.
        #[arg(short, long)]
        keep_going: bool,
        #[arg(long, value_enum, default_value = "bwrap")]
        sandbox: SandboxArg,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Progress,
        /// Where images are written as OCI layouts (default: dhib-out/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Then build everything again from nothing, in a fresh store, and fail
        /// if any output differs.
        #[arg(long)]
        check_reproducible: bool,
    },
    /// Download every pinned file that targets need (their sources and
    /// debs, through their whole build closure) into the store, each checked
    /// against its sha256, without building; a later build needs no network.
    #[command(
        long_about = "\
Download every pinned file that targets need (their sources and debs, through
their whole build closure) into the store, each checked against its sha256,
without building anything; a later `dhib build` then needs no network.

A pin names bytes, not a place, so any origin holding them will do. They are
asked in this order, and a download is accepted only if its sha256 matches:
  1. the mirrors of DHIB_FETCH_MIRRORS (comma-separated), then `[fetch]
     mirrors` of dhi.toml: URLs or directories, each asked for sha256/<hex>
     (a hashed mirror, as --mirror-dir writes) and then for the file's name
     (a directory of downloads);
  2. the URL itself. A `mirror://debian/pool/...` URL (and every deb's
     `filename`) is a path in a Debian repository: asked of DHIB_DEBIAN_REPO,
     else `[debian] repo`, else each repository of this machine's apt
     sources, in order. Exact pool paths keep working after Debian moves on
     to a newer version: nothing asks which version is current.

A file that no origin serves is named with its pin and every place tried;
the others are still fetched, and the exit status is 1.",
        after_help = "\
Examples:
  dhib fetch //examples/...                          what the examples need
  dhib fetch //... --mirror-dir /srv/dhib-mirror     and keep a mirror for CI
  DHIB_FETCH_MIRRORS=/srv/dhib-mirror dhib build //...   offline, from it
  dhib fetch //examples/images/lua --output json     one JSON event per file"
    )]
    Fetch {
        /// Target patterns or query expressions.
        #[arg(default_value = "//...")]
        patterns: Vec<String>,
        /// Downloads at once.
        #[arg(short, long, default_value_t = 4)]
        jobs: usize,
        /// Also keep every file as DIR/sha256/<hex>: a mirror that `[fetch]
        /// mirrors` or DHIB_FETCH_MIRRORS can name elsewhere.
        #[arg(long, value_name = "DIR")]
        mirror_dir: Option<PathBuf>,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Progress,
    },
    /// Run the tests of images: their `test` targets (a command inside the
    /// image, expectations on its files) and the standard checks (non-root,
    /// no shell or package manager in runtime images, no setuid or
    /// world-writable files, size budget, labels, platforms, every file in the
    /// SBOM). Writes a CTRF
    /// report per image to OUT/DIR/NAME.ctrf.json and prints a table; exits 1
    /// when anything failed. Passing tests are cached by key.
    #[command(after_help = "\
Examples:
  dhib test //examples/...                     every image's tests and checks
  dhib test //examples/images/lua:lua          one image
  dhib test //examples/images/lua:lua-hello    one test (and its image's checks)
  dhib test //examples/... --output json       one JSON line per image, for CI")]
    Test {
        /// Images, customizations or tests (patterns or query expressions).
        #[arg(required = true)]
        patterns: Vec<String>,
        #[arg(short, long)]
        jobs: Option<usize>,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Progress,
        /// Where the reports go (default: dhib-out/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Verify a signed image: its cosign signature, every attestation's DSSE
    /// signature and subject, that its SBOM lists exactly what its layers
    /// hold, that its tests passed, (for images of this workspace) that its
    /// provenance names what the graph built it from, and that no source
    /// archive it was built from is one the upstream-diff guardrail still
    /// blocks. Prints one line per check; exits 1 when any fails.
    #[command(after_help = "\
Examples:
  dhib verify //examples/images/lua:lua                 the image dhib build wrote
  dhib verify dhib-out/examples/images/lua/lua --key cosign.pub
  dhib verify 127.0.0.1:5000/examples/images/lua:lua --insecure")]
    Verify {
        /// A label (of an image `dhib build` wrote), an OCI layout directory,
        /// or a registry reference (HOST/REPO:TAG or HOST/REPO@sha256:...).
        reference: String,
        /// The public key (default: the `[sign] key` of dhi.toml with .pub
        /// in place of .key).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Speak plain http to the registry.
        #[arg(long)]
        insecure: bool,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Progress,
        /// Where `dhib build` wrote the images (default: dhib-out/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// What a change affects, for CI: the nodes whose keys change between a
    /// git revision and the working tree (--since), or that depend on the
    /// given files (--files, conservative: every node defined in or reading
    /// them, and everything downstream). Build only those.
    #[command(after_help = "\
Examples:
  dhib affected --since origin/main                      every node whose key changed
  dhib affected --since HEAD~1 --output json
  dhib affected --files examples/pkgs/zlib/BUILD.dhi
  dhib build $(dhib affected --since origin/main)        CI: build what changed")]
    Affected {
        /// A git revision of the workspace's repository to compare with.
        #[arg(long, value_name = "REV", required_unless_present = "files", conflicts_with = "files")]
        since: Option<String>,
        /// Changed files, relative to the workspace root.
        #[arg(long, num_args = 1.., value_name = "FILE")]
        files: Vec<String>,
        #[arg(long, short, value_enum, default_value = "label")]
        output: Output,
    },
    /// Where new releases of sources and debs appear (their `upstream`
    /// monitors): list what is newer, or move sources to it.
    #[command(subcommand)]
    Upstream(UpstreamCommand),
    /// Build an image and run it: its entrypoint, user, environment and working
    /// directory, in the sandbox, without network unless --net. Exits with the
    /// program's exit code.
    #[command(after_help = "\
Examples:
  dhib run //examples/images/lua:lua -- -e 'print(_VERSION)'
  dhib run //examples/images/sqlite:sqlite -- -version
  dhib run //examples/customizations/acme:acme-lua --net")]
    Run {
        /// The image or customization to run.
        target: String,
        /// Arguments replacing the image's `cmd` (after its entrypoint).
        #[arg(last = true)]
        args: Vec<String>,
        /// Give the program the host's network.
        #[arg(long)]
        net: bool,
        #[arg(short, long)]
        jobs: Option<usize>,
    },
    /// Push images built by `dhib build` to a registry (blobs, then
    /// manifests, then tags). //dir/sub:name goes to NAMESPACE/dir/sub:name.
    #[command(after_help = "\
Examples:
  dhib publish //examples/images/... --registry ghcr.io/acme
        //examples/images/lua:lua-dev -> ghcr.io/acme/examples/images/lua:lua-dev
  dhib publish //examples/images/lua:lua --registry 127.0.0.1:5000/test --insecure
  dhib publish //examples/images/lua:lua --registry ghcr.io/acme --tag 5.4.4 --output json

Credentials come from $DOCKER_CONFIG/config.json or ~/.docker/config.json
(what `docker login` writes); HTTPS trusts the system's roots and the PEM
bundle named by SSL_CERT_FILE. A connection that takes DHIB_NET_TIMEOUT
seconds (default 60) to open or to move a byte is retried, then given up.")]
    Publish {
        /// Target patterns naming built images.
        #[arg(required = true)]
        patterns: Vec<String>,
        /// Where to push: HOST[:PORT]/NAMESPACE.
        #[arg(long, value_name = "HOST[:PORT]/NAMESPACE")]
        registry: String,
        /// Speak plain http to the registry instead of https.
        #[arg(long)]
        insecure: bool,
        /// Tag each image with TAG instead of its target name.
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Progress,
        /// Where `dhib build` wrote the images (default: dhib-out/ in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Pin Debian packages: resolve `[debian] packages` of dhi.toml and their
    /// dependencies against a Packages index, and write them as `deb` targets.
    #[command(after_help = "\
Examples:
  dhib lock                                  resolve against this machine's apt lists
  dhib lock --index Packages.xz              resolve against a downloaded index
  dhib lock --index arm64=Packages-arm64.xz  with arch = [\"amd64\", \"arm64\"] in dhi.toml")]
    Lock {
        /// Packages indexes (plain, .gz, .xz, or apt's .lz4), as FILE for the first
        /// architecture of `[debian] arch` or ARCH=FILE; default: apt's lists.
        #[arg(long, value_name = "[ARCH=]FILE")]
        index: Vec<String>,
    },
    /// List the files a built node produced, by output.
    #[command(after_help = "Example:\n  dhib ls //examples/pkgs/zlib:zlib")]
    Ls { node: String },
    /// Print the build log of a node (its last build, or its last failure).
    Log { node: String },
    /// Delete everything in the store.
    Clean,
    /// Delete unreferenced blobs, then the oldest results until the store fits.
    #[command(after_help = "Example:\n  dhib gc --max-size 20G")]
    Gc {
        /// Largest store to keep, e.g. 500M or 20G.
        #[arg(long, default_value = "20G")]
        max_size: String,
    },
    /// Generate a cosign-compatible key pair for signing images and attestations.
    #[command(
        long_about = "\
Generate an ECDSA P-256 key pair in cosign's formats: PREFIX.key, the private
key encrypted with scrypt and NaCl secretbox (`ENCRYPTED SIGSTORE PRIVATE KEY`,
mode 0600), and PREFIX.pub, the public key (SPKI PEM). cosign reads both, and
dhib reads keys made by `cosign generate-key-pair`.

The password comes from DHIB_KEY_PASSWORD, else COSIGN_PASSWORD, else is
empty. Existing files are never replaced without --force.",
        after_help = "\
Examples:
  DHIB_KEY_PASSWORD=s3cret dhib keygen              writes cosign.key and cosign.pub
  dhib keygen --output keys/release                 writes keys/release.key and keys/release.pub
  cosign sign --key cosign.key IMAGE                cosign uses the same files"
    )]
    Keygen {
        /// Write PREFIX.key and PREFIX.pub.
        #[arg(long, short, value_name = "PREFIX", default_value = "cosign")]
        output: PathBuf,
        /// Replace existing key files.
        #[arg(long)]
        force: bool,
    },
    /// Diff two upstream source trees and check the changed code before trusting it.
    #[command(
        long_about = "\
Diff two upstream source trees and check the changed code before trusting it.

OLD and NEW are directories or source archives (tar.gz, tar.xz, tar.bz2,
tar.zst, zip; a single top-level directory is stripped). Rules look at the
added lines of every change next to the lines they replaced: inverted or
dropped error checks, swallowed errors, disabled hardening or sandboxing,
payloads decoded and run at build time, binary test files read by build
scripts. With --vcs, release files absent from the VCS checkout of the new
tag are reported too, and, for a git checkout, build files changed by
authors new since the previous tag or in a release whose tag has a new
signer. The rules are listed in docs/guard.md.

A finding of high severity and high confidence blocks: the exit status is 1
until it is approved with --approve RULE_ID@FILE. Exit status 2 is bad input.",
        after_help = "\
Examples:
  dhib guard zlib-1.3.tar.gz zlib-1.3.1.tar.gz
  dhib guard xz-5.6.0.tar.gz xz-5.6.1.tar.gz --vcs ~/src/xz     with the tag v5.6.1 checked out
  dhib guard old/ new/ --approve c.inverted-error-check@src/inflate.c
  dhib guard old/ new/ --output json | jq '.findings[] | .rule'"
    )]
    Guard {
        /// The release already trusted: a directory or an archive.
        old: PathBuf,
        /// The release to check: a directory or an archive.
        new: PathBuf,
        /// A checkout of NEW's tag in version control.
        #[arg(long, value_name = "DIR")]
        vcs: Option<PathBuf>,
        /// Accept a blocking finding after review (repeatable).
        #[arg(long, value_name = "RULE_ID@FILE")]
        approve: Vec<String>,
        /// How to print the report.
        #[arg(long, short, value_enum, default_value = "text")]
        output: GuardOutput,
    },
    /// Answer questions about the build graph.
    #[command(after_help = "\
Expressions:
  //...  //dir/...  //dir:all  //dir:name   target patterns
  //dir:name@linux/arm64  //dir:img#sbom    one configured or attestation node
  deps(X)  deps(X, 1)                        X and what it depends on (to a depth)
  rdeps(U, X)  rdeps(U, X, 1)                what in U depends on X
  allpaths(A, B)                             every node on a path from A to B
  kind(image, X)                             source package deb env image
                                             customization test attestation
  attr(license, Zlib, X)                     nodes whose attribute has that value
  tests(X)                                   the tests of the images in X
  A + B   A - B   A ^ B                      union, difference, intersection
                                             (spaces around the operator)

Examples:
  dhib query 'rdeps(//..., //pkgs/zlib)'
  dhib query 'kind(image, rdeps(//..., //pkgs/zlib))'
  dhib query 'deps(//images/lua:lua, 1)' --output dot
  dhib query 'kind(package, //...) - attr(license, MIT, //...)'")]
    Query {
        /// The query expression.
        expr: String,
        #[arg(long, short, value_enum, default_value = "label")]
        output: Output,
    },
    /// Print the dependency graph of targets as Graphviz dot.
    #[command(after_help = "Example:\n  dhib graph //images/... | dot -Tsvg > images.svg")]
    Graph {
        /// Target patterns; the graph holds them and everything they depend on.
        #[arg(default_value = "//...")]
        patterns: Vec<String>,
    },
    /// Print the content key of nodes: it changes exactly when their output may.
    #[command(after_help = "Example:\n  dhib key //pkgs/zlib:zlib //images/lua:lua#sbom")]
    Key {
        #[arg(required = true)]
        nodes: Vec<String>,
    },
    /// Check every .dhi file and report all problems, without building.
    Check,
    /// Rewrite .dhi files in the canonical format (keys never change).
    #[command(
        after_help = "Examples:\n  dhib fmt              format every .dhi file of the workspace\n  dhib fmt --check      list files that are not formatted; exit 1 if any"
    )]
    Fmt {
        /// Do not write; list the files that would change and exit 1 if any.
        #[arg(long)]
        check: bool,
        /// Files to format (default: every .dhi file of the workspace).
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum UpstreamCommand {
    /// Ask every monitor in PATTERN for a newer version than the pinned one.
    /// A monitor that fails is reported and makes the exit code 1.
    #[command(after_help = "\
Examples:
  dhib upstream check                                     every source and deb with `upstream`
  dhib upstream check //examples/pkgs/... --output json

github_releases reads GITHUB_TOKEN (sent as a bearer token) when set. [upstream.mirrors] in
dhi.toml sends monitors to a mirror or a local upstream (longest URL prefix replaced):
  [upstream.mirrors]
  \"https://github.com/lua/lua.git\" = \"file://upstreams/lua\"")]
    Check {
        #[arg(default_value = "//...")]
        pattern: String,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Format,
    },
    /// Move sources in PATTERN to their newest version: fetch the new URL,
    /// have the upstream-diff guardrail vet the change (against the tree of
    /// the tag too, for git and GitHub monitors; a blocking finding stops the
    /// update until --approve), write its version and sha256 into the .dhi
    /// file (nothing else of the file changes; packages and images that
    /// wrote the same version follow it), and list every node whose key
    /// changes. The guardrail's report is kept in the store and beside the
    /// .dhi file (SOURCE.guard.json, to commit with the change), and carried
    /// in the provenance of every image built from the new version. Newer debs
    /// are listed for `dhib lock`. Exits 1 when a source with a newer
    /// version could not be updated (the guardrail blocks it, its url does
    /// not use `{version}`, the fetch or its monitor failed).
    #[command(after_help = "\
Examples:
  dhib upstream update //examples/pkgs/zlib --dry-run     what would change, no file rewritten
  dhib upstream update //examples/pkgs/lua --to 5.4.7
  dhib upstream update //examples/pkgs/lua --approve sh.encoded-payload@src/host.mk   after reading the finding
  scripts/upstream-demo.sh                                 all of it on the examples, offline")]
    Update {
        #[arg(default_value = "//...")]
        pattern: String,
        /// Move to VERSION instead of the newest the monitor finds.
        #[arg(long, value_name = "VERSION")]
        to: Option<String>,
        /// Fetch, vet and compute everything, but rewrite no file.
        #[arg(long)]
        dry_run: bool,
        /// Accept a blocking guardrail finding (RULE_ID@FILE, as the report names it).
        #[arg(long, value_name = "RULE_ID@FILE")]
        approve: Vec<String>,
        #[arg(long, short, value_enum, default_value = "text")]
        output: Format,
    },
}

fn report_reproducibility(differences: &[exec::Difference], checked: usize, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({"event": "reproducibility", "checked": checked, "differences": differences}));
    } else if differences.is_empty() {
        eprintln!("reproducible: {checked} nodes gave identical outputs when built again from nothing");
    } else {
        for d in differences {
            eprintln!("NOT REPRODUCIBLE {}", d.node);
            for (name, (a, b)) in &d.outputs {
                let show = |x: &Option<String>| x.as_deref().map_or("(none)".to_string(), |h| format!("sha256:{h}"));
                eprintln!("  {name}: {} then {}", show(a), show(b));
            }
        }
        eprintln!("{} of {checked} nodes differ between two builds from the same inputs", differences.len());
    }
    if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The union of the nodes `patterns` name; a bad one is a diagnostic in
/// its own text.
fn resolve_all(analysis: &Analysis, analyzed: &Analyzed, patterns: &[String]) -> Result<dhib::graph::query::NodeSet, Failure> {
    let mut requested = dhib::graph::query::NodeSet::new();
    for p in patterns {
        requested.extend(exec::resolve(analysis, analyzed, p).map_err(|d| Failure::new(vec![d], &WithQuery { analysis, query: p }))?);
    }
    Ok(requested)
}

/// Actions at once unless `-j` says: one per core.
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            failure.print();
            ExitCode::from(1)
        }
    }
}

/// Diagnostics to print, each with the source text it points into.
struct Failure(Vec<Rendered>);

/// The workspace's dhi.toml, for diagnostics about it before analysis exists.
struct ConfigSource<'a>(&'a Path);
impl SourceLookup for ConfigSource<'_> {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        (file == analysis::ROOT_MARKER).then(|| std::fs::read_to_string(self.0.join(file)).ok().map(Arc::from)).flatten()
    }
}

struct NoSources;
impl SourceLookup for NoSources {
    fn source_text(&self, _: &str) -> Option<Arc<str>> {
        None
    }
}

/// The workspace's sources plus the query text, for query diagnostics.
struct WithQuery<'a> {
    analysis: &'a Analysis,
    query: &'a str,
}
impl SourceLookup for WithQuery<'_> {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        if file == QUERY_FILE {
            Some(Arc::from(self.query))
        } else {
            self.analysis.source_text(file)
        }
    }
}

impl Failure {
    fn new(diags: Vec<Diag>, sources: &dyn SourceLookup) -> Self {
        Failure(diags.into_iter().map(|d| Rendered::new(d, sources)).collect())
    }

    fn plain(d: Diag) -> Self {
        Self::new(vec![d], &NoSources)
    }

    fn print(self) {
        let count = self.0.len();
        for r in self.0 {
            eprintln!("{:?}", miette::Report::new(r));
        }
        if count > 1 {
            eprintln!("error: {count} problems found");
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    // Needs no workspace; `-C DIR` still says where a relative PREFIX is.
    // As if started in DIR: every relative path (--out, --key, PREFIX, ...)
    // is relative to it.
    if let Some(d) = &cli.directory {
        std::env::set_current_dir(d).map_err(|e| Failure::plain(Diag::plain("E0001", format!("cannot open {}: {e}", d.display()))))?;
    }
    if let Command::Keygen { output, force } = &cli.command {
        return keygen(output, *force);
    }
    if let Command::Guard { old, new, vcs, approve, output } = &cli.command {
        return Ok(guard(old, new, vcs.as_deref(), approve, *output));
    }
    let start = std::env::current_dir().map_err(|e| Failure::plain(Diag::plain("E0001", format!("no current directory: {e}"))))?;
    let root = analysis::find_root(&start).map_err(Failure::plain)?;
    let store_dir = cli.store.clone().unwrap_or_else(|| root.join(".dhib"));
    match cli.command {
        Command::Fmt { check, files } => return fmt(&root, check, files),
        Command::Clean => {
            let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            store.clean().map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            eprintln!("removed everything in {}", store_dir.display());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Lock { index } => {
            let cfg = analysis::debian_config(&root).map_err(Failure::plain)?;
            let lock = cfg.lock.clone().ok_or_else(|| {
                Failure::plain(
                    Diag::plain("E0604", "dhi.toml names no file to lock into")
                        .with_help("add `lock = \"debian/BUILD.dhi\"` under [debian]"),
                )
            })?;
            let output = lock.get_ref().clone();
            let Some(path) = analysis::path_inside(&root, &output) else {
                let d = Diag::error(
                    analysis::ROOT_MARKER,
                    Span::new(lock.span().start, lock.span().end),
                    "E0605",
                    format!("`lock = \"{output}\"` is not a path inside the workspace"),
                )
                .with_label("dhib lock would write here")
                .with_help("name a workspace-relative path without `..`, e.g. \"debian/BUILD.dhi\"");
                return Err(Failure::new(vec![d], &ConfigSource(&root)));
            };
            let indexes = exec::lock::indexes_by_arch(&cfg.arch, &index);
            let req = exec::lock::LockRequest { roots: cfg.packages, arches: cfg.arch, output: output.clone(), indexes };
            let (text, count) = exec::lock::lock(&req).map_err(Failure::plain)?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Failure::plain(Diag::plain("E0007", format!("cannot create {}: {e}", dir.display()))))?;
            }
            write_atomically(&path, &text).map_err(|e| Failure::plain(Diag::plain("E0007", format!("cannot write {output}: {e}"))))?;
            eprintln!("locked {count} packages into {output}");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Build { ref patterns, sandbox: SandboxArg::Bwrap, output, check_reproducible: false, ref out, .. } => {
            // The null-build shortcut: nothing analysed if nothing changed.
            let texts = analysis::discover(&root, &analysis::excluded_dirs(&root)).map_err(Failure::plain)?;
            let out_dir = out.clone().unwrap_or_else(|| root.join("dhib-out"));
            let request = build_request(&root, patterns, SandboxArg::Bwrap, &out_dir);
            if let Ok(store) = Store::open(&store_dir) {
                let inputs = exec::snapshot::Inputs { root: &root, texts: &texts, referenced: &[], request: &request };
                if let Some(count) = exec::snapshot::up_to_date(&store, &inputs) {
                    let printer = progress::Printer::new(output == Progress::Json);
                    printer.event(&exec::Event::UpToDate { count });
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        Command::Publish { patterns, registry, insecure, tag, output, out } => {
            use dhib::oci::registry;
            let target = registry::Registry::parse(&registry, insecure).map_err(Failure::plain)?;
            let out_dir = out.unwrap_or_else(|| root.join("dhib-out"));
            let images = registry::select(&out_dir, &patterns, &target, tag.as_deref()).map_err(Failure::plain)?;
            let json = output == Progress::Json;
            let counts = registry::publish(&target, &images, &|p| {
                let line = if json {
                    let mut event = serde_json::to_value(p).expect("json serializes");
                    event["event"] = "pushed".into();
                    event.to_string()
                } else {
                    let mut line = format!("pushed {} as {}@{}", p.node, p.reference, p.digest);
                    if let Some(via) = p.referrers_via {
                        line += &format!(", {} referrers ({via})", p.referrers);
                    }
                    for tag in &p.tags {
                        line += &format!(", {tag}");
                    }
                    line
                };
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            })
            .map_err(Failure::plain)?;
            if json {
                let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::json!({"event": "summary", "summary": counts}));
            } else {
                let extras = if counts.referrers + counts.tags > 0 {
                    format!("; {} referrers, {} signature and attestation tags", counts.referrers, counts.tags)
                } else {
                    String::new()
                };
                eprintln!(
                    "published {} images to {}: {} blobs uploaded, {} mounted, {} skipped (already there){extras}",
                    counts.images, target.host, counts.uploaded, counts.mounted, counts.skipped
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Gc { max_size } => {
            let max = parse_size(&max_size).ok_or_else(|| {
                Failure::plain(Diag::plain("E0503", format!("`{max_size}` is not a size")).with_help("write a size like 500M, 20G or 1T"))
            })?;
            let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            let r = store.gc(max).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            eprintln!(
                "removed {} blobs, {} build environments and {} cached results ({} MiB); {} MiB left",
                r.blobs_removed,
                r.envs_removed,
                r.results_evicted,
                r.bytes_removed >> 20,
                r.bytes_left >> 20
            );
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let mut analysis = Analysis::load(&root).map_err(|diags| Failure::new(diags, &ConfigSource(&root)))?;
    let analyzed = analysis.analyze().map_err(|diags| Failure::new(diags, &analysis))?;
    match cli.command {
        Command::Query { expr, output } => run_query(&analysis, &analyzed, &expr, output),
        Command::Graph { patterns } => {
            let expr = format!("deps({})", patterns.join(" + "));
            run_query(&analysis, &analyzed, &expr, Output::Dot)
        }
        Command::Key { nodes } => {
            let mut out = std::io::stdout().lock();
            for n in nodes {
                let Some(key) = NodeId::parse(&n).ok().and_then(|id| analyzed.keys.get(&id)) else {
                    let sources = WithQuery { analysis: &analysis, query: &n };
                    let d = query::resolve_pattern(&n, Span::new(0, n.len()), &analyzed.graph).err().unwrap_or_else(|| {
                        Diag::error(QUERY_FILE, Span::new(0, n.len()), "E0412", format!("`{n}` names more than one node"))
                            .with_label("ambiguous")
                            .with_help("name one configuration, e.g. //dir:name@linux/arm64")
                    });
                    return Err(Failure::new(vec![d], &sources));
                };
                let _ = writeln!(out, "{key}  {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            eprintln!("ok: {} nodes, no problems", analyzed.graph.graph.node_count());
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { patterns, jobs, keep_going, sandbox, output, out, check_reproducible } => {
            let out_dir = out.unwrap_or_else(|| root.join("dhib-out"));
            let request = build_request(&root, &patterns, sandbox, &out_dir);
            let requested = resolve_all(&analysis, &analyzed, &patterns)?;
            let req = exec::Request {
                store: store_dir,
                jobs: jobs.unwrap_or_else(default_jobs),
                keep_going,
                sandbox: if sandbox == SandboxArg::Bwrap { exec::sandbox::Mode::Bwrap } else { exec::sandbox::Mode::None },
            };
            let printer = progress::Printer::new(output == Progress::Json);
            let summary = exec::build(&analysis, &analyzed, &requested, &req, &|e| printer.event(e)).map_err(Failure::plain)?;
            printer.finish(&summary);
            let signer = signing_key(&root, &analysis)?;
            let written = exec::write_images(&req.store, &out_dir, &summary, signer.as_ref(), analysis.build.source_date_epoch)
                .map_err(Failure::plain)?;
            if !written.images.is_empty() && output == Progress::Text {
                let how = if signer.is_some() { "signed" } else { "unsigned: no `[sign] key` in dhi.toml" };
                eprintln!("{} images in {} ({how})", written.images.len(), out_dir.display());
            }
            report_failed_tests(&summary);
            if summary.ok() && sandbox == SandboxArg::Bwrap {
                let keys: Vec<_> = summary
                    .built
                    .iter()
                    .chain(&summary.cached)
                    .filter_map(|n| NodeId::parse(n).ok().and_then(|id| analyzed.keys.get(&id)))
                    .collect();
                let store = Store::open(&req.store).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
                let (texts, referenced) = (analysis.texts(), analysis.referenced_files());
                let inputs = exec::snapshot::Inputs { root: &root, texts: &texts, referenced: &referenced, request: &request };
                exec::snapshot::save(&store, &inputs, &keys, &written.paths);
            }
            if !summary.ok() {
                return Ok(ExitCode::from(1));
            }
            if check_reproducible {
                let differences = exec::check_reproducible(&analysis, &analyzed, &requested, &req, &summary, &|e| printer.event(e))
                    .map_err(Failure::plain)?;
                printer.clear();
                return Ok(report_reproducibility(&differences, summary.built.len() + summary.cached.len(), output == Progress::Json));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Fetch { patterns, jobs, mirror_dir, output } => {
            let requested = resolve_all(&analysis, &analyzed, &patterns)?;
            let files = exec::prefetch::pinned(&analysis, &analyzed, &requested);
            let mirror_dir = mirror_dir.map(|d| if d.is_absolute() { d } else { start.join(d) });
            let req = exec::prefetch::Request { store: store_dir, jobs, mirror_dir };
            let printer = progress::FetchPrinter::new(output == Progress::Json);
            let summary =
                exec::prefetch::run(&files, &exec::origins(&analysis), &root, &req, &|e| printer.event(e)).map_err(Failure::plain)?;
            printer.finish(&summary);
            Ok(if summary.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Affected { since, files, output } => {
            let set = match since {
                Some(rev) => {
                    let (_tree, then) = exec::vcs::checkout(&root, &rev).map_err(Failure::plain)?;
                    let mut before = Analysis::load(&then).map_err(|diags| {
                        Failure::plain(Diag::plain("E0912", format!("the workspace at {rev} does not analyse ({} problems)", diags.len())))
                    })?;
                    let before = before.analyze().map_err(|diags| {
                        Failure::plain(Diag::plain("E0912", format!("the workspace at {rev} does not analyse ({} problems)", diags.len())))
                    })?;
                    analyzed.keys.changed_since(&before.keys).iter().filter_map(|id| analyzed.graph.index.get(id).copied()).collect()
                }
                None => {
                    let rel: Vec<String> = files
                        .iter()
                        .map(|f| {
                            let p = Path::new(f);
                            let abs = if p.is_absolute() { p.to_path_buf() } else { start.join(p) };
                            abs.strip_prefix(&root).map(|r| r.to_string_lossy().into_owned()).unwrap_or_else(|_| f.clone())
                        })
                        .collect();
                    analysis.affected_by_files(&analyzed, &rel)
                }
            };
            print_nodes(&analyzed, &set, output);
            Ok(ExitCode::SUCCESS)
        }
        Command::Upstream(UpstreamCommand::Check { pattern, output }) => {
            let watched = dhib::upstream::monitor::watched(&analysis, &analyzed, &pattern)
                .map_err(|d| Failure::new(vec![d], &WithQuery { analysis: &analysis, query: &pattern }))?;
            let results = dhib::upstream::monitor::check_all(&watched, &root);
            let mut updates = Vec::new();
            let mut failed = 0;
            for (label, result) in results {
                match result {
                    Ok(Some(u)) => updates.push(u),
                    Ok(None) => {}
                    Err(why) => {
                        failed += 1;
                        eprintln!("error: {label}: {why}");
                    }
                }
            }
            let mut stdout = std::io::stdout().lock();
            if output == Format::Json {
                let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&updates).expect("updates serialize"));
            } else {
                for u in &updates {
                    let _ = writeln!(stdout, "{}  {} \u{2192} {}  ({}, {})", u.label, u.current, u.latest, u.kind, u.signal);
                }
                eprintln!(
                    "{} of {} monitored targets have a newer version{}",
                    updates.len(),
                    watched.len(),
                    if failed > 0 { format!("; {failed} monitors failed") } else { String::new() }
                );
            }
            Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Upstream(UpstreamCommand::Update { pattern, to, dry_run, approve, output }) => {
            let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            let opts = dhib::upstream::update::Options { pattern: &pattern, to: to.as_deref(), dry_run, approve: &approve, store: &store };
            let outcome = dhib::upstream::update::update(&mut analysis, &analyzed, &opts)
                .map_err(|d| Failure::new(vec![d], &WithQuery { analysis: &analysis, query: &pattern }))?;
            print_update(&outcome, output == Format::Json);
            Ok(if outcome.not_updated.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Test { patterns, jobs, output, out } => {
            let requested = resolve_all(&analysis, &analyzed, &patterns)?;
            let reports = exec::test_reports_of(&analyzed, &requested);
            if reports.is_empty() {
                return Err(Failure::plain(
                    Diag::plain("E0511", format!("{} names no image, customization or test", patterns.join(" ")))
                        .with_help("name images or tests, e.g. dhib test //examples/..."),
                ));
            }
            let req = exec::Request {
                store: store_dir,
                jobs: jobs.unwrap_or_else(default_jobs),
                keep_going: true,
                sandbox: exec::sandbox::Mode::Bwrap,
            };
            let printer = progress::Printer::new(output == Progress::Json);
            let summary = exec::build(&analysis, &analyzed, &reports.iter().copied().collect(), &req, &|e| printer.event(e))
                .map_err(Failure::plain)?;
            printer.clear();
            let out_dir = out.unwrap_or_else(|| root.join("dhib-out"));
            let written = exec::write_test_reports(&req.store, &out_dir, &analyzed, &reports).map_err(Failure::plain)?;
            let mut failed = !summary.failed.is_empty() || !summary.not_run.is_empty();
            let mut stdout = std::io::stdout().lock();
            for r in &written {
                failed |= r.failed > 0;
                if output == Progress::Json {
                    let _ = writeln!(
                        stdout,
                        "{}",
                        serde_json::json!({"image": r.image, "report": r.path, "passed": r.passed, "failed": r.failed, "skipped": r.skipped})
                    );
                    continue;
                }
                let _ = writeln!(stdout, "{}  ({} passed, {} failed, {} skipped)", r.image, r.passed, r.failed, r.skipped);
                for (status, name, message) in &r.rows {
                    let first = message.lines().next().unwrap_or_default();
                    let _ =
                        writeln!(stdout, "  {status:<7}  {name}{}", if first.is_empty() { String::new() } else { format!(": {first}") });
                }
            }
            for n in summary.failed.iter().chain(&summary.not_run) {
                let _ = writeln!(stdout, "not run: {n} (a build it needs failed)");
            }
            if output == Progress::Text {
                eprintln!("reports in {}", out_dir.display());
            }
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Verify { reference, key, insecure, output, out } => {
            let key_path = match key {
                Some(k) => k,
                None => default_public_key(&root, &analysis)?,
            };
            let pem = exec::keyfile::read(&key_path).map(|k| k.text).map_err(|e| {
                Failure::plain(
                    Diag::plain("E0512", format!("cannot read the public key {}: {e}", key_path.display()))
                        .with_help("name it with --key FILE"),
                )
            })?;
            let public = dhib::attest::keys::PublicKey::from_pem(&pem)
                .map_err(|e| Failure::plain(Diag::plain("E0512", format!("{}: {e}", key_path.display()))))?;
            let out_dir = out.unwrap_or_else(|| root.join("dhib-out"));
            let scratch = tempfile::tempdir().map_err(|e| Failure::plain(Diag::plain("E0513", e.to_string())))?;
            let (layout, expected) = if reference.starts_with("//") || reference.starts_with(':') {
                let id = NodeId::parse(&reference).map_err(|m| Failure::plain(Diag::plain("E0411", m)))?;
                let layout = exec::written_layout(&out_dir, &id.to_string()).map_err(Failure::plain)?;
                let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
                (layout, exec::expected(&analysis, &analyzed, &store, &id))
            } else if Path::new(&reference).is_dir() {
                (PathBuf::from(&reference), None)
            } else {
                let hosts: Vec<String> =
                    if insecure { vec![reference.split('/').next().unwrap_or_default().to_string()] } else { Vec::new() };
                dhib::oci::registry::pull_signed_layout(&reference, &hosts, scratch.path()).map_err(Failure::plain)?;
                (scratch.path().to_path_buf(), None)
            };
            let documents = Some(exec::attestations_dir(&layout)).filter(|d| d.is_dir());
            let checks = dhib::attest::verify::verify(&layout, &public, expected.as_ref(), documents.as_deref());
            let ok = checks.iter().all(|c| c.ok);
            let mut stdout = std::io::stdout().lock();
            if output == Progress::Json {
                let _ = writeln!(stdout, "{}", serde_json::json!({"reference": reference, "ok": ok, "checks": checks}));
            } else {
                for c in &checks {
                    let _ = writeln!(stdout, "{}  {}: {}", if c.ok { "pass" } else { "FAIL" }, c.name, c.detail);
                }
                let failed = checks.iter().filter(|c| !c.ok).count();
                let _ = writeln!(stdout, "{reference}: {}", if ok { "verified".to_string() } else { format!("{failed} checks failed") });
            }
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Run { target, args, net, jobs } => {
            let req = exec::Request {
                store: store_dir,
                jobs: jobs.unwrap_or_else(default_jobs),
                keep_going: false,
                sandbox: exec::sandbox::Mode::Bwrap,
            };
            let printer = progress::Printer::new(false);
            let (store, manifest) = exec::build_one_image(&analysis, &analyzed, &target, &req, &|e| printer.event(e))
                .map_err(|d| Failure::new(vec![d], &WithQuery { analysis: &analysis, query: &target }))?;
            printer.clear();
            let opts = exec::run::RunOptions { args, network: net };
            let code = exec::run::run_image(&store, &manifest, &opts)
                .map_err(|e| Failure::plain(Diag::plain("E0508", format!("cannot run `{target}`: {e}"))))?;
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Command::Ls { node } => {
            let id = NodeId::parse(&node).map_err(|m| Failure::plain(Diag::plain("E0411", m)))?;
            let key = analyzed.keys.get(&id).ok_or_else(|| Failure::plain(Diag::plain("E0410", format!("no node `{node}`"))))?;
            let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            let result = store.ac_get(&key).ok_or_else(|| {
                Failure::plain(
                    Diag::plain("E0504", format!("`{node}` is not built at its current key"))
                        .with_help(format!("build it: dhib build {node}")),
                )
            })?;
            let mut out = std::io::stdout().lock();
            for (name, manifest) in &result.outputs {
                // Attestations' outputs are documents, not trees.
                if name.ends_with(".json") {
                    let size = std::fs::metadata(store.blob_path(manifest)).map_or(0, |m| m.len());
                    let _ = writeln!(out, "{name}	{name}	{size}	-	sha256:{manifest}");
                    continue;
                }
                let tree = store.get_tree(manifest).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
                for (path, entry) in tree {
                    let _ = match entry {
                        dhib::store::Entry::File { digest, size, executable } => {
                            writeln!(out, "{name}\t{path}\t{size}\t{}\tsha256:{digest}", if executable { "x" } else { "-" })
                        }
                        dhib::store::Entry::Symlink { target } => writeln!(out, "{name}\t{path}\t->\t{target}"),
                        dhib::store::Entry::Dir => Ok(()),
                    };
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log { node } => {
            let id = NodeId::parse(&node).map_err(|m| Failure::plain(Diag::plain("E0411", m)))?;
            let key = analyzed.keys.get(&id).ok_or_else(|| Failure::plain(Diag::plain("E0410", format!("no node `{node}`"))))?;
            let store = Store::open(&store_dir).map_err(|e| Failure::plain(Diag::plain("E0502", e.to_string())))?;
            match store.log_of(&key) {
                Some(text) => {
                    let _ = std::io::stdout().write_all(&text);
                    Ok(ExitCode::SUCCESS)
                }
                None => Err(Failure::plain(
                    Diag::plain("E0504", format!("no log for `{node}` at its current key"))
                        .with_help(format!("build it first: dhib build {node}")),
                )),
            }
        }
        Command::Fmt { .. }
        | Command::Clean
        | Command::Gc { .. }
        | Command::Lock { .. }
        | Command::Publish { .. }
        | Command::Keygen { .. }
        | Command::Guard { .. } => {
            unreachable!("handled above")
        }
    }
}

/// The sources moved, the debs to re-lock, what could not be updated, and
/// the nodes whose keys change, by kind.
fn print_update(outcome: &dhib::upstream::update::Outcome, json: bool) {
    let mut stdout = std::io::stdout().lock();
    if json {
        let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(outcome).expect("outcome serializes"));
        return;
    }
    let verb = if outcome.written { "updated" } else { "would update" };
    for f in &outcome.updated {
        let _ = writeln!(stdout, "{verb} {}  {} \u{2192} {}  ({}, sha256 {})", f.label, f.from, f.to, f.file, f.sha256);
    }
    for label in &outcome.followed {
        let _ = writeln!(stdout, "{verb} the version of {label} with it");
    }
    for u in &outcome.debs {
        let _ = writeln!(stdout, "deb {}  {} \u{2192} {}  ({}): run `dhib lock` to re-pin it", u.label, u.current, u.latest, u.signal);
    }
    for (label, report) in &outcome.guard {
        for f in &report.findings {
            let _ = writeln!(
                stdout,
                "guardrail {label}: {}/{} {} {}:{}-{}: {}",
                f.severity, f.confidence, f.rule, f.file, f.lines.0, f.lines.1, f.explanation
            );
        }
    }
    for (label, digest) in &outcome.guard_records {
        let _ = writeln!(stdout, "guardrail {label}: report kept in the store as sha256:{digest}");
    }
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    for n in &outcome.not_updated {
        let _ = writeln!(stdout, "not updated {}: {}", n.label, n.reason);
    }
    // Kinds in graph order, not alphabetical.
    let order = ["sources", "packages", "debs", "envs", "images", "customizations", "tests", "attestations"];
    let mut groups: Vec<_> = outcome.cascade.iter().collect();
    groups.sort_by_key(|(k, _)| order.iter().position(|o| o == k));
    if !groups.is_empty() {
        let _ = writeln!(stdout, "keys that change:");
    }
    for (kind, nodes) in groups {
        let _ = writeln!(stdout, "  {kind} ({}):", nodes.len());
        for n in nodes {
            let _ = writeln!(stdout, "    {n}");
        }
    }
    if outcome.updated.is_empty() && outcome.debs.is_empty() && outcome.not_updated.is_empty() {
        eprintln!("everything is at its newest version");
    }
}

fn keygen(prefix: &Path, force: bool) -> Result<ExitCode, Failure> {
    use dhib::attest::keys;
    let password = keys::password_from_env();
    let (key, public) = keys::write_key_pair(prefix, &password, force).map_err(|e| {
        Failure::plain(match e {
            keys::KeyError::Exists(_) => Diag::plain("E0801", format!("{e}; refusing to replace a key"))
                .with_help("pass --force to replace it, or --output PREFIX to write the pair elsewhere"),
            _ => Diag::plain("E0802", e.to_string()),
        })
    })?;
    eprintln!("private key written to {} (mode 0600)", key.display());
    eprintln!("public key written to {}", public.display());
    match keys::password_env_var() {
        Some(var) => eprintln!("the private key is encrypted with the password from {var}"),
        None => eprintln!("the private key is encrypted with an empty password (set DHIB_KEY_PASSWORD or COSIGN_PASSWORD to choose one)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn guard(old: &Path, new: &Path, vcs: Option<&Path>, approved: &[String], output: GuardOutput) -> ExitCode {
    use dhib::upstream::guard;
    let report = match guard::guard(old, new, vcs) {
        Ok(r) => r,
        Err(e) => {
            let (code, help) = match e {
                guard::GuardError::Missing(_) => ("E0901", "name existing directories or archives: dhib guard OLD NEW [--vcs DIR]"),
                guard::GuardError::Extract { .. } => ("E0902", "OLD and NEW are directories or tar (gz, xz, bz2, zst) or zip archives"),
                guard::GuardError::Io { .. } => ("E0903", "check the permissions of the trees"),
            };
            Failure::plain(Diag::plain(code, e.to_string()).with_help(help)).print();
            return ExitCode::from(2);
        }
    };
    let blocking = guard::blocking(&report, approved);
    match output {
        GuardOutput::Json => {
            let blocking: Vec<String> = blocking.iter().map(|f| f.approval_id()).collect();
            let mut json = serde_json::to_value(&report).expect("reports serialize");
            json["blocking"] = serde_json::json!(blocking);
            println!("{}", serde_json::to_string_pretty(&json).expect("values serialize"));
        }
        GuardOutput::Text => {
            for f in &report.findings {
                let at = match f.lines {
                    (0, 0) => f.file.clone(),
                    (a, b) if a == b => format!("{}:{a}", f.file),
                    (a, b) => format!("{}:{a}-{b}", f.file),
                };
                let severity = f.severity.to_string().to_uppercase();
                println!("{severity}/{}  {}  {at}\n    {}", f.confidence, f.rule, f.explanation);
            }
            println!(
                "{} added, {} changed, {} removed files; {} findings, {} blocking",
                report.files_added,
                report.files_changed,
                report.files_removed,
                report.findings.len(),
                blocking.len()
            );
            if let Some(n) = report.files_not_in_vcs {
                println!("{n} files of NEW are not in the VCS tree");
            }
            if !blocking.is_empty() {
                println!("after reviewing them, approve the blocking findings with:");
                let flags: Vec<String> = blocking.iter().map(|f| format!("--approve {}", f.approval_id())).collect();
                println!("  {}", flags.join(" "));
            }
        }
    }
    if blocking.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_query(analysis: &Analysis, analyzed: &Analyzed, expr: &str, output: Output) -> Result<ExitCode, Failure> {
    let sources = WithQuery { analysis, query: expr };
    let q = query::parse(expr).map_err(|d| Failure::new(vec![d], &sources))?;
    let set = query::eval(&q, &analyzed.graph, analysis).map_err(|d| Failure::new(vec![d], &sources))?;
    print_nodes(analyzed, &set, output);
    Ok(ExitCode::SUCCESS)
}

/// Prints nodes sorted: one per line, as JSON rows with kind and key, or as dot.
fn print_nodes(analyzed: &Analyzed, set: &query::NodeSet, output: Output) {
    let g = &analyzed.graph;
    let mut nodes: Vec<_> = set.iter().map(|i| (g.node(*i), *i)).collect();
    nodes.sort();
    let mut out = std::io::stdout().lock();
    let written = match output {
        Output::Label => nodes.iter().try_for_each(|(id, _)| writeln!(out, "{id}")),
        Output::Json => {
            let rows: Vec<serde_json::Value> = nodes
                .iter()
                .map(|(id, i)| {
                    serde_json::json!({
                        "node": id,
                        "kind": g.kind(*i),
                        "key": analyzed.keys.get(id),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&rows).expect("rows serialize"))
        }
        Output::Dot => write!(out, "{}", query::to_dot(g, set)),
    };
    // A closed pipe (`dhib query ... | head`) is not an error.
    let _ = written;
}

fn fmt(root: &Path, check: bool, files: Vec<PathBuf>) -> Result<ExitCode, Failure> {
    let paths: Vec<(String, PathBuf)> = if files.is_empty() {
        analysis::discover(root, &analysis::excluded_dirs(root))
            .map_err(Failure::plain)?
            .into_iter()
            .map(|(rel, _)| (rel.clone(), root.join(rel)))
            .collect()
    } else {
        files.into_iter().map(|f| (f.display().to_string(), f)).collect()
    };
    let mut unformatted = Vec::new();
    let mut diags = Vec::new();
    let mut texts = Vec::new();
    for (name, path) in &paths {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::plain(Diag::plain("E0005", format!("cannot read {}: {e}", path.display()))))?;
        match dhifmt::format(name, &text) {
            Ok(formatted) if formatted != text => unformatted.push((name.clone(), path.clone(), formatted)),
            Ok(_) => {}
            Err(d) => diags.push(d),
        }
        texts.push((name.clone(), Arc::<str>::from(text)));
    }
    if !diags.is_empty() {
        let sources = Texts(texts);
        return Err(Failure::new(diags, &sources));
    }
    let mut out = std::io::stdout().lock();
    for (name, path, formatted) in &unformatted {
        if check {
            let _ = writeln!(out, "{name}");
        } else {
            write_atomically(path, formatted)
                .map_err(|e| Failure::plain(Diag::plain("E0007", format!("cannot write {}: {e}", path.display()))))?;
            let _ = writeln!(out, "formatted {name}");
        }
    }
    if check && !unformatted.is_empty() {
        eprintln!("{} file(s) not formatted; run `dhib fmt`", unformatted.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

struct Texts(Vec<(String, Arc<str>)>);
impl SourceLookup for Texts {
    fn source_text(&self, file: &str) -> Option<Arc<str>> {
        self.0.iter().find(|(n, _)| n == file).map(|(_, t)| t.clone())
    }
}

/// `500M`, `20G`, `1T` or a plain number of bytes.
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, mult) = match t.chars().last()?.to_ascii_uppercase() {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

/// What, besides the workspace, decides what a build does.
/// The signing key `dhib build` signs with: DHIB_SIGNING_KEY, else the
/// `[sign] key` of dhi.toml; none when neither names one.
fn signing_key(root: &Path, analysis: &Analysis) -> Result<Option<dhib::attest::keys::SigningKey>, Failure> {
    let Some(path) = std::env::var("DHIB_SIGNING_KEY").ok().or_else(|| analysis.build.sign_key.clone()) else { return Ok(None) };
    let path = root.join(path);
    let key = exec::keyfile::read(&path).map_err(|e| {
        let help = if path.exists() {
            "DHIB_SIGNING_KEY or `[sign] key` must name a private key file in cosign's format".to_string()
        } else {
            format!("make a key pair once: dhib keygen --output {}", path.with_extension("").display())
        };
        Failure::plain(Diag::plain("E0510", format!("cannot read the signing key {}: {e}", path.display())).with_help(help))
    })?;
    if let Some(mode) = key.readable_by_others {
        eprintln!("warning: the signing key {} can be read by other users (mode {mode:04o}); chmod 600 it", path.display());
    }
    let pem = key.text;
    dhib::attest::keys::SigningKey::from_pem(&pem, &dhib::attest::keys::password_from_env()).map(Some).map_err(|e| {
        Failure::plain(
            Diag::plain("E0510", format!("{}: {e}", path.display()))
                .with_help("the password comes from DHIB_KEY_PASSWORD or COSIGN_PASSWORD"),
        )
    })
}

/// The public half of the workspace's signing key: its path with `.pub`.
fn default_public_key(root: &Path, analysis: &Analysis) -> Result<PathBuf, Failure> {
    let key = std::env::var("DHIB_SIGNING_KEY").ok().or_else(|| analysis.build.sign_key.clone()).ok_or_else(|| {
        Failure::plain(
            Diag::plain("E0512", "no public key to verify with").with_help("name one with --key FILE, or set `[sign] key` in dhi.toml"),
        )
    })?;
    Ok(root.join(key).with_extension("pub"))
}

/// Prints each failed test and each test report with failures.
fn report_failed_tests(summary: &exec::Summary) {
    for (node, message) in &summary.failed_tests {
        eprintln!("FAILED {node}: {message}");
    }
}

/// What else a build's outcome depends on besides the workspace's files:
/// the patterns, the sandbox, the Debian repository, the signing key (a new
/// key must re-sign what is written out) and where images are written.
fn build_request(root: &Path, patterns: &[String], sandbox: SandboxArg, out: &Path) -> String {
    let repo = std::env::var("DHIB_DEBIAN_REPO").unwrap_or_default();
    let key = std::env::var("DHIB_SIGNING_KEY").ok().or_else(|| analysis::sign_key(root));
    let key = key
        .and_then(|k| exec::keyfile::read(&root.join(k)).ok())
        .map(|k| blake3::hash(k.text.as_bytes()).to_hex().to_string())
        .unwrap_or_default();
    let out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    format!("{patterns:?} sandbox={} repo={repo} key={key} out={}", sandbox == SandboxArg::Bwrap, out.display())
}
