/* memcpy offload: a register-mode copy, finished by the completion interrupt, done twice.
 *
 * The CPU fills a source buffer, starts the copy and sleeps until the channel's CHAIN_END
 * interrupt; then it checks every byte of the destination and the guard bytes around it
 * (the controller writes nothing outside [DST, DST + LEN)). With unaligned support the copy
 * goes from offset 1 to offset 3 of a word, so the realigner's byte lanes are exercised.
 */
#include "hauler.h"
#include "platform.h"

#define CH PLATFORM_MEMCPY_CHANNEL
#define COPY_BYTES 1000u
#define GUARD 0xA5u
#define ROUNDS 2u
/* The points the co-simulation times (tests/test_cpu_soc.py): the call that sets the copy
 * up (to its START write), and the completion callback (from the interrupt). */
#define MARK_COPY_CALL 1u
#define MARK_CALLBACK 2u

static struct hauler dma;
static uint8_t src[COPY_BYTES + 8u];
static uint8_t dst[COPY_BYTES + 8u];

static volatile bool finished;
static volatile unsigned failure;   /* HAULER_ERR_* of a failed copy */

static void copy_complete(struct hauler *dev, unsigned ch, uint32_t events, void *ctx)
{
    (void)dev;
    (void)ch;
    (void)ctx;
    platform_mark(MARK_CALLBACK);
    if (events & HAULER_EV_CHAIN_END)
        finished = true;
}

static void copy_failed(struct hauler *dev, unsigned ch, unsigned code, uint64_t addr,
                        void *ctx)
{
    (void)dev;
    (void)ch;
    (void)ctx;
    platform_report("error at", (uint32_t)addr);
    failure = code;
    finished = true;
}

static void dma_isr(void)
{
    hauler_irq_handler(&dma);
}

static bool copy_finished(void)
{
    return finished;
}

/* One copy, from offset src_offset of src to offset dst_offset of dst, checked. */
static int copy_once(uint32_t src_offset, uint32_t dst_offset)
{
    struct hauler_status status;
    uint32_t i;
    int err;

    for (i = 0; i < sizeof dst; i++)
        dst[i] = GUARD;
    finished = false;
    platform_mark(MARK_COPY_CALL);
    err = hauler_copy(&dma, CH, hauler_bus_addr(dst + dst_offset),
                      hauler_bus_addr(src + src_offset), COPY_BYTES);
    if (err != HAULER_OK) {
        platform_report("hauler_copy refused", (uint32_t)err);
        return 1;
    }
    platform_wait_until(copy_finished);
    if (failure != HAULER_ERR_NONE) {
        platform_report("copy failed, code", failure);
        return 1;
    }

    for (i = 0; i < sizeof dst; i++) {
        bool inside = i >= dst_offset && i < dst_offset + COPY_BYTES;
        uint8_t want = inside ? src[i - dst_offset + src_offset] : GUARD;

        if (dst[i] != want) {
            platform_report("mismatch at byte", i);
            return 1;
        }
    }
    hauler_status(&dma, CH, &status);
    platform_report("bytes copied", status.bytes);
    return status.bytes == COPY_BYTES ? 0 : 1;
}

int main(void)
{
    uint32_t state = 0x12345678u, i;
    uint32_t src_offset = 0u, dst_offset = 0u;
    int err = hauler_init(&dma, (volatile uint32_t *)PLATFORM_DMA_BASE);

    if (err != HAULER_OK) {
        platform_report("hauler_init failed", (uint32_t)err);
        return 1;
    }
    if (dma.caps.unaligned) {
        src_offset = 1u;
        dst_offset = 3u;
    }
    for (i = 0; i < sizeof src; i++) {
        state ^= state << 13;   /* xorshift: no multiply on RV32I */
        state ^= state >> 17;
        state ^= state << 5;
        src[i] = (uint8_t)state;
    }

    hauler_set_callbacks(&dma, CH, copy_complete, copy_failed, NULL);
    hauler_irq_enable(&dma, CH, HAULER_EV_CHAIN_END | HAULER_EV_ERROR);
    platform_irq_attach(dma_isr);
    /* Twice: a CPU with caches runs the first with them cold, the second warm. */
    for (i = 0; i < ROUNDS; i++)
        if (copy_once(src_offset, dst_offset) != 0)
            return 1;
    return 0;
}
