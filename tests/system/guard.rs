//! `dhib guard` on the corpus in tests/guard/: every RULE/flagged pair is
//! flagged with the rules its expect.txt names (and blocks unless it says
//! `exit 0`), every RULE/benign pair passes without a finding of RULE.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guard")
}

fn guard(old: &Path, new: &Path, extra: &[&str]) -> Output {
    // Outside any workspace: guard needs none.
    let mut cmd = common::dhib();
    cmd.current_dir(std::env::temp_dir()).arg("guard").arg(old).arg(new).args(extra);
    cmd.output().expect("dhib runs")
}

/// Runs a pair of the corpus with JSON output: exit code and report.
fn run_pair(pair: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<String> = vec!["--output".into(), "json".into()];
    if pair.join("vcs").is_dir() {
        args.extend(["--vcs".into(), pair.join("vcs").display().to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = guard(&pair.join("old"), &pair.join("new"), &args);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", pair.display(), String::from_utf8_lossy(&out.stderr)));
    (out.status.code().expect("exited"), report)
}

fn rules(report: &Value) -> Vec<&str> {
    report["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect()
}

/// The lines of `dir/expect.txt`, if it exists.
fn expect(dir: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("expect.txt")).ok()?;
    Some(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

fn rule_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

#[test]
fn flagged_pairs_are_flagged_with_their_rules() {
    let dirs = rule_dirs();
    assert!(dirs.len() >= 20, "corpus has {} rules", dirs.len());
    for dir in dirs {
        let pair = dir.join("flagged");
        let lines = expect(&pair).unwrap_or_else(|| panic!("{} has no expect.txt", pair.display()));
        let (code, report) = run_pair(&pair, &[]);
        let found = rules(&report);
        for rule in lines.iter().filter(|l| !l.starts_with("exit")) {
            assert!(found.contains(&rule.as_str()), "{}: no {rule} finding in {found:?}", pair.display());
        }
        let expected = if lines.iter().any(|l| l == "exit 0") { 0 } else { 1 };
        assert_eq!(code, expected, "{}: exit code; report {report:#}", pair.display());
        assert_eq!(code == 1, !report["blocking"].as_array().unwrap().is_empty(), "{}", pair.display());
    }
}

#[test]
fn benign_pairs_pass_without_their_rule() {
    for dir in rule_dirs() {
        let pair = dir.join("benign");
        let rule = dir.file_name().unwrap().to_str().unwrap().to_string();
        let forbidden = expect(&pair).unwrap_or_else(|| vec![rule]);
        let (code, report) = run_pair(&pair, &[]);
        let found = rules(&report);
        for rule in &forbidden {
            assert!(!found.contains(&rule.as_str()), "{}: unexpected {rule} finding: {report:#}", pair.display());
        }
        assert_eq!(code, 0, "{}: {report:#}", pair.display());
    }
}

#[test]
fn text_output_names_findings_and_how_to_approve_them() {
    let pair = corpus().join("c.inverted-error-check/flagged");
    let out = guard(&pair.join("old"), &pair.join("new"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("HIGH/high  c.inverted-error-check  src/io.c:7\n"), "{text}");
    assert!(text.contains("`if (ret < 0)` became `if (ret >= 0)`"), "{text}");
    assert!(text.contains("1 findings, 1 blocking"), "{text}");
    assert!(text.contains("--approve c.inverted-error-check@src/io.c"), "{text}");

    let approved = guard(&pair.join("old"), &pair.join("new"), &["--approve", "c.inverted-error-check@src/io.c"]);
    assert_eq!(approved.status.code(), Some(0), "{}", String::from_utf8_lossy(&approved.stdout));
    assert!(String::from_utf8(approved.stdout).unwrap().contains("1 findings, 0 blocking"));
    // Approving another file's finding does not approve this one.
    let other = guard(&pair.join("old"), &pair.join("new"), &["--approve", "c.inverted-error-check@src/other.c"]);
    assert_eq!(other.status.code(), Some(1));
}

#[test]
fn approving_every_blocking_finding_of_the_xz_miniature_passes() {
    let pair = corpus().join("xz-2024/flagged");
    let (code, report) = run_pair(&pair, &[]);
    assert_eq!(code, 1);
    let blocking: Vec<String> = report["blocking"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_string()).collect();
    assert_eq!(
        blocking,
        [
            "supply.not-in-vcs@m4/build-to-host.m4",
            "sh.encoded-payload@m4/build-to-host.m4",
            "blob.used-by-build@tests/files/bad-3-corrupt_lzma2.xz"
        ]
    );
    let approvals: Vec<&str> = blocking.iter().flat_map(|b| ["--approve", b.as_str()]).collect();
    let (code, _) = run_pair(&pair, &approvals);
    assert_eq!(code, 0);
    // Without --vcs the m4 file cannot be told apart, but the payload still blocks.
    let out = guard(&pair.join("old"), &pair.join("new"), &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!rules(&report).contains(&"supply.not-in-vcs"));
    assert!(report["files_not_in_vcs"].is_null());
}

#[test]
fn json_report_has_every_field_and_is_deterministic() {
    let pair = corpus().join("xz-2024/flagged");
    let (_, report) = run_pair(&pair, &[]);
    for key in ["findings", "files_added", "files_removed", "files_changed", "files_not_in_vcs", "blocking"] {
        assert!(report.get(key).is_some(), "no {key} in {report:#}");
    }
    assert_eq!((report["files_added"].as_u64(), report["files_changed"].as_u64()), (Some(1), Some(3)));
    assert_eq!(report["files_not_in_vcs"].as_u64(), Some(1));
    let payload = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "sh.encoded-payload").unwrap();
    assert_eq!(payload["severity"], "high");
    assert_eq!(payload["confidence"], "high");
    assert_eq!(payload["file"], "m4/build-to-host.m4");
    assert_eq!(payload["lines"], serde_json::json!([7, 7]));
    assert!(payload["explanation"].as_str().unwrap().contains("runs the result as shell code"));
    let again = |p: &Path| guard(&p.join("old"), &p.join("new"), &["--output", "json", "--vcs", p.join("vcs").to_str().unwrap()]).stdout;
    assert_eq!(again(&pair), again(&pair));
}

/// Writes `dir` as `out` (a tar.gz) under the top-level directory `top`.
fn tar_gz(dir: &Path, top: &str, out: &Path) {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(out).unwrap(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all(top, dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn archives_are_inputs_like_directories() {
    let pair = corpus().join("xz-2024/flagged");
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("xz-5.5.2.tar.gz"), tmp.path().join("xz-5.6.0.tar.gz"));
    tar_gz(&pair.join("old"), "xz-5.5.2", &old);
    tar_gz(&pair.join("new"), "xz-5.6.0", &new);
    let vcs = pair.join("vcs");
    let from_archives = guard(&old, &new, &["--output", "json", "--vcs", vcs.to_str().unwrap()]);
    let from_dirs = guard(&pair.join("old"), &pair.join("new"), &["--output", "json", "--vcs", vcs.to_str().unwrap()]);
    assert_eq!(from_archives.status.code(), Some(1), "{}", String::from_utf8_lossy(&from_archives.stderr));
    assert_eq!(String::from_utf8(from_archives.stdout).unwrap(), String::from_utf8(from_dirs.stdout).unwrap());
}

#[test]
fn bad_input_exits_2_with_a_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let out = guard(&tmp.path().join("missing"), tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0901") && err.contains("does not exist"), "{err}");

    let junk = tmp.path().join("release.tar.gz");
    std::fs::write(&junk, "not an archive").unwrap();
    let out = guard(&junk, tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("E0902") && err.contains("cannot extract"), "{err}");
}

/// Git in `dir` as `author`, without the host's configuration.
fn git_cmd(dir: &Path, author: &str) -> Command {
    let email = format!("{author}@example.invalid");
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args([
            "-c",
            &format!("user.name={author}"),
            "-c",
            &format!("user.email={email}"),
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
        ])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    cmd
}

/// Runs git in `dir` as `author`, failing the test on error.
fn git(dir: &Path, author: &str, args: &[&str]) {
    let status = git_cmd(dir, author).args(args).status().unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn build_files_changed_by_authors_new_since_the_previous_tag_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let write = |file: &str, text: &str| std::fs::write(repo.join(file), text).unwrap();
    git(&repo, "alice", &["init", "-q"]);
    write("configure.ac", "AC_INIT([tiny], [1.0])\nAC_OUTPUT\n");
    write("main.c", "int main(void) { return 0; }\n");
    git(&repo, "alice", &["add", "."]);
    git(&repo, "alice", &["commit", "-qm", "1.0"]);
    git(&repo, "alice", &["tag", "v1.0"]);
    let old = tmp.path().join("old");
    std::fs::create_dir(&old).unwrap();
    for f in ["configure.ac", "main.c"] {
        std::fs::copy(repo.join(f), old.join(f)).unwrap();
    }
    write("main.c", "int main(void) { return 1; }\n");
    git(&repo, "alice", &["commit", "-qam", "exit 1"]);
    write("configure.ac", "AC_INIT([tiny], [1.1])\nAC_OUTPUT\n");
    git(&repo, "mallory", &["commit", "-qam", "1.1"]);
    git(&repo, "alice", &["tag", "v1.1"]);

    let out = guard(&old, &repo, &["--output", "json", "--vcs", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "new authors are for review, not blocking");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let named: Vec<&Value> = report["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "supply.new-author").collect();
    assert_eq!(named.len(), 1, "{report:#}");
    assert_eq!(named[0]["file"], "configure.ac");
    assert!(named[0]["explanation"].as_str().unwrap().contains("mallory@example.invalid, who has no commit before v1.0"));

    // The same release by a known author names no one.
    git(&repo, "alice", &["commit", "-q", "--amend", "--reset-author", "--no-edit"]);
    git(&repo, "alice", &["tag", "-f", "v1.1"]);
    let out = guard(&old, &repo, &["--output", "json", "--vcs", repo.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!rules(&report).contains(&"supply.new-author"), "{report:#}");
}

/// A throwaway OpenPGP signing key in its own GNUPGHOME.
struct Key {
    home: tempfile::TempDir,
    fpr: String,
}

impl Key {
    fn new() -> Key {
        let home = tempfile::tempdir().unwrap();
        let gpg = |args: &[&str]| {
            let out =
                Command::new("gpg").env("GNUPGHOME", home.path()).args(["--batch", "--with-colons"]).args(args).output().expect("gpg runs");
            assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        };
        gpg(&["--passphrase", "", "--quick-gen-key", "Test <t@example.org>", "ed25519", "sign", "never"]);
        let keys = gpg(&["--list-secret-keys"]);
        let fpr = keys.lines().find_map(|l| l.strip_prefix("fpr:")).unwrap().trim_matches(':').to_string();
        Key { home, fpr }
    }
}

impl Drop for Key {
    /// Signing started a gpg-agent for this GNUPGHOME.
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", self.home.path()).args(["--kill", "gpg-agent"]).status();
    }
}

/// Tags HEAD as `name`, annotated, signed with `key` or not signed.
fn tag(repo: &Path, tagger: &str, name: &str, key: Option<&Key>) {
    let mut cmd = git_cmd(repo, tagger);
    match key {
        Some(key) => cmd.env("GNUPGHOME", key.home.path()).args([
            "-c",
            "gpg.program=gpg",
            "-c",
            &format!("user.signingkey={}", key.fpr),
            "tag",
            "-f",
            "-s",
        ]),
        None => cmd.args(["tag", "-f", "-a"]),
    };
    let out = cmd.args([name, "-m", name]).output().unwrap();
    assert!(out.status.success(), "tag {name}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A repository with one commit per earlier tag (v0.N, tagged by alice
/// with the key given), then a release commit that changes `file`, not
/// yet tagged.
fn tagged_history(earlier: &[Option<&Key>], file: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    git(repo, "alice", &["init", "-q"]);
    for (i, key) in earlier.iter().enumerate() {
        std::fs::write(repo.join("configure.ac"), format!("AC_INIT([tiny], [0.{i}])\n")).unwrap();
        std::fs::write(repo.join("main.c"), format!("int main(void) {{ return {i}; }}\n")).unwrap();
        git(repo, "alice", &["add", "."]);
        git(repo, "alice", &["commit", "-qm", "release"]);
        tag(repo, "alice", &format!("v0.{i}"), *key);
    }
    std::fs::write(repo.join(file), "changed\n").unwrap();
    git(repo, "alice", &["add", "."]);
    git(repo, "alice", &["commit", "-qm", "release"]);
    tmp
}

/// The supply.new-signer findings of the checkout `repo`. The rule reads
/// only the git history, so the repository is OLD and NEW as well.
fn signer_findings(repo: &Path) -> Vec<Value> {
    let out = guard(repo, repo, &["--output", "json", "--vcs", repo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "new signers are for review, not blocking: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == "supply.new-signer").cloned().collect()
}

#[test]
fn a_release_tag_signed_by_a_new_key_is_named() {
    let (alice, mallory) = (Key::new(), Key::new());
    let repo = tagged_history(&[Some(&alice), Some(&alice)], "configure.ac");
    tag(repo.path(), "alice", "v1.0", Some(&mallory));
    let found = signer_findings(repo.path());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["file"], "configure.ac");
    assert_eq!((found[0]["severity"].as_str(), found[0]["confidence"].as_str()), (Some("medium"), Some("medium")));
    let why = found[0]["explanation"].as_str().unwrap();
    let expected = format!(
        "the release tag v1.0 is signed by OpenPGP key {}, which signed none of the 2 earlier tags: v0.1 is signed by OpenPGP key {}",
        mallory.fpr, alice.fpr
    );
    assert_eq!(why, expected);
}

#[test]
fn a_release_tag_signed_by_a_key_that_signed_an_earlier_tag_is_not() {
    let (alice, bob) = (Key::new(), Key::new());
    let repo = tagged_history(&[Some(&alice), Some(&bob)], "configure.ac");
    tag(repo.path(), "alice", "v1.0", Some(&bob));
    assert_eq!(signer_findings(repo.path()), Vec::<Value>::new(), "the previous tag's key");
    tag(repo.path(), "alice", "v1.0", Some(&alice));
    assert_eq!(signer_findings(repo.path()), Vec::<Value>::new(), "an older tag's key");
}

#[test]
fn an_unsigned_release_tag_after_signed_ones_is_named() {
    let alice = Key::new();
    let repo = tagged_history(&[Some(&alice)], "Makefile.am");
    tag(repo.path(), "alice", "v1.0", None);
    let found = signer_findings(repo.path());
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["file"], "Makefile.am");
    let why = found[0]["explanation"].as_str().unwrap();
    assert_eq!(why, format!("the release tag v1.0 is not signed (tagger alice@example.invalid), although earlier tags were: v0.0 is signed by OpenPGP key {}", alice.fpr));

    // Where no tag is signed, an unsigned release is vouched for by its tagger.
    let repo = tagged_history(&[None], "Makefile.am");
    tag(repo.path(), "alice", "v1.0", None);
    assert_eq!(signer_findings(repo.path()), Vec::<Value>::new());
    tag(repo.path(), "mallory", "v1.0", None);
    let found = signer_findings(repo.path());
    assert!(
        found[0]["explanation"].as_str().unwrap().contains(
            "its tagger mallory@example.invalid tagged none of the 1 earlier tags: v0.0 is not signed (tagger alice@example.invalid)"
        ),
        "{found:#?}"
    );
}

#[test]
fn a_new_signer_of_a_release_without_build_changes_is_not_named() {
    let (alice, mallory) = (Key::new(), Key::new());
    let repo = tagged_history(&[Some(&alice)], "main.c");
    tag(repo.path(), "alice", "v1.0", Some(&mallory));
    assert_eq!(signer_findings(repo.path()), Vec::<Value>::new());
}
