//! Sheet look-up in the database, for the pipeline's [`SheetDirectory`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use model::layout::PageLayout;
use model::{Exam, SheetCode};
use pipeline::{BookletPageInfo, FrameIndex, PageFrame, SheetDirectory, SheetInfo};
use store::{Store, StoreError, TenantId};
use tokio::runtime::{Handle, Runtime};

/// The tenant's sheets, as the database knows them. The pipeline calls it from its worker
/// threads (never from the runtime's own), so blocking on the runtime here is fine.
pub struct StoreDirectory {
    rt: Blocker,
    store: Store,
    tenant: TenantId,
    exams: Mutex<HashMap<String, Arc<Exam>>>,
    frames: FrameIndex,
}

impl StoreDirectory {
    /// Loads the page layouts of the tenant's sheets (of one exam's when `exam` is given): the
    /// frames pages are aligned with, and the layout an unidentified page's marks are read with
    /// when every page of its frame shares one.
    pub async fn load(
        rt: Arc<Runtime>,
        store: Store,
        tenant: TenantId,
        exam: Option<&str>,
    ) -> Result<Self, StoreError> {
        Self::load_with(Blocker::Own(rt), store, tenant, exam).await
    }

    /// Like [`StoreDirectory::load`], for a service: look-ups block on `handle`, a multi-thread
    /// runtime's, from the blocking threads the pipeline runs in (`spawn_blocking`).
    pub async fn load_in(
        handle: Handle,
        store: Store,
        tenant: TenantId,
        exam: Option<&str>,
    ) -> Result<Self, StoreError> {
        Self::load_with(Blocker::Handle(handle), store, tenant, exam).await
    }

    async fn load_with(
        rt: Blocker,
        store: Store,
        tenant: TenantId,
        exam: Option<&str>,
    ) -> Result<Self, StoreError> {
        let mut frames = FrameIndex::default();
        for layout in store.layouts(&tenant, exam).await? {
            frames.add(&Arc::new(layout));
        }
        Ok(Self {
            rt,
            store,
            tenant,
            exams: Mutex::new(HashMap::new()),
            frames,
        })
    }

    fn exam(&self, exam_id: &str) -> Option<Arc<Exam>> {
        if let Some(exam) = self.exams.lock().ok()?.get(exam_id) {
            return Some(Arc::clone(exam));
        }
        let stored = self
            .rt
            .block_on(self.store.exam(&self.tenant, exam_id))
            .ok()??;
        let exam = Arc::new(stored.exam);
        self.exams
            .lock()
            .ok()?
            .insert(exam_id.to_string(), Arc::clone(&exam));
        Some(exam)
    }
}

/// What look-ups block on. The command line's own runtime is held, not a handle: a
/// current-thread runtime drives its I/O only through `Runtime::block_on`. A service's
/// multi-thread runtime drives its I/O on its workers, so a handle is enough there.
enum Blocker {
    Own(Arc<Runtime>),
    Handle(Handle),
}

impl Blocker {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Blocker::Own(rt) => rt.block_on(f),
            Blocker::Handle(h) => h.block_on(f),
        }
    }
}

impl SheetDirectory for StoreDirectory {
    fn lookup(&self, code: &SheetCode) -> Option<SheetInfo> {
        let sheet = match self.rt.block_on(self.store.sheet(&self.tenant, code)) {
            Ok(sheet) => sheet?,
            Err(e) => {
                match self.rt {
                    Blocker::Own(_) => eprintln!("grader: sheet look-up failed: {e}"),
                    Blocker::Handle(_) => tracing::warn!(error = %e, "sheet look-up failed"),
                }
                return None;
            }
        };
        Some(SheetInfo {
            code: sheet.code,
            exam: self.exam(&sheet.exam_id)?,
            version: sheet.version,
            student_id: sheet.student_id,
            sheet_page: sheet.sheet_page,
            layout: Arc::new(sheet.layout),
            booklet: BookletPageInfo::of(sheet.kind, sheet.booklet_page, sheet.answer_boxes),
        })
    }

    fn frames(&self) -> Vec<PageFrame> {
        self.frames.frames()
    }

    fn shared_layout(&self, frame: &PageFrame) -> Option<Arc<PageLayout>> {
        self.frames.shared_layout(frame)
    }
}
