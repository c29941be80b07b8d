//! What a worker's process pool runs for a cluster task: the named function
//! looked up by its name in the pool's worker process, over the task's
//! encoded arguments, as one ordinary named function of this crate's own
//! (so a worker needs nothing of the process pool but its public API).

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::remote::RemoteFn;
use crate::remote::registry::{self, Outcome};
use crate::remote::scattered::{self, Resolver};
use std::rc::Rc;

/// A cluster task as its worker hands it to its process pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Exec {
    pub(crate) name: String,
    pub(crate) args: Vec<ByteBuf>,
    /// The worker's directory of scattered objects, if the arguments name
    /// any (a file per object, named after it).
    pub(crate) objects: Option<String>,
}

/// Runs in a worker process: each argument's outcome, in order (a panic is
/// caught by the function's trampoline, as in a process pool).
fn exec(call: Exec) -> Vec<Outcome> {
    match &call.objects {
        None => run(&call),
        Some(dir) => {
            let dir = std::path::PathBuf::from(dir);
            // `Scattered` arguments read their objects here, in the process
            // where they are decoded (user code).
            let resolver: Resolver = Rc::new(move |name: &str| {
                let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
                if name.is_empty() || !name.chars().all(plain) {
                    return Err(format!("{name:?} is not the name of a scattered object"));
                }
                std::fs::read(dir.join(name)).map_err(|err| {
                    format!("scattered object {name} is not in this worker's copies: {err}")
                })
            });
            scattered::resolving(resolver, || run(&call))
        }
    }
}

fn run(call: &Exec) -> Vec<Outcome> {
    match registry::lookup(&call.name) {
        Some(f) => call
            .args
            .iter()
            .map(|arg| match registry::outcome(f, arg) {
                // An argument whose scattered object couldn't be read says
                // so (postcard's errors carry no message).
                Outcome::ArgError(msg) => match scattered::take_error() {
                    Some(why) => Outcome::ArgError(format!("{msg}: {why}")),
                    None => Outcome::ArgError(msg),
                },
                other => other,
            })
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
            objects: None,
        });
        assert!(
            matches!(&out[..], [Outcome::Unknown(a), Outcome::Unknown(b)] if a == "nowhere" && b == "nowhere")
        );
    }
}
