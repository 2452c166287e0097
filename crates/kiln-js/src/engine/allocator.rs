//! The isolate heap allocator: the C allocator plus a hard limit, and a flag that records that
//! the limit was hit.
//!
//! QuickJS's own limit (`JS_SetMemoryLimit`) makes an allocation fail, but the script then sees
//! an exception that QuickJS may not even manage to allocate (it can surface as a bare `null`),
//! so "this invocation ran out of memory" cannot be told from JavaScript reliably. Counting here
//! gives the worker a flag it can trust: when an allocation is refused, the invocation is
//! answered `SCRIPT_MEMORY_LIMIT` and the isolate is replaced.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;

use rquickjs::allocator::Allocator;

/// Shared view of an isolate's heap.
#[derive(Default)]
pub(crate) struct HeapState {
    /// Set when an allocation was refused because of the limit.
    pub exceeded: Cell<bool>,
}

/// `malloc`-family allocator with a byte limit, for one QuickJS runtime.
pub(crate) struct LimitedAllocator {
    limit: usize,
    used: usize,
    state: Rc<HeapState>,
}

impl LimitedAllocator {
    pub fn new(limit: usize, state: Rc<HeapState>) -> Self {
        LimitedAllocator {
            limit,
            used: 0,
            state,
        }
    }

    fn admit(&mut self, additional: usize) -> bool {
        if self.used.saturating_add(additional) > self.limit {
            self.state.exceeded.set(true);
            false
        } else {
            true
        }
    }
}

fn usable(ptr: *mut u8) -> usize {
    if ptr.is_null() {
        return 0;
    }
    // SAFETY: `ptr` is non-null and was returned by malloc/calloc/realloc of this process's
    // C allocator (every pointer this allocator hands out is).
    unsafe { libc::malloc_usable_size(ptr.cast()) }
}

// SAFETY: every pointer comes from the C allocator, which returns memory aligned for any type
// (so at least to `usize`), of at least the requested size, or null; `usable_size` reports
// what `malloc_usable_size` says for exactly those pointers.
unsafe impl Allocator for LimitedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.admit(size) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain malloc; a null result is passed on to QuickJS, which handles it.
        let ptr = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
        self.used += usable(ptr);
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        if !self.admit(total) {
            return std::ptr::null_mut();
        }
        // SAFETY: plain calloc; a null result is passed on to QuickJS.
        let ptr = unsafe { libc::calloc(count.max(1), size.max(1)) }.cast::<u8>();
        self.used += usable(ptr);
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        self.used = self.used.saturating_sub(usable(ptr));
        // SAFETY: the caller guarantees `ptr` came from this allocator (malloc/calloc/realloc).
        unsafe { libc::free(ptr.cast()) }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        let old = usable(ptr);
        if new_size > old && !self.admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller guarantees `ptr` came from this allocator; on failure realloc
        // leaves the old block untouched (and counted).
        let grown = unsafe { libc::realloc(ptr.cast(), new_size.max(1)) }.cast::<u8>();
        if !grown.is_null() {
            self.used = self.used.saturating_sub(old) + usable(grown);
        }
        grown
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        usable(ptr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_says_so() {
        let state = Rc::new(HeapState::default());
        let mut heap = LimitedAllocator::new(1024 * 1024, state.clone());
        let a = heap.alloc(512 * 1024);
        assert!(!a.is_null());
        assert!(!state.exceeded.get());
        let b = heap.alloc(768 * 1024);
        assert!(b.is_null());
        assert!(state.exceeded.get());
        // SAFETY: `a` came from `heap`.
        let c = unsafe { heap.realloc(a, 256 * 1024) };
        assert!(!c.is_null());
        // SAFETY: `c` came from `heap`.
        unsafe { heap.dealloc(c) };
        assert_eq!(heap.used, 0);
    }
}
