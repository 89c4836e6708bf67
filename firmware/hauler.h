/* Hauler DMA controller: a small driver in freestanding C99.
 *
 * Register map, descriptor layout and error codes come from hauler_regs.h, generated
 * from the register description (`hauler regs --format c`). The semantics are those of
 * the ABI (version 1) and of docs/architecture.md; docs/firmware.md describes this API.
 *
 * Conventions:
 * - Addresses are bus addresses (what the controller puts on its master port), 64 bits
 *   wide whatever the build's address width; hauler_bus_addr() turns a CPU pointer into
 *   one (HAULER_BUS_ADDR below).
 * - Functions that can refuse return an int: HAULER_OK (0) or a negative HAULER_E*
 *   value. A refused call has written no register and no descriptor, except where said.
 * - Channel numbers count from 0.
 *
 * Hooks: define these before including this header (or in a header named by
 * HAULER_CONFIG_H, e.g. -DHAULER_CONFIG_H='"board.h"') to adapt the driver:
 *   HAULER_READ32(p), HAULER_WRITE32(p, v)
 *       every access to a register or to a descriptor word; p is a
 *       `volatile uint32_t *` (default: a volatile access). Host tests route them to a model.
 *   HAULER_BARRIER()
 *       orders the CPU's memory accesses against the controller's: run before a START
 *       (descriptors and source data written before it must be visible to the controller),
 *       before a descriptor is handed over (its fields before its STATUS), and after a
 *       completion is seen (buffer reads after it). Default: a compiler barrier only, no
 *       instruction, enough for a CPU without caches that keeps its stores in order (the
 *       RV32 SoC); define it as e.g. `__asm__ volatile ("fence" ::: "memory")` for a CPU
 *       that reorders, or add cache maintenance for one with a data cache.
 *   HAULER_BUS_ADDR(p)
 *       the bus address of the CPU pointer p (default: the same number).
 *   HAULER_MAX_CHANNELS
 *       channels the driver keeps state for (default 16, the ABI's maximum); a build with
 *       more channels is served up to this many.
 */
#ifndef HAULER_H
#define HAULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef HAULER_CONFIG_H
#include HAULER_CONFIG_H
#endif

#include "hauler_regs.h"

/* Descriptors are little endian and written as 32-bit words in CPU order. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the Hauler driver writes descriptor words in CPU byte order: a little-endian CPU is needed"
#endif

#ifndef HAULER_READ32
#define HAULER_READ32(p) (*(p))
#endif
#ifndef HAULER_WRITE32
#define HAULER_WRITE32(p, v) (*(p) = (v))
#endif
#ifndef HAULER_BARRIER
#ifdef __GNUC__
#define HAULER_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define HAULER_BARRIER() ((void)0)
#endif
#endif
#ifndef HAULER_BUS_ADDR
#define HAULER_BUS_ADDR(p) ((uint64_t)(uintptr_t)(p))
#endif
#ifndef HAULER_MAX_CHANNELS
#define HAULER_MAX_CHANNELS 16u
#endif

/* Descriptors must sit on a HAULER_DESC_SIZE (64-byte) boundary. C99 cannot say so;
 * with GCC or Clang, declare them `static struct hauler_desc ring[8] HAULER_DESC_ALIGNED;`. */
#ifdef __GNUC__
#define HAULER_DESC_ALIGNED __attribute__((aligned(HAULER_DESC_SIZE)))
#endif

/* Results (negative: refused or failed; the ABI's own error codes are HAULER_ERR_*). */
#define HAULER_OK 0
#define HAULER_EBADID (-1)      /* ID is not HAULER_ID_VALUE: no Hauler at this address */
#define HAULER_EVERSION (-2)    /* VERSION.MAJOR is not the ABI major this driver speaks */
#define HAULER_ECHANNEL (-3)    /* no such channel (or beyond HAULER_MAX_CHANNELS) */
#define HAULER_EBUSY (-4)       /* the channel is running */
#define HAULER_ENOTBUILT (-5)   /* the feature asked for is not in this build (CONFIG) */
#define HAULER_EINVAL (-6)      /* an argument the hardware would refuse (BAD_DESCRIPTOR) */
#define HAULER_ETIMEOUT (-7)    /* still busy after the poll limit */
#define HAULER_EFAILED (-8)     /* the channel halted with an error (see its status) */

/* Transfer flags: the layout of the XFER register and of descriptor CTRL. */
/* HAULER_MODE_INCR (memory, address incrementing), HAULER_MODE_FIXED (one beat-aligned
 * address: a peripheral data register), HAULER_MODE_STREAM (the channel's stream port:
 * s_axis<n> in, m_axis<n> out) come from hauler_regs.h. */
#define HAULER_F_SRC(mode) ((uint32_t)(mode) << HAULER_DESC_CTRL_SRC_MODE_SHIFT)
#define HAULER_F_DST(mode) ((uint32_t)(mode) << HAULER_DESC_CTRL_DST_MODE_SHIFT)
#define HAULER_F_IRQ HAULER_DESC_CTRL_IRQ_MASK  /* descriptor: raise DONE when it completes */
#define HAULER_F_EOP HAULER_DESC_CTRL_EOP_MASK  /* stream destination: tlast on the last beat */
#define HAULER_F_REQ HAULER_DESC_CTRL_REQ_MASK  /* pace by req/ack, REQ_BURST bytes a request */

/* Interrupt events: the bits of IRQ_STATUS and IRQ_ENABLE. */
#define HAULER_EV_DONE HAULER_CH_IRQ_STATUS_DONE_MASK
#define HAULER_EV_CHAIN_END HAULER_CH_IRQ_STATUS_CHAIN_END_MASK
#define HAULER_EV_ERROR HAULER_CH_IRQ_STATUS_ERROR_MASK
#define HAULER_EV_ALL (HAULER_EV_DONE | HAULER_EV_CHAIN_END | HAULER_EV_ERROR)

/* One transfer: register mode, or one descriptor. */
struct hauler_xfer {
    uint64_t src;       /* bus address; ignored (give 0) for a STREAM source */
    uint64_t dst;       /* bus address; ignored (give 0) for a STREAM destination */
    uint32_t len;       /* bytes; for a STREAM source the most to take, whole beats */
    uint32_t flags;     /* HAULER_F_*; CTRL.LAST is the chain builders' to set */
};

/* What the build contains: CONFIG, PARAMS and VERSION decoded. */
struct hauler_caps {
    unsigned channels;          /* channels built (the driver serves dev->channels of them) */
    unsigned data_bytes;        /* bytes per beat of the master bus and the streams */
    unsigned addr_width;        /* bits of a bus address */
    bool sg;                    /* scatter-gather */
    bool streams;               /* stream ports */
    bool unaligned;             /* byte-granular addresses and lengths */
    bool req_ack;               /* the req/ack handshake */
    unsigned master;            /* 0 AXI4, 1 Wishbone */
    unsigned max_burst;         /* beats */
    unsigned fifo_depth;        /* beats */
    unsigned outstanding;       /* read bursts in flight */
    unsigned len_width;         /* bits of LEN and BYTES */
    unsigned version_minor;
    unsigned version_patch;
};

struct hauler;

/* Interrupt callbacks, run from hauler_irq_handler() with the channel's events already
 * cleared. events: HAULER_EV_DONE and/or HAULER_EV_CHAIN_END. code: HAULER_ERR_*;
 * addr: ERR_ADDR, the failing bus address or, for a descriptor error, the descriptor's. */
typedef void (*hauler_complete_fn)(struct hauler *dev, unsigned ch, uint32_t events,
                                   void *ctx);
typedef void (*hauler_error_fn)(struct hauler *dev, unsigned ch, unsigned code,
                                uint64_t addr, void *ctx);

struct hauler_channel {
    hauler_complete_fn complete;
    hauler_error_fn error;
    void *ctx;
    uint32_t irq_enable;        /* what IRQ_ENABLE holds: the driver is its only writer */
};

/* The driver's state for one controller. Fill with hauler_init(); read caps freely. */
struct hauler {
    struct hauler_caps caps;
    volatile uint32_t *base;    /* the register block */
    unsigned channels;          /* channels served: caps.channels, at most HAULER_MAX_CHANNELS */
    uint32_t addr_mask_lo;      /* address bits the build has, low and high word */
    uint32_t addr_mask_hi;
    uint32_t len_max;           /* the largest LEN */
    struct hauler_channel ch[HAULER_MAX_CHANNELS];
};

/* A channel's registers: STATUS, BYTES, COMPLETED and ERR_ADDR. */
struct hauler_status {
    bool busy;
    bool done;                  /* the last run ended successfully */
    bool error;                 /* the last run ended with err_code */
    bool eop;                   /* the last transfer from a stream ended with tlast */
    unsigned err_code;          /* HAULER_ERR_* */
    uint32_t bytes;             /* of the current or last transfer or descriptor */
    uint32_t completed;         /* transfers or descriptors since START (wraps) */
    uint64_t err_addr;
};

/* What the hardware wrote back to a descriptor. */
struct hauler_desc_result {
    bool done;                  /* completed: the data is in memory */
    bool error;
    bool eop;                   /* a stream source ended this descriptor with tlast */
    unsigned err_code;
    uint32_t bytes;             /* bytes moved */
};

static inline uint64_t hauler_bus_addr(const volatile void *p)
{
    return HAULER_BUS_ADDR(p);
}

/* --- Set-up --- */

/* Check the ID and the ABI major at base, read the capabilities, and bring every served
 * channel's interrupts to a known state (IRQ_ENABLE 0, IRQ_STATUS cleared, no callbacks).
 * Running channels are left alone. */
int hauler_init(struct hauler *dev, volatile uint32_t *base);

/* The callbacks hauler_irq_handler() calls for channel ch (either may be NULL). */
int hauler_set_callbacks(struct hauler *dev, unsigned ch, hauler_complete_fn complete,
                         hauler_error_fn error, void *ctx);

/* Which HAULER_EV_* events of channel ch raise the interrupt (IRQ_ENABLE). */
int hauler_irq_enable(struct hauler *dev, unsigned ch, uint32_t events);

/* IRQ_COALESCE: one DONE interrupt per count completions (0 and 1: each), or after
 * timeout idle cycles with completions pending (0: no timeout; below 2^24). */
int hauler_irq_coalesce(struct hauler *dev, unsigned ch, uint32_t count, uint32_t timeout);

/* Bytes moved per peripheral request for transfers with HAULER_F_REQ (REQ_BURST). Set it
 * while the channel is idle. */
int hauler_set_req_burst(struct hauler *dev, unsigned ch, uint32_t bytes);

/* --- Register mode --- */

/* Start one transfer on an idle channel: SRC, DST (their high halves only when the build's
 * addresses are wider than 32 bits), LEN, XFER, then CTRL.START. Completion raises DONE and
 * CHAIN_END. */
int hauler_start(struct hauler *dev, unsigned ch, const struct hauler_xfer *x);

/* As hauler_start(), with CTRL.CYCLIC: the transfer restarts after each completion (DONE
 * each time) until hauler_stop(). */
int hauler_start_cyclic(struct hauler *dev, unsigned ch, const struct hauler_xfer *x);

/* Copy len bytes from src to dst, memory to memory (memcpy's argument order). */
int hauler_copy(struct hauler *dev, unsigned ch, uint64_t dst, uint64_t src, uint32_t len);

/* --- Scatter-gather --- */

/* Write descriptor d for transfer x and hand it to the hardware: NEXT is next's bus address,
 * or, with next NULL, the descriptor is the chain's LAST. BYTES and STATUS are zeroed,
 * STATUS last and after a barrier, so a completed descriptor of a running ring may be
 * refilled: the hardware sees either the old (DONE: NOT_OWNED) or the whole new one.
 * The software area d->sw is left alone. Never change a descriptor the hardware may still
 * fetch: from START until the descriptor before it has completed (ABI section 3). */
int hauler_desc_fill(const struct hauler *dev, struct hauler_desc *d,
                     const struct hauler_xfer *x, const struct hauler_desc *next);

/* Descriptors d[0..n-1] for xfers[0..n-1], linked in order, LAST on d[n-1]. On a refusal
 * the descriptors before the refused one are written. */
int hauler_chain_build(const struct hauler *dev, struct hauler_desc *d,
                       const struct hauler_xfer *xfers, size_t n);

/* As hauler_chain_build(), but d[n-1] links back to d[0] and none is LAST: the channel
 * runs round the ring until STOP or ABORT, and halts with NOT_OWNED when it comes to a
 * descriptor that software has not re-armed. */
int hauler_ring_build(const struct hauler *dev, struct hauler_desc *d,
                      const struct hauler_xfer *xfers, size_t n);

/* Hand a completed descriptor back to the hardware unchanged (its BYTES, then after a
 * barrier its STATUS, zeroed): a receive ring does this once it has consumed the buffer. */
void hauler_desc_rearm(struct hauler_desc *d);

/* Read what the hardware wrote back to d. A descriptor counts as complete once the channel
 * says so (its interrupt, COMPLETED): on a 32-bit bus BYTES lands one beat after STATUS. */
void hauler_desc_result(const struct hauler_desc *d, struct hauler_desc_result *r);

/* Start the chain or ring at first (64-byte aligned) on an idle channel: DESC, then
 * CTRL.SG with START. */
int hauler_start_chain(struct hauler *dev, unsigned ch, const struct hauler_desc *first);

/* --- Control and status --- */

/* STOP: finish the transfer or descriptor under way, then halt (DONE, CHAIN_END). */
int hauler_stop(struct hauler *dev, unsigned ch);

/* ABORT: halt at the next burst boundary with ERROR and HAULER_ERR_ABORTED. */
int hauler_abort(struct hauler *dev, unsigned ch);

/* Read the channel's STATUS, BYTES, COMPLETED and ERR_ADDR. */
int hauler_status(const struct hauler *dev, unsigned ch, struct hauler_status *s);

/* COMPLETED alone: transfers or descriptors completed (written back) since START. */
int hauler_completed(const struct hauler *dev, unsigned ch, uint32_t *count);

/* Poll STATUS at most max_polls times until the channel is idle. Returns HAULER_OK if the
 * run ended well, HAULER_EFAILED if it ended with an error, HAULER_ETIMEOUT if still busy.
 * s (may be NULL) receives the status once idle. */
int hauler_wait_idle(const struct hauler *dev, unsigned ch, uint32_t max_polls,
                     struct hauler_status *s);

/* --- Interrupts --- */

/* Serve the controller's interrupt: for each channel IRQ_SUMMARY names, take its enabled
 * IRQ_STATUS events, clear them (write 1 to clear) and then call the channel's callbacks:
 * completion first, then error. Clearing before the callbacks means an event that comes
 * while they run raises the (level) interrupt again instead of being lost, and the
 * callbacks may start the next transfer. Returns the IRQ_SUMMARY it read. */
uint32_t hauler_irq_handler(struct hauler *dev);

#endif /* HAULER_H */
