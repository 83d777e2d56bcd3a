//! The standard checks every image passes unless its definition opts out
//! with a reason (`skip_checks = { no_shell = "why" }`).

use std::collections::BTreeMap;

use super::ctrf::{Status, TestCase};
use dhib_oci::rootfs::{Kind, Node};

/// Every check's name, and what it asks.
pub const CHECKS: [(&str, &str); 8] = [
    ("non_root", "runs as a user other than root (runtime images)"),
    ("no_shell", "has no shell (runtime images)"),
    ("no_package_manager", "has no package manager (runtime images)"),
    ("no_setuid", "has no setuid or setgid files"),
    ("no_world_writable", "has no world-writable files, nor world-writable directories without the sticky bit"),
    ("size_budget", "fits its size budget (`size_budget_mb`, default 512 MiB, uncompressed)"),
    ("required_labels", "carries the created, title and description annotations"),
    ("platforms", "has an image for every platform it declares"),
];

pub const DEFAULT_BUDGET_MB: u64 = 512;
const SHELLS: [&str; 8] = ["bin/sh", "bin/bash", "bin/dash", "bin/ash", "bin/zsh", "bin/busybox", "bin/ksh", "bin/csh"];
const PACKAGE_MANAGERS: [&str; 8] = ["bin/dpkg", "bin/apt", "bin/apt-get", "bin/apk", "bin/rpm", "bin/yum", "bin/dnf", "bin/pip"];
const REQUIRED_ANNOTATIONS: [&str; 3] =
    ["org.opencontainers.image.created", "org.opencontainers.image.title", "org.opencontainers.image.description"];

/// What the checks look at, for one platform's image.
pub struct Facts<'a> {
    pub platform: &'a str,
    pub rootfs: &'a BTreeMap<String, Node>,
    pub user: Option<&'a str>,
    pub annotations: &'a BTreeMap<String, String>,
    /// Dev images may have a shell and a package manager, and run as root.
    pub dev: bool,
    pub budget_mb: u64,
    pub declared_platforms: &'a [String],
    pub present_platforms: &'a [String],
}

/// Runs every check on one platform's image; `skip` maps a check's name to
/// the reason it is skipped.
pub fn run(f: &Facts<'_>, skip: &BTreeMap<String, String>) -> Vec<TestCase> {
    CHECKS
        .iter()
        .map(|(name, _)| {
            let (status, message) = match skip.get(*name) {
                Some(reason) => (Status::Skipped, Some(reason.clone())),
                None if f.dev && matches!(*name, "non_root" | "no_shell" | "no_package_manager") => {
                    (Status::Skipped, Some("a dev image".to_string()))
                }
                None => match check(name, f) {
                    Ok(()) => (Status::Passed, None),
                    Err(why) => (Status::Failed, Some(why)),
                },
            };
            TestCase { name: format!("{name} ({})", f.platform), status, duration_ms: 0, message, suite: "standard checks".into() }
        })
        .collect()
}

fn check(name: &str, f: &Facts<'_>) -> Result<(), String> {
    let listed = |paths: Vec<&String>, what: &str| -> Result<(), String> {
        match paths.len() {
            0 => Ok(()),
            n => {
                let shown: Vec<String> = paths.iter().take(5).map(|p| format!("/{p}")).collect();
                Err(format!("{n} {what}: {}{}", shown.join(", "), if n > 5 { ", …" } else { "" }))
            }
        }
    };
    let present = |candidates: &[&str]| -> Vec<&String> {
        f.rootfs
            .iter()
            .filter(|(p, n)| {
                n.kind != Kind::Dir && candidates.iter().any(|c| *p == c || p.strip_prefix("usr/").is_some_and(|rest| rest == *c))
            })
            .map(|(p, _)| p)
            .collect()
    };
    match name {
        "non_root" => match f.user.map(|u| u.split(':').next().unwrap_or(u)) {
            None | Some("") | Some("0") | Some("root") => Err(format!("runs as root (user {:?})", f.user.unwrap_or(""))),
            Some(_) => Ok(()),
        },
        "no_shell" => listed(present(&SHELLS), "shells"),
        "no_package_manager" => listed(present(&PACKAGE_MANAGERS), "package managers"),
        "no_setuid" => listed(
            f.rootfs.iter().filter(|(_, n)| n.kind == Kind::File && n.mode & 0o6000 != 0).map(|(p, _)| p).collect(),
            "setuid or setgid files",
        ),
        "no_world_writable" => listed(
            f.rootfs
                .iter()
                .filter(|(_, n)| match n.kind {
                    Kind::File => n.mode & 0o002 != 0,
                    Kind::Dir => n.mode & 0o002 != 0 && n.mode & 0o1000 == 0,
                    _ => false,
                })
                .map(|(p, _)| p)
                .collect(),
            "world-writable paths",
        ),
        "size_budget" => {
            let bytes: u64 = f.rootfs.values().filter(|n| n.kind == Kind::File).map(|n| n.size).sum();
            let mib = bytes as f64 / (1024.0 * 1024.0);
            if bytes > f.budget_mb * 1024 * 1024 {
                Err(format!("{mib:.1} MiB, over the budget of {} MiB", f.budget_mb))
            } else {
                Ok(())
            }
        }
        "required_labels" => {
            let missing: Vec<&str> = REQUIRED_ANNOTATIONS.iter().copied().filter(|a| !f.annotations.contains_key(*a)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing {}", missing.join(", ")))
            }
        }
        "platforms" => {
            let missing: Vec<&String> = f.declared_platforms.iter().filter(|p| !f.present_platforms.contains(p)).collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!("no image for {}", missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")))
            }
        }
        other => Err(format!("unknown check {other}")),
    }
}
