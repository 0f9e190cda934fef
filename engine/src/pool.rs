//! Preallocated buffers: one allocation of `count` equal slots, made at configure time.
//! The io_uring backend hands the receive pool to the kernel as a provided-buffer ring and
//! registers it as a fixed buffer; the syscall backend fills the same slots with
//! `recvmmsg`. Slots are named by their index (the io_uring buffer id).
#![forbid(unsafe_code)]

/// The smallest page size Linux uses; touching every 4 KiB touches every page.
const PAGE: usize = 4096;

/// A pool of equal buffers with a free list.
pub struct Pool {
    mem: Box<[u8]>,
    slot_len: usize,
    count: u32,
    payload_offset: usize,
    /// Free slots (a stack), for the users that track them here.
    free: Vec<u16>,
}

impl Pool {
    /// `count` slots of `slot_len` bytes; a datagram goes at `payload_offset` in its slot.
    pub fn new(count: u32, slot_len: usize, payload_offset: usize) -> Pool {
        Pool {
            mem: vec![0u8; count as usize * slot_len].into_boxed_slice(),
            slot_len,
            count,
            payload_offset,
            free: (0..count).rev().map(|i| i as u16).collect(),
        }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Faults every page in. A large zeroed allocation is mapped lazily: its pages would
    /// fault in on first use, during the first tour (the kernel's receive copies fault
    /// too), which made that tour up to four times slower than the next. The data plane
    /// calls this at configure, on its own (placed) thread so that the pages come from its
    /// memory node; from then on the whole pool is resident. `black_box` keeps the
    /// compiler from dropping a store of zero into memory it knows is zero.
    pub fn touch_pages(&mut self) {
        for page in self.mem.chunks_mut(PAGE) {
            page[0] = std::hint::black_box(0);
        }
    }

    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// The whole allocation, for registration as one fixed buffer.
    pub fn region(&mut self) -> libc::iovec {
        libc::iovec {
            iov_base: self.mem.as_mut_ptr().cast(),
            iov_len: self.mem.len(),
        }
    }

    /// A whole slot (io_uring writes its `recvmsg_out` header before the payload).
    pub fn slot(&mut self, index: u16) -> &mut [u8] {
        let start = usize::from(index) * self.slot_len;
        &mut self.mem[start..start + self.slot_len]
    }

    /// The payload area of a slot.
    pub fn payload(&mut self, index: u16) -> &mut [u8] {
        let offset = self.payload_offset;
        &mut self.slot(index)[offset..]
    }

    /// Takes a free slot.
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop()
    }

    /// Gives a slot back.
    pub fn put(&mut self, index: u16) {
        self.free.push(index);
    }

    /// Free slots.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("count", &self.count)
            .field("slot_len", &self.slot_len)
            .field("free", &self.free.len())
            .finish_non_exhaustive()
    }
}
