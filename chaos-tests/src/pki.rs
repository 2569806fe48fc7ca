//! [`TestPki`]: a throw-away certificate authority for TLS tests, made with the `openssl`
//! command-line tool (Debian's `openssl` package): a CA, and leaf certificates it signs with
//! IP and DNS subject alternative names, usable as both TLS server and client.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// A CA in a directory: `ca.crt`, `ca.key`, and the leaves issued into the same directory.
#[derive(Debug)]
pub struct TestPki {
    pub dir: PathBuf,
    /// The CA certificate (PEM): what clients and peers trust.
    pub ca_cert: PathBuf,
    ca_key: PathBuf,
}

/// One issued certificate and its key (PEM files).
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], cwd: &Path) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .context("running openssl (Debian package openssl)")?;
    anyhow::ensure!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl TestPki {
    /// A new CA named `name` in `dir` (created if needed); files are prefixed with `name`.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<TestPki> {
        std::fs::create_dir_all(dir)?;
        let ca_cert = dir.join(format!("{name}-ca.crt"));
        let ca_key = dir.join(format!("{name}-ca.key"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &ca_key.display().to_string(),
                "-out",
                &ca_cert.display().to_string(),
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir,
        )?;
        Ok(TestPki {
            dir: dir.to_path_buf(),
            ca_cert,
            ca_key,
        })
    }

    /// The CA `name` made earlier by [`TestPki::new`] in `dir`.
    pub fn open(dir: &Path, name: &str) -> TestPki {
        TestPki {
            dir: dir.to_path_buf(),
            ca_cert: dir.join(format!("{name}-ca.crt")),
            ca_key: dir.join(format!("{name}-ca.key")),
        }
    }

    /// Issue a certificate for `cn` naming `ips` and `dns` (server and client use).
    pub fn issue(&self, cn: &str, ips: &[IpAddr], dns: &[&str]) -> anyhow::Result<Leaf> {
        let key = self.dir.join(format!("{cn}.key"));
        let csr = self.dir.join(format!("{cn}.csr"));
        let cert = self.dir.join(format!("{cn}.crt"));
        let ext = self.dir.join(format!("{cn}.ext"));
        let sans: Vec<String> = ips
            .iter()
            .map(|ip| format!("IP:{ip}"))
            .chain(dns.iter().map(|d| format!("DNS:{d}")))
            .collect();
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
                sans.join(",")
            ),
        )?;
        let s = |p: &Path| p.display().to_string();
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &s(&key),
                "-out",
                &s(&csr),
                "-subj",
                &format!("/CN={cn}"),
            ],
            &self.dir,
        )?;
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                &s(&csr),
                "-CA",
                &s(&self.ca_cert),
                "-CAkey",
                &s(&self.ca_key),
                "-CAcreateserial",
                "-out",
                &s(&cert),
                "-days",
                "2",
                "-extfile",
                &s(&ext),
            ],
            &self.dir,
        )?;
        Ok(Leaf { cert, key })
    }
}
