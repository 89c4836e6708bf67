/* A receive ring: packets from a stream, reassembled across descriptors, handed to a
 * callback.
 *
 * Channel RX runs round a ring of RING descriptors; each takes up to SLOT bytes from
 * s_axis<RX> into its own buffer and raises DONE. A packet longer than a slot goes on in
 * the next descriptor; the one that takes the packet's tlast has STATUS.EOP. On each DONE
 * interrupt the CPU takes the descriptors the channel has completed, appends their BYTES
 * to the packet being assembled, hands the packet to the callback at EOP, and re-arms each
 * descriptor for the next lap.
 *
 * The packets come from this program too: channel TX sends each from memory to
 * m_axis<TX> with tlast (EOP), which the SoC loops back into s_axis<RX>. A packet is sent
 * once the one before has arrived, so the ring never overruns (a descriptor fetched while
 * still DONE would halt the channel with NOT_OWNED), and the traffic laps the ring twice.
 * At the end, ABORT takes the ring down: STOP would wait for the descriptor under way,
 * which waits for data that is not coming.
 */
#include "hauler.h"
#include "platform.h"

#define RX PLATFORM_RX_CHANNEL
#define TX PLATFORM_TX_CHANNEL
#define RING 8u
#define SLOT 64u            /* whole beats for any data width: a stream source needs that */
#define MAX_PACKET 256u

typedef void (*packet_fn)(const uint8_t *data, uint32_t len, bool truncated);

struct rx_ring {
    struct hauler_desc *desc;
    uint8_t (*slot)[SLOT];
    unsigned head;          /* the descriptor that completes next */
    uint32_t consumed;      /* descriptors taken since START; wraps like COMPLETED */
    uint8_t packet[MAX_PACKET];
    uint32_t packet_len;
    bool truncated;         /* the packet was longer than MAX_PACKET */
    packet_fn on_packet;
    volatile unsigned error; /* HAULER_ERR_* once the channel halted (set by the ISR) */
};

static struct hauler dma;
static struct hauler_desc ring_desc[RING] HAULER_DESC_ALIGNED;
static uint8_t ring_slot[RING][SLOT];
static struct rx_ring rx;

static const uint16_t packet_lengths[] = {1, 4, 60, 64, 65, 200, 128, 3, MAX_PACKET};
#define PACKETS (sizeof packet_lengths / sizeof packet_lengths[0])

static uint8_t tx_packet[MAX_PACKET];
static uint32_t tx_len;
static volatile unsigned received;
static volatile bool mismatch;

static void rx_take(struct rx_ring *r, const uint8_t *data, uint32_t len)
{
    uint32_t i;

    for (i = 0; i < len; i++) {
        if (r->packet_len == MAX_PACKET) {
            r->truncated = true;
            return;
        }
        r->packet[r->packet_len++] = data[i];
    }
}

static void rx_complete(struct hauler *dev, unsigned ch, uint32_t events, void *ctx)
{
    struct rx_ring *r = ctx;
    uint32_t completed;

    (void)events;
    /* COMPLETED counts the descriptors written back: only those are read. A descriptor's
     * STATUS in memory may show DONE a beat before its BYTES lands (32-bit bus). */
    hauler_completed(dev, ch, &completed);
    while (r->consumed != completed) {
        struct hauler_desc *d = &r->desc[r->head];
        struct hauler_desc_result result;

        hauler_desc_result(d, &result);
        rx_take(r, r->slot[r->head], result.bytes);
        if (result.eop) {
            r->on_packet(r->packet, r->packet_len, r->truncated);
            r->packet_len = 0;
            r->truncated = false;
        }
        hauler_desc_rearm(d);
        r->head = r->head + 1u == RING ? 0u : r->head + 1u;
        r->consumed++;
    }
}

static void rx_failed(struct hauler *dev, unsigned ch, unsigned code, uint64_t addr,
                      void *ctx)
{
    struct rx_ring *r = ctx;

    (void)dev;
    (void)ch;
    platform_report("rx error at", (uint32_t)addr);
    r->error = code;
}

/* Start the ring on channel ch: every descriptor takes up to SLOT bytes of the stream. */
static int rx_start(struct rx_ring *r, unsigned ch, packet_fn on_packet)
{
    struct hauler_xfer xfers[RING];
    unsigned i;
    int err;

    r->desc = ring_desc;
    r->slot = ring_slot;
    r->head = 0;
    r->consumed = 0;
    r->packet_len = 0;
    r->truncated = false;
    r->on_packet = on_packet;
    r->error = HAULER_ERR_NONE;
    for (i = 0; i < RING; i++) {
        xfers[i].src = 0;
        xfers[i].dst = hauler_bus_addr(ring_slot[i]);
        xfers[i].len = SLOT;
        xfers[i].flags = HAULER_F_SRC(HAULER_MODE_STREAM) | HAULER_F_IRQ;
    }
    err = hauler_ring_build(&dma, ring_desc, xfers, RING);
    if (err == HAULER_OK)
        err = hauler_set_callbacks(&dma, ch, rx_complete, rx_failed, r);
    if (err == HAULER_OK)
        err = hauler_irq_enable(&dma, ch, HAULER_EV_DONE | HAULER_EV_ERROR);
    if (err == HAULER_OK)
        err = hauler_start_chain(&dma, ch, ring_desc);
    return err;
}

/* The packet callback: each packet must be the one just sent. */
static void rx_packet(const uint8_t *data, uint32_t len, bool truncated)
{
    uint32_t i;

    if (truncated || len != tx_len)
        mismatch = true;
    for (i = 0; i < len && !mismatch; i++)
        if (data[i] != tx_packet[i])
            mismatch = true;
    received++;
}

static unsigned expected;

static bool packet_arrived(void)
{
    return received == expected || rx.error != HAULER_ERR_NONE;
}

static void dma_isr(void)
{
    hauler_irq_handler(&dma);
}

int main(void)
{
    struct hauler_status status;
    struct hauler_xfer send;
    unsigned p;
    uint32_t i;
    int err = hauler_init(&dma, (volatile uint32_t *)PLATFORM_DMA_BASE);

    if (err != HAULER_OK) {
        platform_report("hauler_init failed", (uint32_t)err);
        return 1;
    }
    if (!dma.caps.sg || !dma.caps.streams || dma.channels <= RX || dma.channels <= TX) {
        platform_report("needs scatter-gather, streams and channels", RX > TX ? RX : TX);
        return 1;
    }
    platform_irq_attach(dma_isr);
    err = rx_start(&rx, RX, rx_packet);
    if (err != HAULER_OK) {
        platform_report("rx_start refused", (uint32_t)err);
        return 1;
    }

    for (p = 0; p < PACKETS; p++) {
        tx_len = packet_lengths[p];
        for (i = 0; i < tx_len; i++)
            tx_packet[i] = (uint8_t)(p << 5 ^ i);
        send.src = hauler_bus_addr(tx_packet);
        send.dst = 0;
        send.len = tx_len;
        send.flags = HAULER_F_DST(HAULER_MODE_STREAM) | HAULER_F_EOP;
        expected = p + 1u;
        err = hauler_start(&dma, TX, &send);
        if (err != HAULER_OK) {
            platform_report("tx refused", (uint32_t)err);
            return 1;
        }
        platform_wait_until(packet_arrived);
        if (rx.error != HAULER_ERR_NONE) {
            platform_report("rx failed, code", rx.error);
            return 1;
        }
        /* The send retired when its last beat entered the stream buffer: long ago. */
        err = hauler_wait_idle(&dma, TX, PLATFORM_POLL_LIMIT, NULL);
        if (err != HAULER_OK) {
            platform_report("tx failed", (uint32_t)err);
            return 1;
        }
    }
    platform_report("packets received", received);
    platform_report("descriptors used", rx.consumed);

    hauler_irq_enable(&dma, RX, 0);
    hauler_abort(&dma, RX);
    err = hauler_wait_idle(&dma, RX, PLATFORM_POLL_LIMIT, &status);
    if (err != HAULER_EFAILED || status.err_code != HAULER_ERR_ABORTED) {
        platform_report("abort did not end the ring", (uint32_t)err);
        return 1;
    }
    return mismatch ? 1 : 0;
}
