//! Where the bundle comes from and the report goes: `file://` paths (embedded) or HTTP URLs
//! (presigned S3 GET/PUT on AWS, so the task itself holds no credentials).

use std::io::Write;
use std::path::{Path, PathBuf};

/// Bundles carry sources and test inputs, so they are bounded but not tiny.
const MAX_BUNDLE_BYTES: u64 = 512 * 1024 * 1024;

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
            std::fs::read(path).map_err(|source| LocationError::File { path: path.to_owned(), source })
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

/// Readers never see a half-written report.
fn write_atomically(path: &Path, body: &[u8]) -> Result<(), LocationError> {
    let fail = |source| LocationError::File { path: path.to_owned(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(body).and_then(|()| file.sync_all()).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
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
        assert!(!dir.path().join("report.json.partial").exists());
    }

    #[test]
    fn unknown_schemes_are_refused() {
        assert!(matches!(fetch("s3://bucket/key"), Err(LocationError::Unsupported(_))));
        assert!(matches!(fetch("file:///nonexistent/bundle.json"), Err(LocationError::File { .. })));
    }
}
