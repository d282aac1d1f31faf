//! The object-storage contract (`store::objects_contract`) on the local folder; the Cloud
//! Storage backend runs the same suite against the emulator (`shared/gcs/tests`).

#[tokio::test]
async fn the_local_folder_keeps_the_object_storage_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let objects = store::LocalObjects::new(dir.path());
    store::objects_contract::run_all(&objects, "escola-a").await;
}
