//! What `as_completed` and `wait` will need of a shared handle, checked
//! through the core's own ready-queue (`TaskRef` is sealed in
//! `src/wait/set.rs`; its impls for shared handles return
//! [`SharedHandle::as_completion`]).

use crate::core::promise::Promise;
use crate::core::watch::{Notify, Watcher};
use crate::loom::sync::Arc;

#[test]
fn a_shared_handle_is_watched_like_its_task() {
    let (promise, handle) = Promise::<String>::new();
    let shared = handle.shared();
    let clone = shared.clone();
    let completion = shared.as_completion();
    assert_eq!(completion.done_status(), None);
    assert_eq!(
        completion.identity(),
        clone.as_completion().identity(),
        "clones are one task: given twice, counted once"
    );
    let notify = Arc::new(Notify::default());
    let watcher = Watcher {
        id: 1,
        notify: notify.clone(),
        index: 4,
    };
    assert_eq!(completion.watch(watcher), None, "registered");
    promise.set(String::from("x")).unwrap();
    assert_eq!(notify.pop_deadline(None), Some(4));
    assert_eq!(completion.done_status(), Some(false));
    assert_eq!(shared.get().unwrap(), "x");
}

#[test]
fn a_failed_shared_task_is_an_exception_and_unwatching_works() {
    let (promise, handle) = Promise::<u8>::new();
    let shared = handle.shared();
    let notify = Arc::new(Notify::default());
    let watcher = Watcher {
        id: 2,
        notify: notify.clone(),
        index: 0,
    };
    assert_eq!(shared.as_completion().watch(watcher), None);
    shared.as_completion().unwatch(2);
    promise.fail("nope").unwrap();
    assert_eq!(
        notify.pop_deadline(Some(std::time::Instant::now())),
        None,
        "unwatched: not told"
    );
    assert_eq!(shared.as_completion().done_status(), Some(true));
}
