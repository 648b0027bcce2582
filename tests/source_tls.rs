//! `rtmps://` sources and `HLS_SOURCE_TLS_VERIFY`: nginx-rtmp behind nginx's `stream` module
//! terminating TLS on loopback, with a certificate authority made for the test by the openssl
//! CLI. `YES` checks the chain against `HLS_SOURCE_TLS_CA_FILE` (or the system's roots) and
//! that the certificate names the address dialled; `NO` encrypts without checking.

pub mod support;

use support::{fake_coordinator, util};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use serde_json::Value;
use support::fake_coordinator::FakeCoordinator;
use support::util::{bin, free_port, nginx_conf_head, spawn_nginx, wait_for_port, RtmpPublisher};
use support::worker_process::{OnDrop, Worker};

const KEY: &str = "tlskey";

/// A certificate authority, a second one nobody trusts, and server certificates signed by
/// the first: one for IP 127.0.0.1 (what the coordinator's URIs dial), one for a host name.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn make() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(dir.path()).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        for (name, subject) in [("ca", "/CN=hls-ladder test CA"), ("other-ca", "/CN=someone else's CA")] {
            let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
            openssl(&[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &cert, "-days", "2", "-subj",
                subject,
            ]);
        }
        for (name, san) in [("ip", "IP:127.0.0.1"), ("named", "DNS:ingest.example")] {
            let (key, csr, cert, ext) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"), format!("{name}.ext"));
            std::fs::write(dir.path().join(&ext), format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"))
                .unwrap();
            openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", "/CN=ingest"]);
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ]);
        }
        Pki { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

/// nginx with the RTMP module on `rtmp_port`, and TLS in front of it on two ports: one with
/// the certificate for 127.0.0.1, one with the certificate for `ingest.example`.
struct TlsIngest {
    rtmp_port: u16,
    ip_port: u16,
    named_port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TlsIngest {
    fn start(pki: &Pki) -> TlsIngest {
        let dir = tempfile::tempdir().unwrap();
        let (rtmp_port, ip_port, named_port) = (free_port(), free_port(), free_port());
        let tls = |port: u16, name: &str| {
            format!(
                "  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {}; ssl_certificate_key {}; \
                 proxy_pass 127.0.0.1:{rtmp_port}; }}\n",
                pki.path(&format!("{name}.pem")).display(),
                pki.path(&format!("{name}.key")).display()
            )
        };
        let conf = format!(
            "{}load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nevents {{ worker_connections 128; }}\n\
             rtmp {{\n  server {{\n    listen 127.0.0.1:{rtmp_port};\n    chunk_size 4096;\n    \
             application c {{ live on; publish_notify on; play_restart on; }}\n  }}\n}}\n\
             stream {{\n{}{}}}\n",
            nginx_conf_head(dir.path()),
            tls(ip_port, "ip"),
            tls(named_port, "named"),
        );
        let installed = "nginx and libnginx-mod-stream are installed by scripts/install-deps.sh";
        let child = spawn_nginx(dir.path(), &conf, installed);
        let ingest = TlsIngest { rtmp_port, ip_port, named_port, child, _dir: dir };
        for port in [rtmp_port, ip_port, named_port] {
            wait_for_port(port, Duration::from_secs(10));
        }
        ingest
    }

    fn publish_url(&self) -> String {
        format!("rtmp://127.0.0.1:{}/c/{KEY}", self.rtmp_port)
    }

    fn rtmps(&self, port: u16) -> String {
        format!("rtmps://127.0.0.1:{port}/c/{KEY}")
    }
}

impl Drop for TlsIngest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `transcode URL OUT --duration 2` with `env`; its output, its `closed` event, and a
/// description for failure messages.
fn transcode(url: &str, out: &Path, env: &[(&str, &Path)]) -> (Output, Value, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("transcode").arg(url).arg(out);
    cmd.args(["--events", "jsonl", "--resolutions", "160x90-15", "--duration", "2", "--source-timeout", "10"]);
    cmd.env_remove("RUST_LOG").env_remove("HLS_SOURCE_TLS_VERIFY").env_remove("HLS_SOURCE_TLS_CA_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("the binary runs");
    let text = util::describe(&format!("{cmd:?}"), &output);
    let closed = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|e| e["event"] == "closed")
        .unwrap_or_else(|| panic!("no closed event\n{text}"));
    (output, closed, text)
}

fn segments(out: &Path) -> usize {
    util::tree(out).iter().filter(|f| f.ends_with(".ts")).count()
}

fn assert_played(url: &str, env: &[(&str, &Path)]) {
    let out = tempfile::tempdir().unwrap();
    let (output, closed, text) = transcode(url, out.path(), env);
    assert!(output.status.success(), "{text}");
    assert_eq!(closed["reason"], "DurationReached", "{text}");
    assert!(segments(out.path()) >= 1, "{:?}\n{text}", util::tree(out.path()));
}

fn verify_with(ca: &Path) -> Vec<(&'static str, &Path)> {
    vec![("HLS_SOURCE_TLS_VERIFY", Path::new("YES")), ("HLS_SOURCE_TLS_CA_FILE", ca)]
}

/// The run failed to open the source; returns its message.
fn assert_refused(url: &str, env: &[(&str, &Path)]) -> String {
    let out = tempfile::tempdir().unwrap();
    let (output, closed, text) = transcode(url, out.path(), env);
    assert!(!output.status.success(), "{text}");
    assert_eq!(closed["error_code"], "SOURCE_UNREACHABLE", "{text}");
    assert_eq!(segments(out.path()), 0, "{text}");
    let message = closed["message"].as_str().unwrap_or_default().to_string();
    assert!(!message.contains(KEY), "the stream key leaked: {message}");
    message
}

#[test]
fn rtmps_certificates_are_verified_only_when_asked_and_a_rejection_names_the_problem() {
    let pki = Pki::make();
    let ingest = TlsIngest::start(&pki);
    let _publisher = RtmpPublisher::start(&ingest.publish_url(), "size=160x90:rate=15", true, 60);
    std::thread::sleep(Duration::from_secs(1));
    let yes = Path::new("YES");
    let no = Path::new("NO");
    let (ca, other_ca) = (pki.path("ca.pem"), pki.path("other-ca.pem"));

    // The right authority and a certificate for the address dialled: plays.
    assert_played(&ingest.rtmps(ingest.ip_port), &verify_with(&ca));

    // A certificate from an authority not in the CA file.
    let message = assert_refused(&ingest.rtmps(ingest.ip_port), &verify_with(&other_ca));
    let said = "/c/***: the server's TLS certificate was rejected: Peer certificate failed verification";
    assert!(message.contains(said), "{message}");
    assert!(message.contains("HLS_SOURCE_TLS_CA_FILE"), "{message}");

    // The right authority, but the certificate names another host.
    let message = assert_refused(&ingest.rtmps(ingest.named_port), &verify_with(&ca));
    assert!(message.contains("does not match hostname 127.0.0.1"), "{message}");

    // No CA file: the system's roots, which do not know the test authority.
    let message = assert_refused(&ingest.rtmps(ingest.ip_port), &[("HLS_SOURCE_TLS_VERIFY", yes)]);
    assert!(message.contains("failed verification") && message.contains("system's root certificates"), "{message}");

    // NO: encrypted, not checked, whoever signed the certificate and whatever it names.
    assert_played(&ingest.rtmps(ingest.named_port), &[("HLS_SOURCE_TLS_VERIFY", no)]);
    assert_played(
        &ingest.rtmps(ingest.ip_port),
        &[("HLS_SOURCE_TLS_VERIFY", no), ("HLS_SOURCE_TLS_CA_FILE", &other_ca)],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_passes_the_tls_settings_to_its_jobs_and_reports_a_rejected_certificate() {
    let pki = Pki::make();
    let ingest = TlsIngest::start(&pki);
    let _publisher = RtmpPublisher::start(&ingest.publish_url(), "size=160x90:rate=15", true, 60);
    let fake = FakeCoordinator::start("s", Duration::from_secs(20)).await;
    let ca = pki.path("ca.pem");
    let env = [
        ("HLS_SHUTDOWN_TIMEOUT_SECONDS", "1"),
        ("HLS_SOURCE_TIMEOUT_SECONDS", "30"),
        ("HLS_SOURCE_TLS_VERIFY", "YES"),
        ("HLS_SOURCE_TLS_CA_FILE", ca.to_str().unwrap()),
    ];
    let mut worker = Worker::start(&fake.base_url(), "s", &env, OnDrop::Kill);
    let start = |id: &str, port: u16| {
        format!(
            "ENCODE-START\nStream-Channel:c\nStream-ID:{id}\nStream-Source-Type:RTMP\nStream-Source-URI:{}\n\
             Resolutions:160x90-15\nRecord:False\nPreviews:False\n",
            ingest.rtmps(port)
        )
    };
    let registered = fake.wait_for(Duration::from_secs(10), |f| f.iter().any(|f| f.method == "REGISTER")).await;
    assert!(registered);
    let (good, bad) = ("0000018f4a2b3c4d00000001aaaaaaaa", "0000018f4a2b3c4d00000002aaaaaaaa");
    // The certificate names another host: refused, and the coordinator is told why.
    fake.send_text(&start(bad, ingest.named_port));
    let closed = |id: &'static str| {
        move |f: &[fake_coordinator::Recorded]| -> bool {
            f.iter().any(|f| f.method == "STREAM-CLOSED" && f.param("Stream-ID") == Some(id))
        }
    };
    assert!(fake.wait_for(Duration::from_secs(20), closed(bad)).await, "{:#?}", fake.frames());
    let frames = fake.frames();
    let refused = frames.iter().find(|f| f.method == "STREAM-CLOSED").unwrap();
    assert_eq!(refused.param("Error-Code"), Some("SOURCE_UNREACHABLE"), "{}", refused.text);
    assert!(refused.param("Error-Message").unwrap().contains("does not match hostname"), "{}", refused.text);
    // The right certificate: announced.
    fake.send_text(&start(good, ingest.ip_port));
    let announced = fake
        .wait_for(Duration::from_secs(20), |f| {
            f.iter().any(|f| f.method == "STREAM-AVAILABLE" && f.param("Stream-ID") == Some(good))
        })
        .await;
    assert!(announced, "{:#?}", fake.frames());
    fake.assert_clean();
    // It stops its jobs and exits.
    worker.signal(libc::SIGTERM);
    let exited = tokio::task::spawn_blocking(move || worker.wait_exit(Duration::from_secs(60))).await.unwrap();
    assert_eq!(exited, Some(0));
}
