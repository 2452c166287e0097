//! Static assets: the files under a bundle's `public/` directory, served at the same path
//! without the prefix (`public/css/site.css` → `GET /css/site.css`, `public/docs/index.html`
//! → `/docs/` too).
//!
//! [`PublicFiles`] is built once per active version, when the version enters the route table:
//! each file's `Content-Type` (by extension), strong `ETag` (SHA-256 of the content) and
//! `Last-Modified` (the version's creation time) are computed then, so serving one is a map
//! lookup and a reference-counted clone of the bytes. The route table checks public paths for
//! collisions like routes ([`crate::routing`]); [`serve`] answers the HTTP side (conditional
//! and range requests) for requests no route matched.

mod serve;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use kiln_js::Bundle;
use sha2::{Digest, Sha256};

pub use serve::{StaticAnswer, answer};

/// The bundle directory whose files are served as static assets.
pub const PUBLIC_DIR: &str = "public/";

/// One servable file.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's path in the bundle, e.g. `public/css/site.css`.
    pub file: String,
    /// The content (shared, never copied per request).
    pub body: Bytes,
    /// `Content-Type`, guessed from the extension.
    pub content_type: HeaderValue,
    /// Strong entity tag: the quoted hex SHA-256 of the content (first 128 bits).
    pub etag: HeaderValue,
    /// When the version was created (HTTP dates have whole seconds).
    pub last_modified: SystemTime,
}

/// The public files of one script version, by the request path that serves them.
#[derive(Debug, Clone, Default)]
pub struct PublicFiles {
    assets: HashMap<String, Arc<Asset>>,
}

fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        );
    let value = if textual && mime.get_param("charset").is_none() {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn etag(content: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(content);
    let tag = format!("\"{}\"", hex::encode(&digest[..16]));
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A unix time in milliseconds as a `SystemTime`, truncated to whole seconds.
pub fn time_of(unix_ms: i64) -> SystemTime {
    let secs = u64::try_from(unix_ms.max(0) / 1000).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl PublicFiles {
    /// The public files of `bundle`, last modified at `last_modified`.
    pub fn build(bundle: &Bundle, last_modified: SystemTime) -> PublicFiles {
        let mut assets = HashMap::new();
        for file in bundle.files() {
            let Some(rest) = file.path.strip_prefix(PUBLIC_DIR) else {
                continue;
            };
            let asset = Arc::new(Asset {
                file: file.path.clone(),
                body: Bytes::copy_from_slice(&file.content),
                content_type: content_type(rest),
                etag: etag(&file.content),
                last_modified,
            });
            if rest == "index.html" {
                assets.insert("/".to_owned(), asset.clone());
            } else if let Some(dir) = rest.strip_suffix("/index.html") {
                assets.insert(format!("/{dir}/"), asset.clone());
            }
            assets.insert(format!("/{rest}"), asset);
        }
        PublicFiles { assets }
    }

    /// The same files, last modified at `last_modified` (the committed version's time).
    pub fn at(&self, last_modified: SystemTime) -> PublicFiles {
        let assets = self
            .assets
            .iter()
            .map(|(path, asset)| {
                let asset = Asset {
                    last_modified,
                    ..Asset::clone(asset)
                };
                (path.clone(), Arc::new(asset))
            })
            .collect();
        PublicFiles { assets }
    }

    /// Every request path served, with its asset.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<Asset>)> {
        self.assets.iter()
    }

    /// Whether the version has no public files.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_types_say_utf8_and_others_do_not() {
        assert_eq!(content_type("a/site.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("logo.png"), "image/png");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }

    #[test]
    fn etags_are_quoted_content_hashes() {
        assert_eq!(etag(b"a"), etag(b"a"));
        assert_ne!(etag(b"a"), etag(b"b"));
        assert_eq!(etag(b"a").len(), 34);
    }
}
