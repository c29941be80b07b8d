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
