//! [`Dependencies`]: what a task submitted with
//! [`TaskBuilder::after`](super::options::TaskBuilder::after) can wait for,
//! and the shape of the values it then receives.
//!
//! Each kind of dependency is split into type-erased [`Watch`]es, one per
//! task, and an [`Assemble`] that puts the values back into shape (a
//! tuple, a `Vec`, an array, nested as the dependencies were) once every
//! watch has reported. The values travel as `Box<dyn Any + Send>` between
//! the two, and each is downcast by the part that boxed it, so the downcast
//! can't fail.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::core::handle::{SharedHandle, TaskHandle, Then};
use crate::error::TaskError;

/// One dependency's value, boxed.
pub(crate) type Value = Box<dyn Any + Send>;

/// The values of every dependency, in the order of [`Watch`]es.
pub(crate) type Values = std::vec::IntoIter<Value>;

/// Puts the values back into the shape of the dependencies.
pub(crate) type Assemble<O> = Box<dyn FnOnce(&mut Values) -> O + Send>;

/// What a [`Watch`] reports: the value, or the error that ends the
/// dependent (the dependency's, wrapped; or a panic of the value's `Clone`).
pub(crate) type Report = Box<dyn FnOnce(Result<Value, TaskError>) + Send>;

/// One dependency, type-erased.
pub(crate) trait Watch: Send {
    /// Calls `report` once, when the dependency has ended, on a thread that
    /// may run user code (the value's `Clone` runs there); at once, on this
    /// thread, if it has ended already.
    fn watch(self: Box<Self>, report: Report);
}

/// What a task can depend on: see
/// [`TaskBuilder::after`](crate::TaskBuilder::after). `Output` is what the
/// dependent task receives once they have all finished with a value.
///
/// | dependencies | `Output` | the value is |
/// |--------------|----------|--------------|
/// | [`TaskHandle<T>`] | `T` | moved out (no `Clone` needed; the handle is used up) |
/// | [`SharedHandle<T>`], `&SharedHandle<T>` | `T` | cloned (`T: Clone`), so one result feeds many dependents |
/// | a tuple `(A, B, ..)` of up to 6 dependencies | `(A::Output, B::Output, ..)` | each as its kind says |
/// | `Vec<D>` | `Vec<D::Output>` | in order; an empty `Vec` is ready at once |
/// | `[D; N]` | `[D::Output; N]` | in order |
/// | `()` | `()` | nothing: ready at once |
///
/// They nest: `(shared_config, Vec<TaskHandle<Row>>)` gives
/// `(Config, Vec<Row>)`. The handles may come from any executors and from
/// [`Promise`](crate::Promise)s.
///
/// The trait is sealed: the kinds above are the ones there are.
///
/// # Examples
///
/// ```
/// use futurepool::ThreadPool;
///
/// let pool = ThreadPool::new();
/// let base = pool.submit(|| 10).unwrap().shared();
/// let parts: Vec<_> = (1..=3).map(|i| pool.submit(move || i).unwrap()).collect();
/// let total = pool
///     .task()
///     .after((&base, parts))
///     .submit(|(base, parts): (i32, Vec<i32>)| base + parts.iter().sum::<i32>())
///     .unwrap();
/// assert_eq!(total.join().unwrap(), 16);
/// ```
pub trait Dependencies: sealed::Sealed + Sized {
    /// What the dependent task receives: the dependencies' values, in their
    /// shape.
    type Output: Send + 'static;
}

pub(crate) mod sealed {
    use super::{Assemble, Watch};

    /// Seals [`Dependencies`](super::Dependencies); its method is how the
    /// executor layer takes the dependencies apart. It takes crate-private
    /// types on purpose (the impls allow `private_interfaces`): nobody else
    /// can call or implement it.
    #[allow(private_interfaces)]
    pub trait Sealed {
        /// Pushes a watch per task onto `watches`, in order, and returns
        /// how to assemble their values.
        #[doc(hidden)]
        fn split(
            self,
            watches: &mut Vec<Box<dyn Watch>>,
        ) -> Assemble<<Self as super::Dependencies>::Output>
        where
            Self: super::Dependencies;
    }
}

/// Pushes `watch`, whose value is a `T`, and takes the value back out.
fn one<T: Send + 'static>(watch: Box<dyn Watch>, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<T> {
    watches.push(watch);
    Box::new(|values: &mut Values| {
        let value = values.next().expect("one value per watch");
        *value.downcast::<T>().expect("boxed by its own watch")
    })
}

// --- TaskHandle: the value moved out ------------------------------------

struct Owned<T>(TaskHandle<T>);

impl<T: Send + 'static> Watch for Owned<T> {
    fn watch(self: Box<Self>, report: Report) {
        // `Then` calls this where user code may run, after the task is done.
        let _ = Then::new(self.0, move |outcome: Result<T, TaskError>| {
            report(
                outcome
                    .map(|value| Box::new(value) as Value)
                    .map_err(TaskError::dependency_failed),
            );
        });
    }
}

#[allow(private_interfaces)]
impl<T: Send + 'static> sealed::Sealed for TaskHandle<T> {
    fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
        one(Box::new(Owned(self)), watches)
    }
}

impl<T: Send + 'static> Dependencies for TaskHandle<T> {
    type Output = T;
}

// --- SharedHandle: the value cloned -------------------------------------

struct Cloned<T>(SharedHandle<T>);

impl<T: Clone + Send + Sync + 'static> Watch for Cloned<T> {
    fn watch(self: Box<Self>, report: Report) {
        // A shared handle's callbacks run where user code may: the clone
        // runs there, and a panicking clone is this dependent's panic.
        self.0.add_done_callback(move |outcome| {
            report(match outcome {
                Ok(value) => panic::catch_unwind(AssertUnwindSafe(|| value.clone()))
                    .map(|value| Box::new(value) as Value)
                    .map_err(TaskError::panic),
                Err(err) => Err(TaskError::dependency_failed(err.duplicate())),
            });
        });
    }
}

#[allow(private_interfaces)]
impl<T: Clone + Send + Sync + 'static> sealed::Sealed for SharedHandle<T> {
    fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
        one(Box::new(Cloned(self)), watches)
    }
}

impl<T: Clone + Send + Sync + 'static> Dependencies for SharedHandle<T> {
    type Output = T;
}

#[allow(private_interfaces)]
impl<T: Clone + Send + Sync + 'static> sealed::Sealed for &SharedHandle<T> {
    fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
        one(Box::new(Cloned(self.clone())), watches)
    }
}

impl<T: Clone + Send + Sync + 'static> Dependencies for &SharedHandle<T> {
    type Output = T;
}

// --- Collections ----------------------------------------------------------

#[allow(private_interfaces)]
impl<D: Dependencies> sealed::Sealed for Vec<D> {
    fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
        let parts: Vec<Assemble<D::Output>> = self.into_iter().map(|d| d.split(watches)).collect();
        Box::new(move |values: &mut Values| parts.into_iter().map(|part| part(values)).collect())
    }
}

impl<D: Dependencies> Dependencies for Vec<D> {
    type Output = Vec<D::Output>;
}

#[allow(private_interfaces)]
impl<D: Dependencies, const N: usize> sealed::Sealed for [D; N] {
    fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
        let all = Vec::from(self).split(watches);
        Box::new(move |values: &mut Values| match all(values).try_into() {
            Ok(array) => array,
            Err(_) => unreachable!("N values for N dependencies"),
        })
    }
}

impl<D: Dependencies, const N: usize> Dependencies for [D; N] {
    type Output = [D::Output; N];
}

// --- Tuples ---------------------------------------------------------------

#[allow(private_interfaces)]
impl sealed::Sealed for () {
    fn split(self, _: &mut Vec<Box<dyn Watch>>) -> Assemble<()> {
        Box::new(|_: &mut Values| ())
    }
}

impl Dependencies for () {
    type Output = ();
}

/// A tuple of dependencies, each assembled in turn.
macro_rules! tuple {
    ($($d:ident $a:ident),+) => {
                #[allow(private_interfaces)]
        impl<$($d: Dependencies),+> sealed::Sealed for ($($d,)+) {
            fn split(self, watches: &mut Vec<Box<dyn Watch>>) -> Assemble<<Self as Dependencies>::Output> {
                #[allow(non_snake_case)]
                let ($($d,)+) = self;
                $(let $a = $d.split(watches);)+
                Box::new(move |values: &mut Values| ($($a(values),)+))
            }
        }

        impl<$($d: Dependencies),+> Dependencies for ($($d,)+) {
            type Output = ($($d::Output,)+);
        }
    };
}

tuple!(A a);
tuple!(A a, B b);
tuple!(A a, B b, C c);
tuple!(A a, B b, C c, D d);
tuple!(A a, B b, C c, D d, E e);
tuple!(A a, B b, C c, D d, E e, F f);
