//! What a user sees when `remote!` is given a closure that captures a local:
//! errors that point at their code and state the rule, never a suggestion
//! inside the macro's expansion ("consider using `let` instead of
//! `static`", as it once was).
//!
//! `compile_fail` doctests (in `src/compile_fail.rs`) pin *that* it doesn't
//! compile; this pins *what rustc says*. It compiles small programs against
//! the futurepool library this test was built with (found beside the test
//! binary), with `rustc --emit=metadata`: type-checked, never linked.

#![cfg(feature = "process")]
#![allow(missing_docs)]

use std::path::PathBuf;
use std::process::Command;

/// The name of the helper the macro passes the function through: it is in
/// the E0308 error, and it is how the right library file is recognised.
const RULE: &str = "remote_takes_a_function_or_a_closure_that_captures_nothing";

/// The `libfuturepool-*.rlib` beside this test binary that has the process
/// pool (other builds of the library, without the feature, may be there
/// too), the newest if several do.
fn library() -> (PathBuf, PathBuf) {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("libfuturepool-") && name.ends_with(".rlib")
        })
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            bytes.windows(RULE.len()).any(|w| w == RULE.as_bytes())
        })
        .map(|path| (path.metadata().unwrap().modified().unwrap(), path))
        .collect();
    found.sort();
    let (_, rlib) = found
        .pop()
        .unwrap_or_else(|| panic!("no libfuturepool rlib with the process pool in {deps:?}"));
    (rlib, deps)
}

/// Type-checks `main.rs` = `source` against futurepool; returns whether it
/// compiled, and rustc's messages.
fn check(name: &str, source: &str) -> (bool, String) {
    let (rlib, deps) = library();
    let dir = std::env::temp_dir().join(format!(
        "futurepool-diagnostics-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let main = dir.join("main.rs");
    std::fs::write(&main, source).unwrap();
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        // From the package's root, as cargo compiled the library: rustc
        // then finds its sources and quotes the helper's signature.
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "--emit=metadata",
        ])
        .args(["--color", "never", "--error-format", "human"])
        .arg("--extern")
        .arg(format!("futurepool={}", rlib.display()))
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--out-dir")
        .arg(&dir)
        .arg(&main)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closure_that_captures_nothing_compiles() {
    // The control: the set-up (library, dependencies, rustc) works.
    let (ok, stderr) = check(
        "control",
        "fn main() {\n    let f = futurepool::remote!(|(x, offset): (u64, u64)| x + offset);\n    \
         let _ = f;\n}\n",
    );
    assert!(ok, "{stderr}");
}

#[test]
fn a_capturing_closure_is_refused_at_the_capture_with_the_rule() {
    let (ok, stderr) = check(
        "capture",
        "fn main() {\n    let offset = 3_u64;\n    \
         let f = futurepool::remote!(|x: u64| x + offset);\n    let _ = f;\n}\n",
    );
    assert!(!ok, "a capturing closure compiled");
    // First error: at the captured variable, in the user's file, with a
    // suggestion about the user's `let`.
    let first = stderr.split("\n\n").next().unwrap();
    assert!(first.contains("error[E0435]"), "{stderr}");
    assert!(first.contains("/main.rs:3:46\n"), "{stderr}");
    assert!(
        first.contains("consider using `const` instead of `let`"),
        "{stderr}"
    );
    // Second: the rule, by the helper's name and rustc's note.
    assert!(stderr.contains("error[E0308]"), "{stderr}");
    assert!(stderr.contains(RULE), "{stderr}");
    assert!(
        stderr.contains(
            "closures can only be coerced to `fn` types if they do not capture any variables"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("`offset` captured here"), "{stderr}");
    // Nothing suggests editing the macro's expansion.
    assert!(!stderr.contains("instead of `static`"), "{stderr}");
    assert!(!stderr.contains("__FUTUREPOOL_REMOTE"), "{stderr}");
}
