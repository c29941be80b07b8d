//! What a worker's process pool runs for a cluster task: the named function
//! looked up by its name in the pool's worker process, over the task's
//! encoded arguments, as one ordinary named function of this crate's own
//! (so a worker needs nothing of the process pool but its public API).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::remote::RemoteFn;
use crate::remote::registry::{self, Outcome};

/// A cluster task as its worker hands it to its process pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Exec {
    pub(crate) name: String,
    pub(crate) args: Vec<ByteBuf>,
}

/// Runs in a worker process: each argument's outcome, in order (a panic is
/// caught by the function's trampoline, as in a process pool).
fn exec(call: Exec) -> Vec<Outcome> {
    match registry::lookup(&call.name) {
        Some(f) => call
            .args
            .iter()
            .map(|arg| registry::outcome(f, arg))
            .collect(),
        None => call
            .args
            .iter()
            .map(|_| Outcome::Unknown(call.name.clone()))
            .collect(),
    }
}

/// [`exec`] as a named function.
pub(crate) fn exec_fn() -> RemoteFn<Exec, Vec<Outcome>> {
    crate::remote!(exec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_is_each_arguments_outcome() {
        let out = exec(Exec {
            name: "nowhere".into(),
            args: vec![ByteBuf::new(), ByteBuf::new()],
        });
        assert!(
            matches!(&out[..], [Outcome::Unknown(a), Outcome::Unknown(b)] if a == "nowhere" && b == "nowhere")
        );
    }
}
