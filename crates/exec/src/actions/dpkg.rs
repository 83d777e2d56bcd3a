//! What Debian's maintainer scripts would have set up in a root that dhib
//! unpacks without running them, as far as builds depend on it: dpkg's
//! database (dpkg-shlibdeps reads it), the vendor origin (without it
//! `dpkg-buildflags` prints no hardening flags at all), the base users and
//! groups, the linker's search path, and the alternatives the packages
//! register.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Component, Path};

use crate::deb::{self, Unpacked};
use crate::job::{io, BuildError};

/// The control members of a package that dpkg keeps in `info/`.
const INFO_MEMBERS: [&str; 3] = ["shlibs", "symbols", "triggers"];

/// dpkg's view of the packages unpacked into a root, in unpack order.
#[derive(Default)]
pub(crate) struct Database {
    packages: Vec<Installed>,
}

struct Installed {
    /// `zlib1g:amd64` for `Multi-Arch: same` packages, as dpkg names
    /// their info files; else the plain name.
    info_name: String,
    control: String,
    paths: Vec<String>,
    members: BTreeMap<String, Vec<u8>>,
    postinst: String,
}

impl Database {
    pub(crate) fn add(&mut self, deb_path: &Path, unpacked: &Unpacked) -> Result<(), BuildError> {
        let mut wanted = vec!["control", "postinst"];
        wanted.extend(INFO_MEMBERS);
        let mut members = deb::control_members(deb_path, &wanted)?;
        let control = String::from_utf8_lossy(&members.remove("control").unwrap_or_default()).into_owned();
        let postinst = String::from_utf8_lossy(&members.remove("postinst").unwrap_or_default()).into_owned();
        let fields = deb::parse_fields(&control);
        let name = fields.get("Package").cloned().unwrap_or_default();
        let info_name = match (fields.get("Multi-Arch").map(String::as_str), fields.get("Architecture")) {
            (Some("same"), Some(arch)) => format!("{name}:{arch}"),
            _ => name,
        };
        self.packages.push(Installed { info_name, control, paths: unpacked.paths.clone(), members, postinst });
        Ok(())
    }

    /// `var/lib/dpkg/status` and `info/` as dpkg would leave them, each
    /// package installed and configured.
    pub(crate) fn write(&self, root: &Path) -> Result<(), BuildError> {
        let info = root.join("var/lib/dpkg/info");
        fs::create_dir_all(&info).map_err(io(info.display()))?;
        let write = |path: &Path, bytes: &[u8]| fs::write(path, bytes).map_err(io(path.display()));
        write(&info.join("format"), b"1\n")?;
        let mut status = String::new();
        for p in &self.packages {
            let mut lines = p.control.trim_end().lines();
            status.extend(lines.next().map(|first| format!("{first}\nStatus: install ok installed\n")));
            for line in lines {
                status.push_str(line);
                status.push('\n');
            }
            status.push('\n');
            // dpkg lists a package's paths as the archive has them: Debian 12
            // still ships /lib/..., which the unpack merged into /usr/lib/...;
            // both are listed so either spelling finds the package.
            let mut list = String::from("/.\n");
            for path in &p.paths {
                list.push_str(&format!("/{path}\n"));
                if let Some(unmerged) =
                    path.strip_prefix("usr/").filter(|rest| ["bin/", "lib/", "lib64/", "sbin/"].iter().any(|d| rest.starts_with(d)))
                {
                    list.push_str(&format!("/{unmerged}\n"));
                }
            }
            write(&info.join(format!("{}.list", p.info_name)), list.as_bytes())?;
            for (member, bytes) in &p.members {
                write(&info.join(format!("{}.{member}", p.info_name)), bytes)?;
            }
        }
        write(&root.join("var/lib/dpkg/status"), status.as_bytes())?;
        for file in ["available", "diversions", "statoverride"] {
            write(&root.join("var/lib/dpkg").join(file), b"")?;
        }
        Ok(())
    }
}

/// The configuration the packages' maintainer scripts would write.
pub(crate) fn configure(root: &Path, db: &Database) -> Result<(), BuildError> {
    let link = |target: &str, at: &Path| -> Result<(), BuildError> {
        if at.symlink_metadata().is_err() {
            std::os::unix::fs::symlink(target, at).map_err(io(at.display()))?;
        }
        Ok(())
    };
    // base-files' postinst: the vendor dpkg-vendor and dpkg-buildflags read.
    if root.join("etc/dpkg/origins/debian").exists() {
        link("debian", &root.join("etc/dpkg/origins/default"))?;
    }
    // base-passwd's postinst: the system users and groups, so that the
    // owner names in built packages are root's rather than empty.
    for (master, dest) in [("passwd.master", "etc/passwd"), ("group.master", "etc/group")] {
        let from = root.join("usr/share/base-passwd").join(master);
        let to = root.join(dest);
        if from.exists() && to.symlink_metadata().is_err() {
            fs::copy(&from, &to).map_err(io(to.display()))?;
        }
    }
    // libc-bin's postinst: where the dynamic linker looks.
    let ld_conf = root.join("etc/ld.so.conf");
    if root.join("etc/ld.so.conf.d").is_dir() && ld_conf.symlink_metadata().is_err() {
        fs::write(&ld_conf, "include /etc/ld.so.conf.d/*.conf\n").map_err(io(ld_conf.display()))?;
    }
    for (path, target) in alternatives(db.packages.iter().map(|p| p.postinst.as_str()), root) {
        let at = root.join(&path);
        if let Some(dir) = at.parent() {
            fs::create_dir_all(dir).map_err(io(dir.display()))?;
        }
        link(&target, &at)?;
    }
    Ok(())
}

/// The links `update-alternatives --install` lines of postinst scripts
/// register, for each alternative the highest priority one whose target the
/// root has: (link path relative to the root, target), with its slaves.
fn alternatives<'a>(postinsts: impl Iterator<Item = &'a str>, root: &Path) -> Vec<(String, String)> {
    // By alternative name: (priority, links).
    let mut best: BTreeMap<String, (i64, Vec<(String, String)>)> = BTreeMap::new();
    for script in postinsts {
        let joined = script.replace("\\\n", " ");
        // Plain assignments (`ver=1.16`), which the install lines often use.
        let vars: Vec<(String, String)> = joined
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .filter(|(k, v)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !v.contains([' ', '$', '`', ';', '('])
            })
            .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
            .collect();
        for line in joined.lines() {
            let mut line = line.to_string();
            for (k, v) in &vars {
                line = line.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = words.iter().position(|w| *w == "--install") else { continue };
            if !words[..at].iter().any(|w| w.ends_with("update-alternatives")) {
                continue;
            }
            let Some([link, name, path, priority]) = words.get(at + 1..at + 5).map(|w| [w[0], w[1], w[2], w[3]]) else { continue };
            let Ok(priority) = priority.parse::<i64>() else { continue };
            let mut links = vec![(link, path)];
            let mut rest = &words[at + 5..];
            while let [flag, slave_link, _, slave_path, more @ ..] = rest {
                if *flag != "--slave" {
                    break;
                }
                links.push((slave_link, slave_path));
                rest = more;
            }
            // Only literal, absolute paths inside the root: a shell variable
            // or `..` is skipped rather than guessed at.
            let plain =
                |p: &str| p.starts_with('/') && !p.contains('$') && Path::new(p).components().all(|c| !matches!(c, Component::ParentDir));
            if !links.iter().all(|(l, p)| plain(l) && plain(p)) || root.join(&path[1..]).symlink_metadata().is_err() {
                continue;
            }
            let links: Vec<(String, String)> = links.into_iter().map(|(l, p)| (l[1..].to_string(), p.to_string())).collect();
            if best.get(name).is_none_or(|(p, _)| priority > *p) {
                best.insert(name.to_string(), (priority, links));
            }
        }
    }
    best.into_values().flat_map(|(_, links)| links).filter(|(_, target)| root.join(&target[1..]).symlink_metadata().is_ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_alternatives_link_the_highest_priority_present() {
        let root = tempfile::tempdir().unwrap();
        for f in ["usr/bin/aclocal-1.16", "usr/bin/automake-1.16", "usr/share/man/man1/aclocal-1.16.1.gz", "usr/bin/lzma-real"] {
            fs::create_dir_all(root.path().join(f).parent().unwrap()).unwrap();
            fs::write(root.path().join(f), "").unwrap();
        }
        let automake = "set -e\nver=1.16\nprio=34\nupdate-alternatives --install /usr/bin/automake automake /usr/bin/automake-$ver $prio \\\n\t--slave /usr/bin/aclocal aclocal /usr/bin/aclocal-${ver} \\\n\t--slave /usr/share/man/man1/aclocal.1.gz aclocal.1.gz /usr/share/man/man1/aclocal-$ver.1.gz\n";
        let older = "update-alternatives --install /usr/bin/automake automake /usr/bin/automake-1.15 200\n";
        // A variable set by the script at run time is not guessed at.
        let odd =
            "update-alternatives --install /usr/bin/lzma lzma $REAL 10\nupdate-alternatives --install /../etc/x x /usr/bin/lzma-real 10\n";
        let links = alternatives([automake, older, odd].into_iter(), root.path());
        assert_eq!(
            links,
            [
                ("usr/bin/automake".to_string(), "/usr/bin/automake-1.16".to_string()),
                ("usr/bin/aclocal".to_string(), "/usr/bin/aclocal-1.16".to_string()),
                ("usr/share/man/man1/aclocal.1.gz".to_string(), "/usr/share/man/man1/aclocal-1.16.1.gz".to_string()),
            ]
        );
    }
}
