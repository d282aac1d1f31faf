//! Google Cloud Storage as an [`ObjectStore`], with the official `google-cloud-storage` client.
//!
//! - **Where**: `gs://BUCKET[/PREFIX]` ([`GcsLocation::parse`]). The object name of key
//!   `TENANT/KIND/REST` is `PREFIX/KIND/TENANT/REST` ([`object_name`]): the kind comes first so
//!   that one lifecycle rule per kind (`matchesPrefix: ["PREFIX/scans/"]`) keeps scans, bundles
//!   and annotated images as long as each should be kept, whatever the tenants.
//! - **Credentials**: Application Default Credentials in production (on Cloud Run, the service
//!   account's). Against an emulator ([`GcsConfig::endpoint`]): that endpoint and anonymous
//!   credentials (the client does not read `STORAGE_EMULATOR_HOST`).
//! - **Streaming**: `put_file` uploads from the file (single-shot below the resumable threshold,
//!   resumable above it, never the whole file in memory); `read_range` yields the object's
//!   chunks as they arrive.
//! - **Signed URLs**: V4, signed by the ADC signer (on Cloud Run through IAM `signBlob`: the
//!   service account needs the Token Creator role on itself) or by a key given in the config.

#[cfg(feature = "emulator")]
pub mod emulator;
pub mod lifecycle;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use google_cloud_auth::signer::Signer;
use google_cloud_storage::builder::storage::SignedUrlBuilder;
use google_cloud_storage::client::Storage;
use google_cloud_storage::model_ext::ReadRange;
use store::objects::{
    BoxFuture, ListedObject, ObjectMeta, ObjectPage, ObjectReader, SignedMethod, check_key,
};
use store::{ObjectError, ObjectStore};

/// The longest a V4 signed URL may live (Cloud Storage refuses more than 7 days).
pub const MAX_SIGNED_URL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why the Cloud Storage backend could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GcsError {
    /// `GABARITO_STORAGE` is not `gs://BUCKET[/PREFIX]`.
    #[error(
        "{0:?} is not gs://BUCKET[/PREFIX] (a bucket name of 3 to 63 lower-case letters, digits, '-', '_' or '.'; a prefix of key segments)"
    )]
    Location(String),
    /// The client could not be built (credentials not found, a bad endpoint).
    #[error("cannot set up the Cloud Storage client: {0}")]
    Client(String),
}

/// A bucket, and the prefix every object name starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsLocation {
    /// The bucket's name (`my-bucket`).
    pub bucket: String,
    /// The prefix without slashes at either end (`""` for none).
    pub prefix: String,
}

impl GcsLocation {
    /// Parses `gs://BUCKET[/PREFIX]`; `None` when `spec` does not start with `gs://` (it is then
    /// a folder).
    pub fn parse(spec: &str) -> Option<Result<Self, GcsError>> {
        let rest = spec.strip_prefix("gs://")?;
        let bad = || GcsError::Location(spec.to_string());
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
            && bucket.as_bytes()[0].is_ascii_alphanumeric();
        if !bucket_ok || (!prefix.is_empty() && check_key(prefix).is_err()) {
            return Some(Err(bad()));
        }
        Some(Ok(Self {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }

    /// The bucket as the client names it: `projects/_/buckets/BUCKET`.
    pub fn bucket_path(&self) -> String {
        format!("projects/_/buckets/{}", self.bucket)
    }
}

impl std::fmt::Display for GcsLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "gs://{}", self.bucket)
        } else {
            write!(f, "gs://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The object name of `key` under `prefix`: `TENANT/KIND/REST` becomes `PREFIX/KIND/TENANT/REST`
/// (swapping the first two segments, so that a lifecycle rule matches a kind by prefix); a key
/// of fewer than three segments keeps its order.
pub fn object_name(prefix: &str, key: &str) -> String {
    let mut parts = key.splitn(3, '/');
    let swapped = match (parts.next(), parts.next(), parts.next()) {
        (Some(tenant), Some(kind), Some(rest)) => format!("{kind}/{tenant}/{rest}"),
        _ => key.to_string(),
    };
    if prefix.is_empty() {
        swapped
    } else {
        format!("{prefix}/{swapped}")
    }
}

/// The key of object `name`, the inverse of [`object_name`]; `None` for a name outside the
/// prefix or not a valid key.
pub fn key_of_object(prefix: &str, name: &str) -> Option<String> {
    let rest = if prefix.is_empty() {
        name
    } else {
        name.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let mut parts = rest.splitn(3, '/');
    let key = match (parts.next(), parts.next(), parts.next()) {
        (Some(kind), Some(tenant), Some(rest)) => format!("{tenant}/{kind}/{rest}"),
        _ => rest.to_string(),
    };
    check_key(&key).ok().map(|()| key)
}

/// How to reach Cloud Storage.
#[derive(Debug, Clone, Default)]
pub struct GcsConfig {
    /// An emulator's base URL (`GCS_ENDPOINT`, e.g. `http://127.0.0.1:4443`): anonymous
    /// credentials, and single-shot uploads whatever the size (fake-gcs-server's resumable
    /// sessions hang: the client leaves the port out of `Host`). `None` in production.
    pub endpoint: Option<String>,
    /// A service account key (JSON) to sign URLs with, instead of the ADC signer.
    pub signer_key: Option<serde_json::Value>,
}

/// Objects in a Cloud Storage bucket, under a prefix.
#[derive(Clone)]
pub struct GcsObjects {
    client: Storage,
    credentials: google_cloud_auth::credentials::Credentials,
    http: reqwest::Client,
    api_base: String,
    location: GcsLocation,
    bucket_path: String,
    endpoint: Option<String>,
    signer: Arc<tokio::sync::OnceCell<Result<Signer, String>>>,
    signer_key: Option<serde_json::Value>,
}

impl std::fmt::Debug for GcsObjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsObjects")
            .field("location", &self.location)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl GcsObjects {
    /// A client of `location`. Reaches no server yet: a wrong bucket or missing permission shows
    /// at the first call.
    pub async fn new(location: GcsLocation, config: GcsConfig) -> Result<Self, GcsError> {
        let credentials = match &config.endpoint {
            Some(_) => google_cloud_auth::credentials::anonymous::Builder::new().build(),
            None => google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|e| GcsError::Client(e.to_string()))?,
        };
        let mut builder = Storage::builder().with_credentials(credentials.clone());
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_resumable_upload_threshold(usize::MAX);
        }
        let client = builder
            .build()
            .await
            .map_err(|e| GcsError::Client(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| GcsError::Client(e.to_string()))?;
        Ok(Self {
            client,
            credentials,
            http,
            api_base: config
                .endpoint
                .as_deref()
                .unwrap_or("https://storage.googleapis.com")
                .trim_end_matches('/')
                .to_string(),
            bucket_path: location.bucket_path(),
            location,
            endpoint: config.endpoint,
            signer: Arc::new(tokio::sync::OnceCell::new()),
            signer_key: config.signer_key,
        })
    }

    /// The bucket and prefix.
    pub fn location(&self) -> &GcsLocation {
        &self.location
    }

    fn name(&self, key: &str) -> Result<String, ObjectError> {
        check_key(key)?;
        Ok(object_name(&self.location.prefix, key))
    }

    async fn signer(&self) -> Result<&Signer, ObjectError> {
        let signer = self
            .signer
            .get_or_init(|| async {
                let built = match &self.signer_key {
                    Some(key) => {
                        google_cloud_auth::credentials::service_account::Builder::new(key.clone())
                            .build_signer()
                    }
                    None => google_cloud_auth::credentials::Builder::default().build_signer(),
                };
                built.map_err(|e| e.to_string())
            })
            .await;
        signer.as_ref().map_err(|e| {
            ObjectError::Unsupported(format!(
                "cannot sign URLs: no credentials that can sign ({e}); on Cloud Run the service \
                 account needs roles/iam.serviceAccountTokenCreator on itself"
            ))
        })
    }
}

/// The fields of an object's JSON resource that [`GcsObjects::metadata`] reads (64-bit numbers
/// are strings in the JSON API).
#[derive(serde::Deserialize)]
struct ObjectResource {
    size: String,
    generation: String,
}

/// What is escaped of an object's name in a URL path segment: all but `A–Z a–z 0–9 - . _ ~`.
const OBJECT_NAME: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl GcsObjects {
    /// Size and generation from the JSON API's object resource (`GET /storage/v1/b/B/o/NAME`):
    /// the client library has no metadata call over HTTP (that is the gRPC control plane), and
    /// a ranged read's size header (`x-goog-stored-content-length`) is missing from emulators.
    async fn metadata(&self, key: &str) -> Result<ObjectMeta, ObjectError> {
        let name = self.name(key)?;
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?fields=size,generation",
            self.api_base,
            self.location.bucket,
            // One path segment: everything but RFC 3986's unreserved characters escaped, '/'
            // included.
            percent_encoding::utf8_percent_encode(&name, OBJECT_NAME)
        );
        let io = |e: String| ObjectError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        };
        let Some(body) = self.json_api_get(key, &url).await? else {
            return Err(ObjectError::NotFound(key.to_string()));
        };
        let resource: ObjectResource =
            serde_json::from_slice(&body).map_err(|e| io(format!("object resource: {e}")))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| io(format!("{v:?}: {e}")));
        Ok(ObjectMeta {
            len: number(&resource.size)?,
            generation: Some(
                i64::try_from(number(&resource.generation)?).map_err(|e| io(e.to_string()))?,
            ),
        })
    }

    /// A `GET` of the JSON API with the client's credentials: the body, `None` on 404 (errors
    /// name `key`).
    async fn json_api_get(&self, key: &str, url: &str) -> Result<Option<Bytes>, ObjectError> {
        let io = |e: String| ObjectError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        };
        let headers = match self.credentials.headers(http::Extensions::new()).await {
            Ok(google_cloud_auth::credentials::CacheableResource::New { data, .. }) => data,
            Ok(google_cloud_auth::credentials::CacheableResource::NotModified) => {
                http::HeaderMap::new()
            }
            Err(e) => return Err(io(format!("credentials: {e}"))),
        };
        let response = self
            .http
            .get(url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| io(e.to_string()))?;
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let body = response.bytes().await.map_err(|e| io(e.to_string()))?;
        if !status.is_success() {
            return Err(io(format!(
                "{status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        Ok(Some(body))
    }

    /// A page of the objects under the prefix, from the JSON API's paged listing
    /// (`GET /storage/v1/b/B/o?prefix=…&maxResults=…&pageToken=…`): like object metadata, the
    /// client library lists only over gRPC (the control plane), which emulators do not serve.
    async fn list_page(
        &self,
        page: Option<&str>,
        page_size: usize,
    ) -> Result<ObjectPage, ObjectError> {
        let prefix = if self.location.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.location.prefix)
        };
        let what = format!("listing {}", self.location);
        // Cloud Storage answers at most 1,000 objects a page.
        let size = page_size.clamp(1, 1000).to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("maxResults", size.as_str()),
            ("fields", "items(name,size),nextPageToken"),
        ];
        if !prefix.is_empty() {
            params.push(("prefix", prefix.as_str()));
        }
        if let Some(token) = page {
            params.push(("pageToken", token));
        }
        let url = reqwest::Url::parse_with_params(
            &format!("{}/storage/v1/b/{}/o", self.api_base, self.location.bucket),
            &params,
        )
        .map_err(|e| ObjectError::Io {
            key: what.clone(),
            source: std::io::Error::other(e),
        })?;
        let io = |e: String| ObjectError::Io {
            key: what.clone(),
            source: std::io::Error::other(e),
        };
        let Some(body) = self.json_api_get(&what, url.as_str()).await? else {
            return Err(io(format!("bucket {} not found", self.location.bucket)));
        };
        let listing: ObjectList =
            serde_json::from_slice(&body).map_err(|e| io(format!("object listing: {e}")))?;
        let mut objects = Vec::with_capacity(listing.items.len());
        for item in listing.items {
            let Some(name) = item.name.strip_prefix(&prefix) else {
                continue;
            };
            objects.push(ListedObject {
                key: key_of_object(&self.location.prefix, &item.name),
                name: name.to_string(),
                len: item
                    .size
                    .parse()
                    .map_err(|e| io(format!("size {:?}: {e}", item.size)))?,
            });
        }
        Ok(ObjectPage {
            objects,
            next: listing.next_page_token.filter(|t| !t.is_empty()),
        })
    }
}

/// The fields of a JSON API object listing that [`GcsObjects::list_page`] reads.
#[derive(serde::Deserialize)]
struct ObjectList {
    #[serde(default)]
    items: Vec<ListedItem>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct ListedItem {
    name: String,
    size: String,
}

/// CRC32C of a file's bytes, read in 1 MiB pieces.
async fn file_crc32c(path: &Path) -> std::io::Result<u32> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut crc = 0;
    loop {
        let n = file.read(&mut chunk).await?;
        if n == 0 {
            return Ok(crc);
        }
        crc = crc32c::crc32c_append(crc, &chunk[..n]);
    }
}

/// A client error as an [`ObjectError`]: 404 is [`ObjectError::NotFound`], the rest I/O.
fn gcs_error(key: &str, e: google_cloud_storage::Error) -> ObjectError {
    if e.http_status_code() == Some(404) {
        ObjectError::NotFound(key.to_string())
    } else {
        ObjectError::Io {
            key: key.to_string(),
            source: std::io::Error::other(e),
        }
    }
}

impl ObjectStore for GcsObjects {
    fn put<'a>(&'a self, key: &'a str, bytes: &'a [u8]) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(async move {
            let name = self.name(key)?;
            // Request-sized uploads (large files go through `put_file`): one copy to own them.
            self.client
                .write_object(&self.bucket_path, name, Bytes::copy_from_slice(bytes))
                .with_known_crc32c(crc32c::crc32c(bytes))
                .send_unbuffered()
                .await
                .map_err(|e| gcs_error(key, e))?;
            Ok(())
        })
    }

    fn put_file<'a>(
        &'a self,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(async move {
            let name = self.name(key)?;
            let io = |source| ObjectError::Io {
                key: key.to_string(),
                source,
            };
            // The checksum goes with the object's metadata, so Cloud Storage checks the whole
            // upload end to end (as the client does itself before a resumable upload: one more
            // pass over the file, never all of it in memory). Sent up front, it also keeps the
            // single-shot upload a plain two-part multipart, which emulators understand.
            let crc = file_crc32c(path).await.map_err(io)?;
            let file = tokio::fs::File::open(path).await.map_err(io)?;
            // The file is the payload: read in 256 KiB pieces as they are sent (seekable, so a
            // retried attempt starts again from the file, not from a copy in memory).
            self.client
                .write_object(&self.bucket_path, name, file)
                .with_known_crc32c(crc)
                .send_unbuffered()
                .await
                .map_err(|e| gcs_error(key, e))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ObjectError>> {
        Box::pin(async move {
            let name = self.name(key)?;
            let mut response = self
                .client
                .read_object(&self.bucket_path, name)
                .send()
                .await
                .map_err(|e| gcs_error(key, e))?;
            let mut out = Vec::with_capacity(
                usize::try_from(response.object().size.max(0)).unwrap_or_default(),
            );
            while let Some(chunk) = response.next().await {
                out.extend_from_slice(&chunk.map_err(|e| gcs_error(key, e))?);
            }
            Ok(out)
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, ObjectError>> {
        Box::pin(async move {
            match self.stat(key).await {
                Ok(_) => Ok(true),
                Err(ObjectError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn len<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<u64, ObjectError>> {
        Box::pin(async move { Ok(self.stat(key).await?.len) })
    }

    fn stat<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ObjectMeta, ObjectError>> {
        Box::pin(self.metadata(key))
    }

    fn read_range<'a>(
        &'a self,
        key: &'a str,
        range: Range<u64>,
    ) -> BoxFuture<'a, Result<ObjectReader, ObjectError>> {
        Box::pin(async move {
            let len = self.len(key).await?;
            if range.start > range.end || range.end > len {
                return Err(ObjectError::Range {
                    key: key.to_string(),
                    len,
                    start: range.start,
                    end: range.end,
                });
            }
            if range.start == range.end {
                let empty: ObjectReader = Box::pin(tokio::io::empty());
                return Ok(empty);
            }
            let name = self.name(key)?;
            let response = self
                .client
                .read_object(&self.bucket_path, name)
                .set_read_range(ReadRange::segment(range.start, range.end - range.start))
                .send()
                .await
                .map_err(|e| gcs_error(key, e))?;
            let owned_key = key.to_string();
            // `into_stream` needs the client's unstable feature; `next` is the stable way.
            let chunks = futures::stream::unfold(response, |mut r| async move {
                r.next().await.map(|chunk| (chunk, r))
            })
            .map(move |chunk| {
                chunk.map_err(|e| std::io::Error::other(format!("{owned_key}: {e}")))
            });
            let reader: ObjectReader = Box::pin(tokio_util::io::StreamReader::new(chunks));
            Ok(reader)
        })
    }

    fn signed_url<'a>(
        &'a self,
        key: &'a str,
        method: SignedMethod,
        expires: Duration,
    ) -> BoxFuture<'a, Result<String, ObjectError>> {
        Box::pin(async move {
            let name = self.name(key)?;
            let signer = self.signer().await?;
            let method = match method {
                SignedMethod::Get => http::Method::GET,
                SignedMethod::Put => http::Method::PUT,
            };
            let mut builder = SignedUrlBuilder::for_object(&self.bucket_path, name)
                .with_method(method)
                .with_expiration(expires.min(MAX_SIGNED_URL_LIFETIME));
            if let Some(endpoint) = &self.endpoint {
                builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
            }
            builder
                .sign_with(signer)
                .await
                .map_err(|e| ObjectError::Io {
                    key: key.to_string(),
                    source: std::io::Error::other(e),
                })
        })
    }

    fn describe(&self) -> String {
        self.location.to_string()
    }

    fn list<'a>(
        &'a self,
        page: Option<&'a str>,
        page_size: usize,
    ) -> BoxFuture<'a, Result<ObjectPage, ObjectError>> {
        Box::pin(self.list_page(page, page_size))
    }

    fn key_of(&self, bucket: &str, name: &str) -> Option<String> {
        (bucket == self.location.bucket)
            .then(|| key_of_object(&self.location.prefix, name))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert!(GcsLocation::parse("/srv/objects").is_none());
        let l = GcsLocation::parse("gs://my-bucket/a/b/")
            .expect("gs")
            .expect("ok");
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("my-bucket", "a/b"));
        assert_eq!(l.to_string(), "gs://my-bucket/a/b");
        let l = GcsLocation::parse("gs://my-bucket")
            .expect("gs")
            .expect("ok");
        assert_eq!(l.prefix, "");
        for bad in [
            "gs://",
            "gs://AB",
            "gs://b",
            "gs://ok-bucket/../x",
            "gs://ok bucket",
        ] {
            assert!(GcsLocation::parse(bad).expect("gs").is_err(), "{bad}");
        }
    }

    #[test]
    fn object_names_put_the_kind_first() {
        assert_eq!(
            object_name("p", "escola-a/scans/ab/abcd"),
            "p/scans/escola-a/ab/abcd"
        );
        assert_eq!(object_name("", "t/bundles/b.pdf"), "bundles/t/b.pdf");
        assert_eq!(object_name("p", "a/b"), "p/a/b");
        for key in [
            "escola-a/scans/ab/abcd",
            "t/bundles/x/bundle.pdf",
            "a/b",
            "a",
        ] {
            assert_eq!(
                key_of_object("p/q", &object_name("p/q", key)).as_deref(),
                Some(key)
            );
        }
        assert_eq!(key_of_object("p", "other/inbox/t/x.pdf"), None);
        assert_eq!(
            key_of_object("p", "p/inbox/t/x.pdf").as_deref(),
            Some("t/inbox/x.pdf")
        );
        assert_eq!(
            key_of_object("p", "p/inbox/t/Turma 3ºA – João.pdf").as_deref(),
            Some("t/inbox/Turma 3ºA – João.pdf")
        );
        assert_eq!(key_of_object("p", "p/inbox/t/a\nb.pdf"), None);
    }
}
