//! A per-hub pool of idle stacks, so that spawning does not map memory.

use std::io;

use super::stack::Stack;

/// Idle stacks kept for reuse, at most this many. Stacks freed beyond it
/// are unmapped at once (their memory goes back to the kernel).
pub(crate) const POOL_HIGH_WATER: usize = 256;

/// Idle stacks of the hub's default size.
pub(crate) struct StackPool {
    size: usize,
    idle: Vec<Stack>,
}

impl StackPool {
    pub(crate) fn new(size: usize) -> StackPool {
        StackPool { size, idle: Vec::new() }
    }

    /// The default usable size of new stacks.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Changes the default size; idle stacks of the old size are unmapped.
    pub(crate) fn set_size(&mut self, size: usize) {
        if size != self.size {
            self.size = size;
            self.idle.clear();
        }
    }

    /// A stack of `size` usable bytes (already normalized).
    pub(crate) fn get(&mut self, size: usize) -> io::Result<Stack> {
        if size == self.size
            && let Some(stack) = self.idle.pop()
        {
            return Ok(stack);
        }
        Stack::new(size)
    }

    /// Takes back a stack on which no frame lives any more.
    pub(crate) fn put(&mut self, stack: Stack) {
        if stack.size() == self.size && self.idle.len() < POOL_HIGH_WATER {
            self.idle.push(stack);
        }
    }

    /// Idle stacks held now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.len()
    }
}
