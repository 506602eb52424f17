//! [`GreenPool::imap`] and [`GreenPool::starmap`]: lazy, ordered,
//! bounded-memory parallel maps.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use super::GreenPool;
use crate::{Error, GreenThread};

/// A function called with the elements of a tuple as its arguments, as
/// Python's `starmap` unpacks them: implemented for every `Fn` of one to
/// six arguments, with `Args` the tuple of their types.
///
/// ```
/// use guv::pool::StarFn;
/// let add = |a: i32, b: i32| a + b;
/// assert_eq!(add.call_star((2, 3)), 5);
/// ```
pub trait StarFn<Args> {
    /// What the function returns.
    type Output;
    /// Calls the function with the tuple's elements as arguments.
    fn call_star(&self, args: Args) -> Self::Output;
}

macro_rules! star_fn {
    ($($arg:ident)+) => {
        impl<Func, Ret, $($arg),+> StarFn<($($arg,)+)> for Func
        where
            Func: Fn($($arg),+) -> Ret,
        {
            type Output = Ret;
            #[allow(non_snake_case)]
            fn call_star(&self, ($($arg,)+): ($($arg,)+)) -> Ret {
                self($($arg),+)
            }
        }
    };
}

star_fn!(A);
star_fn!(A B);
star_fn!(A B C);
star_fn!(A B C D);
star_fn!(A B C D E);
star_fn!(A B C D E G);

/// The iterator of [`GreenPool::imap`]: results in input order, with at
/// most the pool's size of calls in flight.
///
/// ```
/// let pool = guv::GreenPool::new(3);
/// let squares: Vec<u32> = pool.imap(|x: u32| x * x, 1..=5).map(Result::unwrap).collect();
/// assert_eq!(squares, [1, 4, 9, 16, 25]);
/// ```
pub struct Imap<I: Iterator, F, R> {
    pool: GreenPool,
    input: I,
    f: Rc<F>,
    in_flight: VecDeque<GreenThread<R>>,
    /// The input item of the call being started, shared with its closure
    /// until `spawn` returns: a caller killed or timed out while `spawn`
    /// waits for a slot (the pool is shared) keeps it for the next call.
    starting: Option<Rc<Cell<Option<I::Item>>>>,
    exhausted: bool,
}

impl<I: Iterator, F, R> fmt::Debug for Imap<I, F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap").field("in_flight", &self.in_flight.len()).finish()
    }
}

impl<I, F, R> Iterator for Imap<I, F, R>
where
    I: Iterator,
    I::Item: 'static,
    F: Fn(I::Item) -> R + 'static,
    R: 'static,
{
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let window = self.pool.size().max(1);
        while !self.exhausted && self.in_flight.len() < window {
            let held = self.starting.take().and_then(|cell| cell.take());
            let Some(arg) = held.or_else(|| self.input.next()) else {
                self.exhausted = true;
                break;
            };
            let cell = Rc::new(Cell::new(Some(arg)));
            self.starting = Some(cell.clone());
            let f = self.f.clone();
            let gt = self.pool.spawn(move || f(cell.take().expect("guv internal error: an imap item was taken twice")));
            self.starting = None;
            self.in_flight.push_back(gt);
        }
        // Waiting by reference: a caller killed or timed out here leaves
        // the result in flight, for the next call.
        self.in_flight.front()?.wait_ended(None);
        self.in_flight.pop_front().map(GreenThread::wait)
    }
}

impl GreenPool {
    /// Calls `f` on every item of `input` in the pool's greenlets and
    /// yields the results in input order, lazily: nothing starts before the
    /// first `next`, and at most [`size`](GreenPool::size) calls are in
    /// flight, so memory stays bounded however long the input. A call that
    /// panics yields `Err` at its place. Dropping the iterator leaves the
    /// calls in flight running.
    ///
    /// ```
    /// let pool = guv::GreenPool::new(4);
    /// let squares: Vec<u64> = pool.imap(|x: u64| x * x, 0..10).map(Result::unwrap).collect();
    /// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
    /// ```
    pub fn imap<I, F, R>(&self, f: F, input: I) -> Imap<I::IntoIter, F, R>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: Fn(I::Item) -> R + 'static,
        R: 'static,
    {
        Imap {
            pool: self.clone(),
            input: input.into_iter(),
            f: Rc::new(f),
            in_flight: VecDeque::new(),
            starting: None,
            exhausted: false,
        }
    }

    /// Like [`imap`](GreenPool::imap) for a function of several arguments:
    /// each input item is a tuple of the arguments (Python's `starmap`).
    ///
    /// ```
    /// let pool = guv::GreenPool::new(2);
    /// let sums: Vec<i32> = pool
    ///     .starmap(|a: i32, b: i32| a + b, [(1, 2), (3, 4)])
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(sums, [3, 7]);
    /// ```
    pub fn starmap<I, F>(&self, f: F, input: I) -> Imap<I::IntoIter, impl Fn(I::Item) -> F::Output + 'static, F::Output>
    where
        I: IntoIterator,
        I::Item: 'static,
        F: StarFn<I::Item> + 'static,
        F::Output: 'static,
    {
        self.imap(move |args| f.call_star(args), input)
    }
}
