//! dhib's one HTTP client, shared by fetching, registries and upstream
//! monitors, and the words its transport errors are reported in.
//!
//! # Architecture invariant
//! Nothing else in dhib builds an HTTP agent: TLS roots, timeouts and the
//! "status codes are answers" rule are decided here once.

use std::path::PathBuf;

/// Where Linux distributions keep their bundle of trusted roots (the list
/// OpenSSL's probing uses).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The one HTTP client of dhib, for fetching and for registries. HTTPS
/// trusts the system's roots plus the bundle named by `SSL_CERT_FILE`, so a
/// private registry's CA can be added without replacing the public ones;
/// with neither, Mozilla's roots compiled into the binary. Status codes are
/// answers, not errors: each caller decides what a 404 or a 401 means.
pub fn agent() -> ureq::Agent {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    AGENT
        .get_or_init(|| {
            let mut files: Vec<PathBuf> = SYSTEM_BUNDLES.iter().map(PathBuf::from).filter(|p| p.is_file()).take(1).collect();
            files.extend(std::env::var_os("SSL_CERT_FILE").map(PathBuf::from));
            let certs: Vec<ureq::tls::Certificate<'static>> = files
                .iter()
                .filter_map(|f| std::fs::read(f).ok())
                .flat_map(|pem| {
                    ureq::tls::parse_pem(&pem)
                        .filter_map(|item| match item {
                            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            let roots = if certs.is_empty() { ureq::tls::RootCerts::WebPki } else { ureq::tls::RootCerts::new_with_certs(&certs) };
            let timeout = Some(network_timeout());
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(timeout)
                .timeout_per_read(timeout)
                .timeout_per_write(timeout)
                .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
                .build()
                .new_agent()
        })
        .clone()
}

/// How long a connection may take to open, and to go without a byte either
/// way, before the request is given up (and retried, where the caller
/// retries): `DHIB_NET_TIMEOUT` seconds, 60 by default. A server that
/// accepts and never answers must not hang a build, a publish or a verify.
pub fn network_timeout() -> std::time::Duration {
    let secs = std::env::var("DHIB_NET_TIMEOUT").ok().and_then(|s| s.trim().parse::<f64>().ok()).filter(|s| *s > 0.0).unwrap_or(60.0);
    std::time::Duration::from_secs_f64(secs)
}

/// A transport error in words a user can act on: a certificate that is not
/// trusted names the way to trust its authority.
pub fn describe(e: &ureq::Error) -> String {
    let text = e.to_string();
    if text.contains("invalid peer certificate") {
        format!(
            "{text} (dhib trusts the system's roots and the PEM bundle named by SSL_CERT_FILE: set it to a bundle holding the server's CA)"
        )
    } else {
        text
    }
}
