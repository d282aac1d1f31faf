//! The contract every [`ObjectStore`] keeps, as a test suite any backend's tests run (feature
//! `contract`): the local folder's in `tests/objects_contract.rs`, Cloud Storage's against the
//! emulator in `shared/gcs/tests`. Test code: it panics on the first broken promise.

use tokio::io::AsyncReadExt;

use crate::objects::{ObjectError, ObjectStore, content_hash, content_hash_of_file};
use crate::{TenantId, scan_object_key};

/// Runs every check on `objects`, with keys under tenant `tenant` (use a fresh one per run when
/// the storage is shared).
pub async fn run_all(objects: &dyn ObjectStore, tenant: &str) {
    round_trip(objects, tenant).await;
    ranges(objects, tenant).await;
    missing(objects, tenant).await;
    bad_keys(objects).await;
    names_as_people_write_them(objects, tenant).await;
    files_stream_in(objects, tenant).await;
    listing(objects, tenant).await;
}

/// Put, overwrite, get, exists, len, stat.
pub async fn round_trip(objects: &dyn ObjectStore, tenant: &str) {
    let t = TenantId::new(tenant).expect("tenant");
    let key = scan_object_key(&t, &content_hash(b"x"));
    assert!(!objects.exists(&key).await.expect("exists"));
    objects.put(&key, b"x").await.expect("put");
    objects.put(&key, b"x").await.expect("put again");
    assert!(objects.exists(&key).await.expect("exists"));
    assert_eq!(objects.get(&key).await.expect("get"), b"x");
    let other = format!("{tenant}/bundles/b1/bundle.pdf");
    objects.put(&other, b"first").await.expect("put");
    let first = objects.stat(&other).await.expect("stat");
    objects
        .put(&other, b"second, longer")
        .await
        .expect("overwrite");
    assert_eq!(objects.get(&other).await.expect("get"), b"second, longer");
    let second = objects.stat(&other).await.expect("stat");
    assert_eq!((first.len, second.len), (5, 14));
    assert_eq!(objects.len(&other).await.expect("len"), 14);
    // Where generations exist, a write makes a new one.
    if let (Some(a), Some(b)) = (first.generation, second.generation) {
        assert_ne!(a, b, "a rewrite keeps its generation");
    }
    objects
        .put(&format!("{tenant}/empty/e"), b"")
        .await
        .expect("empty");
    assert_eq!(
        objects
            .get(&format!("{tenant}/empty/e"))
            .await
            .expect("get"),
        b""
    );
    assert_eq!(
        objects
            .len(&format!("{tenant}/empty/e"))
            .await
            .expect("len"),
        0
    );
}

/// Byte ranges: exact bytes, empty ranges, refusals past the end or reversed.
pub async fn ranges(objects: &dyn ObjectStore, tenant: &str) {
    let key = format!("{tenant}/bundles/b.pdf");
    let bytes: Vec<u8> = (0..=255).collect();
    objects.put(&key, &bytes).await.expect("put");
    assert_eq!(objects.len(&key).await.expect("len"), 256);
    for range in [0..256, 10..20, 255..256, 7..7, 0..1] {
        let mut read = Vec::new();
        objects
            .read_range(&key, range.clone())
            .await
            .expect("range")
            .read_to_end(&mut read)
            .await
            .expect("read");
        assert_eq!(read, bytes[range.start as usize..range.end as usize]);
    }
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = 20..10;
    for bad in [0..257, 300..301, reversed] {
        assert!(matches!(
            objects.read_range(&key, bad).await,
            Err(ObjectError::Range { len: 256, .. })
        ));
    }
}

/// A missing key is `NotFound` to every read.
pub async fn missing(objects: &dyn ObjectStore, tenant: &str) {
    let key = format!("{tenant}/bundles/none");
    assert!(!objects.exists(&key).await.expect("exists"));
    assert!(matches!(
        objects.get(&key).await,
        Err(ObjectError::NotFound(_))
    ));
    assert!(matches!(
        objects.len(&key).await,
        Err(ObjectError::NotFound(_))
    ));
    assert!(matches!(
        objects.stat(&key).await,
        Err(ObjectError::NotFound(_))
    ));
    assert!(matches!(
        objects.read_range(&key, 0..1).await,
        Err(ObjectError::NotFound(_))
    ));
}

/// Keys that could escape a folder or are not names are refused by every backend alike.
pub async fn bad_keys(objects: &dyn ObjectStore) {
    for bad in ["", "/a", "a//b", "../a", "a/../b", "a\\b", "a\nb"] {
        assert!(
            matches!(objects.put(bad, b"x").await, Err(ObjectError::Key(_))),
            "{bad:?}"
        );
        assert!(
            matches!(objects.get(bad).await, Err(ObjectError::Key(_))),
            "{bad:?}"
        );
    }
}

/// A name as a scanning station writes it (spaces, accents, `#`, `%`, `+`, parentheses) is
/// stored, read and listed under exactly that name, and its listed key reads it.
pub async fn names_as_people_write_them(objects: &dyn ObjectStore, tenant: &str) {
    let key = format!("{tenant}/lote 7/Turma 3ºA – João #12 (100%) + ç.jpg");
    objects.put(&key, b"scan").await.expect("put");
    assert_eq!(objects.get(&key).await.expect("get"), b"scan");
    assert_eq!(objects.len(&key).await.expect("len"), 4);
    let mut token: Option<String> = None;
    let mut found = None;
    for _ in 0..1000 {
        let page = objects.list(token.as_deref(), 1000).await.expect("list");
        found = found.or_else(|| {
            page.objects
                .into_iter()
                .find(|o| o.name.ends_with("#12 (100%) + ç.jpg"))
        });
        match page.next {
            Some(next) if found.is_none() => token = Some(next),
            _ => break,
        }
    }
    let listed = found.expect("the object is listed");
    assert_eq!(listed.key.as_deref(), Some(key.as_str()), "{listed:?}");
    assert_eq!(
        objects.get(&key).await.expect("get by the listed key"),
        b"scan"
    );
}

/// `put_file` stores a file (3 MiB and a bit, so that readers and writers go through many
/// buffers) byte for byte.
pub async fn files_stream_in(objects: &dyn ObjectStore, tenant: &str) {
    let dir = tempfile_dir();
    let path = dir.join("big.pdf");
    let len = 3 * 1024 * 1024 + 12_345;
    let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &bytes).expect("write");
    let key = format!("{tenant}/bundles/big/bundle.pdf");
    objects.put_file(&key, &path).await.expect("put_file");
    assert_eq!(objects.len(&key).await.expect("len"), len as u64);
    let mut read = Vec::new();
    objects
        .read_range(&key, 0..len as u64)
        .await
        .expect("range")
        .read_to_end(&mut read)
        .await
        .expect("read");
    assert_eq!(
        content_hash(&read),
        content_hash_of_file(&path).expect("hash")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gabarito-objects-contract-{}-{}",
        std::process::id(),
        rand::RngExt::random_range(&mut rand::rng(), 0..u64::MAX)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Listing in pages: more objects than one page, each listed once, in the same order on every
/// call, named as they were put, with their sizes, and readable by the keys listed.
pub async fn listing(objects: &dyn ObjectStore, tenant: &str) {
    // Names that sort differently segment by segment and as whole strings ('-' and '.' come
    // before '/'), in two folders and at two depths.
    let mut put = Vec::new();
    for i in 0..23 {
        let key = match i % 3 {
            0 => format!("{tenant}/inbox/tray-{}/s{i:02}.jpg", i % 2),
            1 => format!("{tenant}/inbox/tray-{}.d/s{i:02}.jpg", i % 2),
            _ => format!("{tenant}/inbox/s{i:02}.jpg"),
        };
        objects
            .put(&key, format!("scan {i}").as_bytes())
            .await
            .expect("put");
        put.push(key);
    }
    let mut pages = 0;
    let mut seen: Vec<(String, String, u64)> = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = objects.list(token.as_deref(), 5).await.expect("list");
        assert!(page.objects.len() <= 5, "a page of {}", page.objects.len());
        pages += 1;
        for o in page.objects {
            let key = o.key.clone().expect("a key put is a key listed");
            seen.push((o.name, key, o.len));
        }
        match page.next {
            Some(next) => token = Some(next),
            None => break,
        }
        assert!(pages < 1000, "the listing does not end");
    }
    let ours: Vec<&(String, String, u64)> = seen
        .iter()
        .filter(|(_, key, _)| put.contains(key))
        .collect();
    assert_eq!(ours.len(), put.len(), "each object listed once: {seen:?}");
    assert!(pages > 1, "more objects than one page");
    let mut names: Vec<&str> = seen.iter().map(|(n, _, _)| n.as_str()).collect();
    let listed = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), listed, "no object twice: {seen:?}");
    for (_, key, len) in &ours {
        let bytes = objects.get(key).await.expect("get by the listed key");
        assert_eq!(bytes.len() as u64, *len);
        assert!(bytes.starts_with(b"scan "));
    }
    // The same order again, and from a token on, the rest of it.
    let first = objects.list(None, 1000).await.expect("list");
    let all: Vec<&str> = first.objects.iter().map(|o| o.name.as_str()).collect();
    let order: Vec<&str> = seen.iter().map(|(n, _, _)| n.as_str()).collect();
    if first.next.is_none() {
        assert_eq!(all, order, "one order");
    }
}
