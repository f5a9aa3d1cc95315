//! The allocator the binary uses: mimalloc instead of the system allocator. A request allocates
//! and frees many small JSON values, and glibc's malloc spent about a fifth of the server's time
//! on them (measured in docs/benchmarks.md). `src/main.rs` installs it.
//!
//! The one module with unsafe code (the package denies it elsewhere): a global allocator is an
//! `unsafe` trait, and mimalloc's entry points are C functions.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use libmimalloc_sys as mi;

/// mimalloc, asked for a plain block whenever a plain block already has the alignment, as Rust's
/// `System` allocator does with `malloc`. Its aligned entry point (which the `mimalloc` crate
/// uses for every allocation) takes a slow path, and over-allocates, for every block over 1 KiB
/// whose size is not a power of two: request buffers, answers, tantivy's pages.
pub struct MiMalloc;

/// The alignment of every block `mi_malloc` returns whose size is at least this (mimalloc's
/// `MI_MAX_ALIGN_SIZE` on 64-bit targets); smaller blocks are aligned to 8, the step of its
/// size classes, which covers any alignment up to their size.
const PLAIN_ALIGN: usize = 16;

fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

// SAFETY: every pointer comes from mimalloc and goes back to it; plain blocks are used only
// where their alignment meets the layout's (see `plain`), and the aligned functions otherwise.
unsafe impl GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = if plain(layout.align(), layout.size()) {
            // SAFETY: any size may be asked for; null is returned when memory runs out.
            unsafe { mi::mi_malloc(layout.size()) }
        } else {
            // SAFETY: `Layout` guarantees a power-of-two alignment.
            unsafe { mi::mi_malloc_aligned(layout.size(), layout.align()) }
        };
        p.cast()
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if plain(layout.align(), layout.size()) {
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc(layout.size()) }
        } else {
            // SAFETY: as in `alloc`.
            unsafe { mi::mi_zalloc_aligned(layout.size(), layout.align()) }
        };
        p.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _: Layout) {
        // SAFETY: `ptr` was returned by this allocator, so by mimalloc.
        unsafe { mi::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = if plain(layout.align(), new_size) {
            // SAFETY: `ptr` was returned by this allocator; the new block is plain and its
            // alignment meets the layout's.
            unsafe { mi::mi_realloc(ptr.cast(), new_size) }
        } else {
            // SAFETY: as above, with the alignment kept.
            unsafe { mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()) }
        };
        p.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_has_the_alignment_its_layout_asks_for() {
        let a = MiMalloc;
        for size in (1..=64).chain([100, 1000, 1025, 1500, 4096, 7000, 70_000, 1 << 21]) {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes, and every block is freed with its own layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    p.write_bytes(7, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert!(
                        !q.is_null() && (q as usize).is_multiple_of(align),
                        "{size} {align} grown"
                    );
                    assert_eq!(*q, 7);
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert!(
                        !z.is_null() && (z as usize).is_multiple_of(align),
                        "{size} {align} zeroed"
                    );
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
