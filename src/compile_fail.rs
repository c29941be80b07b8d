//! What must not compile, pinned by `compile_fail` doctests (in the manner of
//! rayon-core's `src/compile_fail/`). Compiled only for doctests. Each block
//! names the error it expects; stable rustdoc doesn't check the code, so the
//! blocks are kept minimal, to fail for that reason only.
//!
//! A closure that isn't `Send` can't be submitted: it would run on another
//! thread.
//!
//! ```compile_fail,E0277
//! use futurepool::ThreadPool;
//! use std::rc::Rc;
//!
//! let pool = ThreadPool::new();
//! let shared = Rc::new(5);
//! let _ = pool.submit(move || *shared);
//! ```
//!
//! Nor can a task hand back a value that isn't `Send`.
//!
//! ```compile_fail,E0277
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let _ = pool.submit(|| std::rc::Rc::new(5));
//! ```
//!
//! A borrowed local can't escape into a task: the task may outlive it.
//!
//! ```compile_fail,E0373
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let local = vec![1, 2, 3];
//! let _ = pool.submit(|| local.len());
//! ```
//!
//! ```compile_fail,E0597
//! use futurepool::ThreadPool;
//!
//! let pool = ThreadPool::new();
//! let local = vec![1, 2, 3];
//! let borrowed: &Vec<i32> = &local;
//! let _ = pool.map(move |i: usize| borrowed[i], 0..3).count();
//! ```

/// A closure given to `remote!` can't capture anything: it runs in another
/// process, where the captured variable doesn't exist. (The error codes are
/// E0435 at the captured variable, then E0308 naming the rule.)
///
/// ```compile_fail,E0435,E0308
/// let offset = 1_u64;
/// let _ = futurepool::remote!(|x: u64| x + offset);
/// ```
///
/// Nor can a closure stored in a variable first: the macro registers code,
/// not a value.
///
/// ```compile_fail,E0435
/// let add_one = |x: u64| x + 1;
/// let _ = futurepool::remote!(add_one);
/// ```
#[cfg(feature = "process")]
mod remote {}
