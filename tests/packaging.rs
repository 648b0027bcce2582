//! Static checks of the container packaging (no Docker engine is needed): the runtime image
//! installs exactly the FFmpeg libraries the binary links, and every file it copies exists.

mod util;

use std::process::Command;

fn dockerfile() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile.amd64")).unwrap()
}

#[test]
fn the_runtime_image_installs_the_ffmpeg_libraries_the_binary_links() {
    let out = Command::new("ldd").arg(util::bin()).output().expect("ldd runs");
    let ldd = String::from_utf8_lossy(&out.stdout);
    let mut packages = Vec::new();
    let mut avformat_major = None;
    for line in ldd.lines() {
        // "libavcodec.so.59 => /lib/..." becomes the Debian package "libavcodec59".
        let Some(name) = line.split_whitespace().next() else { continue };
        let Some((lib, soname)) = name.split_once(".so.") else { continue };
        let linked = ["libavcodec", "libavformat", "libavutil", "libswscale", "libswresample"];
        let on_demand = ["libavfilter", "libavdevice"];
        assert!(!on_demand.contains(&lib), "{lib} must not be linked (testsrc loads it on demand):\n{ldd}");
        if linked.contains(&lib) {
            packages.push(format!("{lib}{soname}"));
        }
        if lib == "libavformat" {
            avformat_major = Some(soname.to_string());
        }
    }
    assert_eq!(packages.len(), 5, "expected the 5 linked FFmpeg libraries in:\n{ldd}");
    // testsrc opens libavdevice (which needs libavfilter) with the same major as libavformat.
    packages.push(format!("libavdevice{}", avformat_major.expect("libavformat is linked")));
    let runtime = dockerfile().split("FROM debian:").nth(1).expect("a debian runtime stage").to_string();
    for package in packages {
        assert!(runtime.contains(&format!(" {package}")), "Dockerfile.amd64 does not install {package}");
    }
}

#[test]
fn every_file_the_image_copies_exists() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for line in dockerfile().lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(root.join(source).exists(), "{line}: {source} is missing");
        }
    }
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("dockerfile: Dockerfile.amd64"), "the compose example builds this image");
}
