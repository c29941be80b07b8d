//! The build identity every cluster message carries: by default, a digest
//! of the registered functions' names and of the running executable's
//! contents, so two machines running copies of the same binary agree and a
//! rebuilt binary doesn't. Configurable (a version string, a commit).

use crate::loom::sync::OnceLock;
use crate::remote::registry;

/// This binary's default build identity, computed once (it reads the
/// executable: tens of milliseconds for a large one).
pub(crate) fn default_build() -> String {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let exe = std::env::current_exe()
                .and_then(std::fs::read)
                .map(|bytes| registry::hash_bytes(0, &bytes))
                .unwrap_or(0);
            format!("{:016x}-{exe:016x}", registry::digest())
        })
        .clone()
}

/// A build identity as one subject token (16 hex digits of its hash): its
/// work queue is `<prefix>.tasks.<token>`, its consumer `workers-<token>`.
pub(crate) fn token(build: &str) -> String {
    format!("{:016x}", registry::hash_bytes(0, build.as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_token_is_one_subject_token_per_build() {
        let t = super::token("v1.2.3");
        assert_eq!(t.len(), 16);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(t, super::token("v1.2.3"));
        assert_ne!(t, super::token("v1.2.4"));
    }

    #[test]
    fn the_default_is_stable_within_a_process() {
        let a = super::default_build();
        assert_eq!(a, super::default_build());
        assert_eq!(a.len(), 33);
    }
}
