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

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_is_stable_within_a_process() {
        let a = super::default_build();
        assert_eq!(a, super::default_build());
        assert_eq!(a.len(), 33);
    }
}
