//! Models of a shared handle's many consumers: see the table in the
//! [module docs](super).

use super::block_on;
use crate::core::cell::{Caller, TaskSpec};
use crate::core::producer::new_task;
use crate::loom::model::model;

/// Two clones of a shared handle awaited on two threads while the producer
/// completes: each clone's own registration is woken (none is lost to the
/// other, as the cell's single waker would be), and both read the one
/// outcome, taken out of the cell once.
#[test]
fn shared_waiters_racing_completion() {
    model("shared_waiters_racing_completion")
        .exhaustive()
        .check(|| {
            let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
            let shared = handle.shared();
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let shared = shared.clone();
                    loom::thread::spawn(move || block_on(shared))
                })
                .collect();
            assert!(producer.complete(Ok(7)).is_ok());
            for waiter in waiters {
                assert_eq!(waiter.join().unwrap().unwrap(), 7);
            }
            assert_eq!(*shared.get().unwrap(), 7);
        });
}

/// Two threads reading a shared handle for the first time as it completes:
/// one takes the outcome out of the cell, the other borrows what it put
/// there (or waits on the lock for it); both borrow the same value.
#[test]
fn shared_first_readers_race() {
    model("shared_first_readers_race").exhaustive().check(|| {
        let (producer, handle) = new_task::<u32, ()>((), TaskSpec::default(), Caller::User);
        let shared = handle.shared();
        let reader = {
            let shared = shared.clone();
            loom::thread::spawn(move || {
                let value: &u32 = shared.get().unwrap();
                (*value, value as *const u32 as usize)
            })
        };
        assert!(producer.complete(Ok(3)).is_ok());
        let here: *const u32 = shared.get().unwrap();
        assert_eq!(reader.join().unwrap(), (3, here as usize));
    });
}
