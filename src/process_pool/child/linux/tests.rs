//! A worker process's mailbox, end to end: small frames pass through it
//! while the other side looks, and a request posted there that a dying
//! worker never took counts as never delivered.

use super::WorkerProcess;
use crate::process_pool::ProcessPool;
use crate::process_pool::child::CallError;
use crate::process_pool::protocol::{self, Outcome, Reply, Request};

fn double(x: u64) -> u64 {
    x * 2
}

/// A request frame calling `double` on `x`.
fn call_double(x: u64) -> Vec<u8> {
    let name = crate::remote!(double).name().to_owned();
    let arg = protocol::encode(&x).unwrap();
    protocol::frame(&[], &Request::Call { name, arg }).unwrap()
}

fn value(reply: Reply) -> u64 {
    match reply {
        Reply::One(Outcome::Value(value)) => value.decode().unwrap(),
        other => panic!("not a value: {other:?}"),
    }
}

/// A worker started the way a pool starts them.
fn worker() -> (ProcessPool, WorkerProcess) {
    let pool = ProcessPool::builder().max_workers(1).build().unwrap();
    let proc = WorkerProcess::start(&pool.shared().config).unwrap_or_else(|_| panic!("a worker"));
    (pool, proc)
}

#[test]
fn replies_to_quick_calls_come_through_the_mailbox() {
    let (_pool, mut proc) = worker();
    assert!(proc.mailbox().is_some(), "the worker opened its mailbox");
    for x in 0..500 {
        let reply = proc
            .call(&call_double(x))
            .unwrap_or_else(|_| panic!("call {x}"));
        assert_eq!(value(reply), 2 * x);
    }
    // Each reply came one way or the other (all 500 are right); quick ones
    // through the mailbox, whatever the machine's load (a look yields the
    // CPU to the worker if it shares it).
    let taken = proc.mailbox().unwrap().replies_taken;
    assert!(taken > 0, "no reply came through the mailbox");
    proc.kill();
}

#[test]
fn a_request_posted_to_a_worker_that_dies_before_taking_it_was_never_delivered() {
    let (_pool, mut proc) = worker();
    assert_eq!(value(proc.call(&call_double(1)).ok().unwrap()), 2);
    // Wait for the worker to stop looking and sleep on its pipe: it then
    // can't take what is posted. Then pretend it looks, so that the
    // request is posted into the mailbox rather than written to the pipe.
    let mailbox = proc.mailbox().unwrap();
    while !mailbox.worker_asleep() {
        std::thread::yield_now();
    }
    mailbox.expect_request();
    proc.send(&call_double(2))
        .unwrap_or_else(|_| panic!("posted"));
    // SAFETY: `kill` takes plain integers; the pid is our unreaped child.
    unsafe {
        libc::kill(proc.pid as libc::pid_t, libc::SIGKILL);
    }
    assert!(matches!(proc.receive(None), Err(CallError::Undelivered)));
    proc.kill();
}

#[test]
fn a_request_written_to_the_pipe_of_a_worker_that_dies_may_have_run() {
    let (_pool, mut proc) = worker();
    assert_eq!(value(proc.call(&call_double(1)).ok().unwrap()), 2);
    // The worker sleeps on its pipe: the request goes there, and once the
    // pipe took it nobody can say whether the worker read it.
    while !proc.mailbox().unwrap().worker_asleep() {
        std::thread::yield_now();
    }
    proc.send(&call_double(2))
        .unwrap_or_else(|_| panic!("sent"));
    assert!(!proc.mailbox().unwrap().request_untaken());
    // SAFETY: `kill` takes plain integers; the pid is our unreaped child.
    unsafe {
        libc::kill(proc.pid as libc::pid_t, libc::SIGKILL);
    }
    // Its reply, if it was quick enough, or its death.
    match proc.receive(None) {
        Ok(reply) => assert_eq!(value(reply), 4),
        Err(err) => assert!(matches!(err, CallError::Died)),
    }
    proc.kill();
}
