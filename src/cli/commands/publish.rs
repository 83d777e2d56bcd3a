use std::path::PathBuf;
use std::process::ExitCode;

use dhib_commands::publish::{self, Options};
use dhib_commands::{Failure, Workspace};

use crate::output::{out, Progress};

/// Push images built by `dhib build` to a registry (blobs, then
/// manifests, then tags). //dir/sub:name goes to NAMESPACE/dir/sub:name.
#[derive(clap::Args)]
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
pub struct Args {
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
}

pub fn run(args: Args, ws: &Workspace) -> Result<ExitCode, Failure> {
    let json = args.output == Progress::Json;
    let opts = Options { patterns: args.patterns, registry: args.registry, insecure: args.insecure, tag: args.tag, out: args.out };
    let (registry, counts) = publish::publish(ws, &opts, &|p| {
        if json {
            let mut event = serde_json::to_value(p).expect("json serializes");
            event["event"] = "pushed".into();
            out!("{event}");
        } else {
            let mut line = format!("pushed {} as {}@{}", p.node, p.reference, p.digest);
            if let Some(via) = p.referrers_via {
                line += &format!(", {} referrers ({via})", p.referrers);
            }
            for tag in &p.tags {
                line += &format!(", {tag}");
            }
            out!("{line}");
        }
    })?;
    if json {
        out!("{}", serde_json::json!({"event": "summary", "summary": counts}));
    } else {
        let extras = if counts.referrers + counts.tags > 0 {
            format!("; {} referrers, {} signature and attestation tags", counts.referrers, counts.tags)
        } else {
            String::new()
        };
        eprintln!(
            "published {} images to {}: {} blobs uploaded, {} mounted, {} skipped (already there){extras}",
            counts.images, registry.host, counts.uploaded, counts.mounted, counts.skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}
