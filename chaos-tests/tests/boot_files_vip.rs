//! TFTP and HTTP boot answer on the VIP: a three-node cluster in network namespaces with a
//! loader image; from the client namespace, `curl tftp://VIP/...` and `curl http://VIP/...`
//! get the loader file's bytes and a generated config. The VIP namespace holds only the
//! VIP, so these replies come from the VIP. After the holder is SIGKILLed, the new holder
//! answers both at the same address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chaos_tests::cluster::{Cluster, Spec};
use chaos_tests::lan::Lan;
use chaos_tests::wait;

const T: Duration = Duration::from_secs(60);

/// `curl` from the client namespace; the body, or the error.
fn curl(c: &Cluster, url: &str) -> Result<Vec<u8>, String> {
    let (lan, client) = c.lan.as_ref().unwrap();
    let out = lan
        .cmd(client, "curl")
        .args(["-sS", "--fail", "--max-time", "5", url])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[test]
fn tftp_and_http_boot_answer_on_the_vip_and_follow_it() {
    if !Lan::available() {
        eprintln!("SKIP: network namespaces need root (CI runs as root)");
        return;
    }
    let loaders = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(loaders.path().join("loader.bin"), &content).unwrap();
    let mut c = Cluster::start(&Spec {
        on_lan: true,
        ..Spec::default()
    })
    .unwrap();
    c.wait_leader(T).unwrap();
    let out = c
        .bootctl(&[
            "image",
            "import",
            loaders.path().to_str().unwrap(),
            "--name",
            "bootloaders",
            "--quiet",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vip = c.lan.as_ref().unwrap().0.ip(10);
    let check = |c: &Cluster, what: &str| {
        for url in [
            format!("tftp://{vip}/loader.bin"),
            format!("http://{vip}/loader.bin"),
        ] {
            // The replicator may still be pulling the blob onto the holder.
            let got = wait::until(&format!("{url} ({what})"), T, || curl(c, &url)).unwrap();
            assert!(got == content, "{url} ({what}): {} bytes differ", got.len());
        }
        for url in [
            format!("tftp://{vip}/pxelinux.cfg/default"),
            format!("http://{vip}/pxelinux.cfg/default"),
        ] {
            let got = wait::until(&format!("{url} ({what})"), T, || curl(c, &url)).unwrap();
            let text = String::from_utf8_lossy(&got);
            assert!(text.contains("LOCALBOOT"), "{url}: {text}");
        }
    };
    let first = c.wait_vip_holder(T).unwrap();
    check(&c, "first holder");
    // Every boot server holds the image before the holder dies.
    c.wait_images_ready("the loader image ready on 3 boot servers", 1, 3, T)
        .unwrap();
    c.kill(first).unwrap();
    let second = c.wait_vip_holder(T).unwrap();
    assert_ne!(first, second);
    check(&c, "after the holder was killed");
    eprintln!("TFTP and HTTP answered on the VIP {vip} from node {first}, then node {second}");
}
