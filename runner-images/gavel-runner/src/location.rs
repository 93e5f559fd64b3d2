//! Where the bundle comes from and the report goes: `file://` paths (embedded) or HTTP URLs
//! (presigned S3 GET/PUT on AWS, so the task itself holds no credentials).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use gavel_core::runner::MAX_BUNDLE_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("unsupported location {0:?}: expected file:// or http(s)://")]
    Unsupported(String),
    #[error("{path}: {source}")]
    File { path: PathBuf, source: std::io::Error },
    #[error("HTTP {method} failed: {source}")]
    Http { method: &'static str, source: Box<ureq::Error> },
}

enum Location<'a> {
    File(&'a Path),
    Http(&'a str),
}

fn parse(url: &str) -> Result<Location<'_>, LocationError> {
    if let Some(path) = url.strip_prefix("file://") {
        return Ok(Location::File(Path::new(path)));
    }
    if url.starts_with("http://") || url.starts_with("https://") {
        return Ok(Location::Http(url));
    }
    Err(LocationError::Unsupported(url.chars().take(80).collect()))
}

pub fn fetch(url: &str) -> Result<Vec<u8>, LocationError> {
    match parse(url)? {
        Location::File(path) => {
            let fail = |source| LocationError::File { path: path.to_owned(), source };
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_BUNDLE_BYTES + 1).read_to_end(&mut bytes))
                .map_err(fail)?;
            if bytes.len() as u64 > MAX_BUNDLE_BYTES {
                return Err(fail(std::io::Error::other(format!("larger than {MAX_BUNDLE_BYTES} bytes"))));
            }
            Ok(bytes)
        }
        Location::Http(url) => {
            let http = |source| LocationError::Http { method: "GET", source: Box::new(source) };
            let mut response = ureq::get(url).call().map_err(http)?;
            response.body_mut().with_config().limit(MAX_BUNDLE_BYTES).read_to_vec().map_err(http)
        }
    }
}

pub fn store(url: &str, body: &[u8]) -> Result<(), LocationError> {
    match parse(url)? {
        Location::File(path) => write_atomically(path, body),
        Location::Http(url) => {
            // A presigned PUT needs the body with its length, which a slice gives.
            ureq::put(url)
                .header("content-type", "application/json")
                .send(body)
                .map_err(|source| LocationError::Http { method: "PUT", source: Box::new(source) })?;
            Ok(())
        }
    }
}

/// Readers never see a half-written report. The file is made under a fresh name that nothing can
/// already hold (`O_EXCL`, no symlink followed), readable by its owner only, then renamed over
/// `path` (a rename replaces whatever is there, a planted link included, and follows none). Not
/// synced: the server reads it as soon as the runner exits, and keeps what it read.
fn write_atomically(path: &Path, body: &[u8]) -> Result<(), LocationError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |source| LocationError::File { path: path.to_owned(), source };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}-{nanos}.partial", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(fail)?;
    let written = file.write_all(body).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_locations_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("file://{}/report.json", dir.path().display());
        store(&url, b"{\"ok\":true}").expect("store");
        assert_eq!(fetch(&url).expect("fetch"), b"{\"ok\":true}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["report.json"], "no partial file is left");
    }

    /// A link planted where the report goes is replaced, never written through.
    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"untouched").expect("target");
        let report = dir.path().join("report.json");
        std::os::unix::fs::symlink(&target, &report).expect("plant a link");
        store(&format!("file://{}", report.display()), b"{}").expect("store");
        assert_eq!(std::fs::read(&target).expect("target"), b"untouched");
        let meta = std::fs::symlink_metadata(&report).expect("report");
        assert!(meta.is_file(), "the link was replaced by the report");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    /// A one-request HTTP server on loopback: answers `response` and hands back what it received.
    fn serve_once(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/jobs/x/report.json?X-Amz-Signature=abc", listener.local_addr().expect("addr"));
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).expect("read body");
            reader.get_mut().write_all(response.as_bytes()).expect("answer");
            format!("{head}{}", String::from_utf8_lossy(&body))
        });
        (url, server)
    }

    #[test]
    fn http_get_reads_the_body() {
        let (url, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbundle!");
        assert_eq!(fetch(&url).expect("fetch"), b"bundle!");
        let request = server.join().expect("server");
        assert!(request.starts_with("GET /jobs/x/report.json?X-Amz-Signature=abc HTTP/1.1"), "{request}");
    }

    #[test]
    fn http_put_sends_the_body_with_its_length() {
        let (url, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        store(&url, b"{\"report\":1}").expect("store");
        let request = server.join().expect("server").to_ascii_lowercase();
        assert!(request.starts_with("put /jobs/x/report.json"), "{request}");
        assert!(request.contains("content-length: 12"), "{request}");
        assert!(request.ends_with("{\"report\":1}"), "{request}");
    }

    #[test]
    fn http_errors_are_reported() {
        let (url, server) = serve_once("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        assert!(matches!(store(&url, b"x"), Err(LocationError::Http { method: "PUT", .. })));
        server.join().expect("server");
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(fetch("s3://bucket/key"), Err(LocationError::Unsupported(_))));
        assert!(matches!(fetch("file:///nonexistent/bundle.json"), Err(LocationError::File { .. })));
    }
}
