//! [`PoolTag`]: the number that tells a pool's own tasks from others'.

/// A pool's tag: a number no other live pool has, so that a waiting worker
/// can tell its own pool's tasks (see `job.rs`, help). It fits in 16 bits
/// (it lives in the padding of every task's cell), so tags are reused: a
/// dropped pool gives its tag back, after its queue (and every task in it:
/// each is ended when its queue entry is dropped) is gone, so no pending
/// task with that tag is left. With 65,535 pools alive at once, the next
/// gets 0, and its workers never help.
pub(crate) struct PoolTag(u16);

/// The next tag never given, and the tags given back.
static TAGS: std::sync::Mutex<(u16, Vec<u16>)> = std::sync::Mutex::new((1, Vec::new()));

impl PoolTag {
    pub(super) fn new() -> PoolTag {
        let mut tags = TAGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, free) = &mut *tags;
        if let Some(tag) = free.pop() {
            PoolTag(tag)
        } else if *next != 0 {
            let tag = *next;
            *next = next.wrapping_add(1); // 0 after 65,535: no more
            PoolTag(tag)
        } else {
            PoolTag(0)
        }
    }

    pub(crate) fn get(&self) -> u16 {
        self.0
    }
}

impl Drop for PoolTag {
    fn drop(&mut self) {
        if self.0 != 0 {
            let mut tags = TAGS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            tags.1.push(self.0);
        }
    }
}
