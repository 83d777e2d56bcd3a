//! A Debian source package built from source, as Debian builds it: unpacked
//! with `dpkg-source -x`, its `patches` added to `debian/patches`, its
//! version bumped with a changelog entry, and `dpkg-buildpackage -b` run in
//! the sandbox, in its build environment. Each binary package it makes is
//! one output, by package name.

use std::fs::{self, File};
use std::path::Path;

use super::env::materialized_env;
use super::package::{run_logged, step_limits};
use crate::deb;
use crate::job::*;
use crate::sandbox::{Mount, Step};
use dhib_graph::Role;
use dhib_lang::value::Value;
use dhib_store::{ActionResult, Entry, Tree};

pub(crate) fn debian_build(cx: &Context<'_>, job: &Job<'_>, work: &Path) -> Result<ActionResult, BuildError> {
    let build = work.join("build");
    fs::create_dir_all(&build).map_err(io(build.display()))?;
    let mut files = None;
    let mut profiles = Vec::new();
    let mut env = None;
    for (roles, id, r) in &job.deps {
        if roles.contains(Role::Source) {
            files = r.outputs.get("files").copied();
            profiles = crate::facts::build_profiles(r);
        } else if roles.contains(Role::Env) {
            let vars = crate::facts::env_vars(r).map_err(|e| BuildError::Invalid(format!("{id}: {e}")))?;
            env = r.outputs.get("rootfs").copied().map(|root| (root, vars));
        }
    }
    let files = files.ok_or_else(|| BuildError::Invalid(format!("{} has no Debian source", job.id)))?;
    let (rootfs, mut vars) = env.ok_or_else(|| BuildError::Invalid(format!("{} has no build environment", job.id)))?;
    cx.store.materialize(&files, &build)?;
    let dsc = cx.store.get_tree(&files)?.into_keys().find(|n| n.ends_with(".dsc")).expect("debian_source: stores a .dsc");
    let dsc_version = dsc_field(&fs::read_to_string(build.join(&dsc)).map_err(io(&dsc))?, "Version")
        .ok_or_else(|| BuildError::Invalid(format!("{}: {dsc} has no Version", job.id)))?;

    let log_path = work.join("build.log");
    let log = File::options().create(true).append(true).read(true).open(&log_path).map_err(io(log_path.display()))?;
    let mut options = str_list(&job.def, "options");
    options.push(format!("parallel={}", cx.jobs));
    vars.insert("DEB_BUILD_OPTIONS".into(), options.join(" "));
    vars.insert("DEB_BUILD_PROFILES".into(), profiles.join(" "));
    let env_dir = materialized_env(cx.store, &rootfs)?;
    let step = |argv: &str, workdir: &str| Step {
        argv: vec!["/bin/sh".into(), "-ec".into(), argv.to_string()],
        rootfs: env_dir.clone(),
        mounts: vec![Mount { host: build.clone(), dest: "/build".into(), writable: true }],
        workdir: workdir.into(),
        env: vars.clone(),
        limits: step_limits(&job.def),
        network: false,
        user: None,
    };
    let unpack = format!("dpkg-source -x {dsc} src");
    run_logged(cx, &step(&unpack, "/build"), &unpack, (1, 2), &log_path, &log)?;

    let src = build.join("src");
    let version = prepare(cx, job, &src, &dsc_version)?;
    // SOURCE_DATE_EPOCH comes from the top changelog entry, as Debian's own
    // builds take it: the bump keeps the date of the entry it extends.
    let buildpackage = "unset SOURCE_DATE_EPOCH; dpkg-buildpackage -b -uc -us";
    run_logged(cx, &step(buildpackage, "/build/src"), buildpackage, (2, 2), &log_path, &log)?;

    let mut r = ActionResult::default();
    let mut built: Vec<_> = fs::read_dir(&build).map_err(io(build.display()))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    built.sort();
    for path in built.iter().filter(|p| p.extension().is_some_and(|e| e == "deb")) {
        let control = deb::read_control(path)?;
        if control.version != version {
            return Err(BuildError::Invalid(format!(
                "{}: {} was built as version {}, not {version}: binaries versioned apart from their source are not supported",
                job.id, control.package, control.version
            )));
        }
        let digest = cx.store.put_file(path)?;
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tree = Tree::from([(name, Entry::File { digest, size, executable: false })]);
        r.outputs.insert(control.package, cx.store.put_manifest(&tree)?);
    }
    if r.outputs.is_empty() {
        return Err(BuildError::Invalid(format!("{}: dpkg-buildpackage made no .deb", job.id)));
    }
    r.log = Some(cx.store.put_file(&log_path)?);
    Ok(r)
}

/// Adds the patches and the bump to the unpacked source; returns the version
/// its binaries get.
fn prepare(cx: &Context<'_>, job: &Job<'_>, src: &Path, dsc_version: &str) -> Result<String, BuildError> {
    let invalid = |why: String| BuildError::Invalid(format!("{}: {why}", job.id));
    let changelog_path = src.join("debian/changelog");
    let changelog = fs::read_to_string(&changelog_path).map_err(io(changelog_path.display()))?;
    let top = top_entry(&changelog).ok_or_else(|| invalid("debian/changelog has no entry dhib can read".into()))?;
    if top.version != dsc_version {
        return Err(invalid(format!("debian/changelog is at {}, the .dsc at {dsc_version}", top.version)));
    }
    if let Some(Value::List(patches)) = job.def.attrs.get("patches") {
        let format = fs::read_to_string(src.join("debian/source/format")).unwrap_or_default();
        if format.trim() != "3.0 (quilt)" && !patches.is_empty() {
            return Err(invalid(format!("patches need the source format 3.0 (quilt), and this source is {:?}", format.trim())));
        }
        let dir = src.join("debian/patches");
        fs::create_dir_all(&dir).map_err(io(dir.display()))?;
        let mut series = fs::read_to_string(dir.join("series")).unwrap_or_default();
        for patch in patches {
            let Value::File(f) = patch else { continue };
            let name = f.file.rsplit('/').next().unwrap_or(&f.file);
            if dir.join(name).exists() {
                return Err(invalid(format!("debian/patches already has a patch called {name}; rename {}", f.file)));
            }
            fs::write(dir.join(name), keyed_file(cx, &f.file)?).map_err(io(dir.join(name).display()))?;
            if !series.is_empty() && !series.ends_with('\n') {
                series.push('\n');
            }
            series.push_str(name);
            series.push('\n');
        }
        fs::write(dir.join("series"), series).map_err(io(dir.join("series").display()))?;
    }
    let Some(Value::Map(bump)) = job.def.attrs.get("bump") else { return Ok(top.version) };
    let text = |k: &str| bump.get(k).and_then(Value::as_str);
    let version = format!("{}{}", top.version, text("suffix").unwrap_or_default());
    let mut entry = format!("{} ({version}) {}; urgency=medium\n\n", top.name, top.distribution);
    if let Some(Value::List(lines)) = bump.get("changelog") {
        for line in lines.iter().filter_map(Value::as_str) {
            entry.push_str(&format!("  * {line}\n"));
        }
    }
    let maintainer = text("maintainer").unwrap_or("dhib <dhib@localhost>");
    entry.push_str(&format!("\n -- {maintainer}  {}\n\n", top.date));
    fs::write(&changelog_path, entry + &changelog).map_err(io(changelog_path.display()))?;
    Ok(version)
}

/// A field of a `.dsc`, which is deb822 text inside a clear-signed message.
fn dsc_field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')).map(|v| v.trim().to_string())
}

struct ChangelogEntry {
    name: String,
    version: String,
    distribution: String,
    date: String,
}

/// The top entry of a changelog: `zlib (1:1.2.13.dfsg-1) unstable;
/// urgency=low` and the date of its ` -- Maintainer <mail>  DATE` line.
fn top_entry(changelog: &str) -> Option<ChangelogEntry> {
    let mut lines = changelog.lines();
    let first = lines.next()?;
    let (name, rest) = first.split_once(" (")?;
    let (version, rest) = rest.split_once(") ")?;
    let distribution = rest.split(';').next()?.trim().to_string();
    let date = lines.find_map(|l| l.strip_prefix(" -- "))?.split_once("  ")?.1.trim().to_string();
    Some(ChangelogEntry { name: name.to_string(), version: version.to_string(), distribution, date })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_top_changelog_entry_and_dsc_fields() {
        let log = "zlib (1:1.2.13.dfsg-1) unstable; urgency=medium\n\n  * New upstream.\n\n -- Mark Brown <broonie@debian.org>  Fri, 14 Oct 2022 15:46:05 +0100\n\nzlib (1:1.2.11.dfsg-4) unstable; urgency=low\n";
        let e = top_entry(log).unwrap();
        assert_eq!((e.name.as_str(), e.version.as_str(), e.distribution.as_str()), ("zlib", "1:1.2.13.dfsg-1", "unstable"));
        assert_eq!(e.date, "Fri, 14 Oct 2022 15:46:05 +0100");
        let dsc = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nFormat: 3.0 (quilt)\nSource: zlib\nVersion: 1:1.2.13.dfsg-1\n";
        assert_eq!(dsc_field(dsc, "Version").as_deref(), Some("1:1.2.13.dfsg-1"));
        assert_eq!(dsc_field(dsc, "Binary"), None);
    }
}
