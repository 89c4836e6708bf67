/* Hauler DMA controller driver: see hauler.h and docs/firmware.md. */
#include "hauler.h"

/* A field of a register value, by the generated NAME_MASK / NAME_SHIFT pair. */
#define FIELD(value, name) (((value) & name##_MASK) >> name##_SHIFT)

#define CTRL_MODE_BITS (HAULER_CH_CTRL_SG_MASK | HAULER_CH_CTRL_CYCLIC_MASK)
#define XFER_BITS (HAULER_DESC_CTRL_LAST_MASK | HAULER_DESC_CTRL_IRQ_MASK | \
                   HAULER_DESC_CTRL_SRC_MODE_MASK | HAULER_DESC_CTRL_DST_MODE_MASK | \
                   HAULER_DESC_CTRL_EOP_MASK | HAULER_DESC_CTRL_REQ_MASK)

/* Descriptor words are shared with the controller: always accessed as volatile. */
#define DESC_WORD(d, field) ((volatile uint32_t *)&(d)->field)

static uint32_t rd(const struct hauler *dev, uint32_t offset)
{
    return HAULER_READ32(dev->base + offset / 4u);
}

static void wr(const struct hauler *dev, uint32_t offset, uint32_t value)
{
    HAULER_WRITE32(dev->base + offset / 4u, value);
}

static uint32_t ch_rd(const struct hauler *dev, unsigned ch, uint32_t reg)
{
    return rd(dev, HAULER_CH_BASE(ch) + reg);
}

static void ch_wr(const struct hauler *dev, unsigned ch, uint32_t reg, uint32_t value)
{
    wr(dev, HAULER_CH_BASE(ch) + reg, value);
}

/* Writes the _LO register at reg and, if the build has them, the _HI one after it. On a
 * 32-bit build the _HI registers are absent, and an address never needs them. */
static void ch_wr_addr(const struct hauler *dev, unsigned ch, uint32_t reg, uint64_t addr)
{
    ch_wr(dev, ch, reg, (uint32_t)addr);
    if (dev->caps.addr_width > 32u)
        ch_wr(dev, ch, reg + 4u, (uint32_t)(addr >> 32));
}

static int addr_fits(const struct hauler *dev, uint64_t addr)
{
    /* Two 32-bit masks: a variable shift of a 64-bit value would need libgcc on RV32. */
    return ((uint32_t)addr & ~dev->addr_mask_lo) == 0u &&
           ((uint32_t)(addr >> 32) & ~dev->addr_mask_hi) == 0u;
}

static uint32_t low_bits(unsigned width)
{
    return width >= 32u ? 0xFFFFFFFFu : (1u << width) - 1u;
}

int hauler_init(struct hauler *dev, volatile uint32_t *base)
{
    struct hauler_caps *caps = &dev->caps;
    uint32_t version, config, params;
    unsigned ch;

    dev->base = base;
    dev->channels = 0;
    if (rd(dev, HAULER_ID) != HAULER_ID_VALUE)
        return HAULER_EBADID;
    version = rd(dev, HAULER_VERSION);
    if (FIELD(version, HAULER_VERSION_MAJOR) != HAULER_ABI_MAJOR)
        return HAULER_EVERSION;
    config = rd(dev, HAULER_CONFIG);
    params = rd(dev, HAULER_PARAMS);

    caps->channels = FIELD(config, HAULER_CONFIG_CHANNELS);
    caps->data_bytes = 1u << FIELD(config, HAULER_CONFIG_DATA_BYTES_LOG2);
    caps->addr_width = FIELD(config, HAULER_CONFIG_ADDR_WIDTH);
    caps->sg = FIELD(config, HAULER_CONFIG_SG) != 0u;
    caps->streams = FIELD(config, HAULER_CONFIG_STREAMS) != 0u;
    caps->unaligned = FIELD(config, HAULER_CONFIG_UNALIGNED) != 0u;
    caps->req_ack = FIELD(config, HAULER_CONFIG_REQ_ACK) != 0u;
    caps->master = FIELD(config, HAULER_CONFIG_MASTER);
    caps->max_burst = FIELD(params, HAULER_PARAMS_MAX_BURST);
    caps->fifo_depth = 1u << FIELD(params, HAULER_PARAMS_FIFO_DEPTH_LOG2);
    caps->outstanding = FIELD(params, HAULER_PARAMS_OUTSTANDING);
    caps->len_width = FIELD(params, HAULER_PARAMS_LEN_WIDTH);
    caps->version_minor = FIELD(version, HAULER_VERSION_MINOR);
    caps->version_patch = FIELD(version, HAULER_VERSION_PATCH);

    dev->addr_mask_lo = low_bits(caps->addr_width);
    dev->addr_mask_hi = caps->addr_width > 32u ? low_bits(caps->addr_width - 32u) : 0u;
    dev->len_max = low_bits(caps->len_width);
    dev->channels = caps->channels < HAULER_MAX_CHANNELS ? caps->channels
                                                          : HAULER_MAX_CHANNELS;
    for (ch = 0; ch < dev->channels; ch++) {
        dev->ch[ch].complete = NULL;
        dev->ch[ch].error = NULL;
        dev->ch[ch].ctx = NULL;
        dev->ch[ch].irq_enable = 0u;
        /* A previous program may have left interrupts enabled or pending. */
        ch_wr(dev, ch, HAULER_CH_IRQ_ENABLE, 0u);
        ch_wr(dev, ch, HAULER_CH_IRQ_STATUS, HAULER_EV_ALL);
    }
    return HAULER_OK;
}

int hauler_set_callbacks(struct hauler *dev, unsigned ch, hauler_complete_fn complete,
                         hauler_error_fn error, void *ctx)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    dev->ch[ch].complete = complete;
    dev->ch[ch].error = error;
    dev->ch[ch].ctx = ctx;
    return HAULER_OK;
}

int hauler_irq_enable(struct hauler *dev, unsigned ch, uint32_t events)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    if (events & ~(uint32_t)HAULER_EV_ALL)
        return HAULER_EINVAL;
    dev->ch[ch].irq_enable = events;
    ch_wr(dev, ch, HAULER_CH_IRQ_ENABLE, events);
    return HAULER_OK;
}

int hauler_irq_coalesce(struct hauler *dev, unsigned ch, uint32_t count, uint32_t timeout)
{
    const uint32_t count_max = FIELD(0xFFFFFFFFu, HAULER_CH_IRQ_COALESCE_COUNT);
    const uint32_t timeout_max = FIELD(0xFFFFFFFFu, HAULER_CH_IRQ_COALESCE_TIMEOUT);

    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    if (count > count_max || timeout > timeout_max)
        return HAULER_EINVAL;
    ch_wr(dev, ch, HAULER_CH_IRQ_COALESCE,
          (count << HAULER_CH_IRQ_COALESCE_COUNT_SHIFT) |
          (timeout << HAULER_CH_IRQ_COALESCE_TIMEOUT_SHIFT));
    return HAULER_OK;
}

int hauler_set_req_burst(struct hauler *dev, unsigned ch, uint32_t bytes)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    if (!dev->caps.req_ack)
        return HAULER_ENOTBUILT;
    /* Without the realigner every piece must be whole beats, like every transfer. */
    if (bytes == 0u || (!dev->caps.unaligned && (bytes & (dev->caps.data_bytes - 1u))))
        return HAULER_EINVAL;
    ch_wr(dev, ch, HAULER_CH_REQ_BURST, bytes);
    return HAULER_OK;
}

/* What the hardware checks at START or when it loads a descriptor (BAD_DESCRIPTOR, or a
 * mode that is not built), caught before anything is written. */
static int check_xfer(const struct hauler *dev, const struct hauler_xfer *x)
{
    const struct hauler_caps *caps = &dev->caps;
    const uint32_t lanes = caps->data_bytes - 1u;
    const uint32_t src_mode = FIELD(x->flags, HAULER_DESC_CTRL_SRC_MODE);
    const uint32_t dst_mode = FIELD(x->flags, HAULER_DESC_CTRL_DST_MODE);
    const bool src_stream = src_mode == HAULER_MODE_STREAM;
    const bool dst_stream = dst_mode == HAULER_MODE_STREAM;
    const bool paced = (x->flags & HAULER_F_REQ) != 0u;

    if ((x->flags & ~(uint32_t)XFER_BITS) || src_mode > HAULER_MODE_STREAM ||
        dst_mode > HAULER_MODE_STREAM)
        return HAULER_EINVAL;                   /* unknown bits, the reserved mode 3 */
    if (((src_stream || dst_stream) && !caps->streams) || (paced && !caps->req_ack))
        return HAULER_ENOTBUILT;
    /* Both sides a stream has no memory side; a stream has its own flow control. */
    if ((src_stream && dst_stream) || (paced && (src_stream || dst_stream)))
        return HAULER_EINVAL;
    if (x->len == 0u || x->len > dev->len_max)
        return HAULER_EINVAL;
    /* A stream source hands over whole beats, so that a packet longer than LEN goes on
     * into the next descriptor at a beat boundary. */
    if (src_stream && (x->len & lanes))
        return HAULER_EINVAL;
    /* A FIXED side is one register: a whole beat. */
    if ((src_mode == HAULER_MODE_FIXED && ((uint32_t)x->src & lanes)) ||
        (dst_mode == HAULER_MODE_FIXED && ((uint32_t)x->dst & lanes)))
        return HAULER_EINVAL;
    if (!caps->unaligned && (((uint32_t)x->src | (uint32_t)x->dst | x->len) & lanes))
        return HAULER_EINVAL;
    if (!addr_fits(dev, x->src) || !addr_fits(dev, x->dst))
        return HAULER_EINVAL;
    return HAULER_OK;
}

static int check_idle(const struct hauler *dev, unsigned ch)
{
    return FIELD(ch_rd(dev, ch, HAULER_CH_STATUS), HAULER_CH_STATUS_BUSY) ? HAULER_EBUSY
                                                                           : HAULER_OK;
}

static int start_registers(struct hauler *dev, unsigned ch, const struct hauler_xfer *x,
                           uint32_t ctrl)
{
    int err;

    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    err = check_xfer(dev, x);
    if (err == HAULER_OK)
        err = check_idle(dev, ch);
    if (err != HAULER_OK)
        return err;
    ch_wr_addr(dev, ch, HAULER_CH_SRC_LO, x->src);
    ch_wr_addr(dev, ch, HAULER_CH_DST_LO, x->dst);
    ch_wr(dev, ch, HAULER_CH_LEN, x->len);
    ch_wr(dev, ch, HAULER_CH_XFER, x->flags);
    /* The source data the CPU wrote must be in memory before the controller reads it. */
    HAULER_BARRIER();
    ch_wr(dev, ch, HAULER_CH_CTRL, ctrl | HAULER_CH_CTRL_START_MASK);
    return HAULER_OK;
}

int hauler_start(struct hauler *dev, unsigned ch, const struct hauler_xfer *x)
{
    return start_registers(dev, ch, x, 0u);
}

int hauler_start_cyclic(struct hauler *dev, unsigned ch, const struct hauler_xfer *x)
{
    return start_registers(dev, ch, x, HAULER_CH_CTRL_CYCLIC_MASK);
}

int hauler_copy(struct hauler *dev, unsigned ch, uint64_t dst, uint64_t src, uint32_t len)
{
    struct hauler_xfer x;

    x.src = src;
    x.dst = dst;
    x.len = len;
    x.flags = 0u;
    return start_registers(dev, ch, &x, 0u);
}

int hauler_desc_fill(const struct hauler *dev, struct hauler_desc *d,
                     const struct hauler_xfer *x, const struct hauler_desc *next)
{
    uint64_t next_addr = 0u;
    uint32_t ctrl = x->flags & ~(uint32_t)HAULER_DESC_CTRL_LAST_MASK;
    int err = check_xfer(dev, x);

    if (err != HAULER_OK)
        return err;
    if (next == NULL) {
        ctrl |= HAULER_DESC_CTRL_LAST_MASK;
    } else {
        next_addr = HAULER_BUS_ADDR(next);
        if (((uint32_t)next_addr & (HAULER_DESC_SIZE - 1u)) || !addr_fits(dev, next_addr))
            return HAULER_EINVAL;
    }
    HAULER_WRITE32(DESC_WORD(d, next_lo), (uint32_t)next_addr);
    HAULER_WRITE32(DESC_WORD(d, next_hi), (uint32_t)(next_addr >> 32));
    HAULER_WRITE32(DESC_WORD(d, src_lo), (uint32_t)x->src);
    HAULER_WRITE32(DESC_WORD(d, src_hi), (uint32_t)(x->src >> 32));
    HAULER_WRITE32(DESC_WORD(d, dst_lo), (uint32_t)x->dst);
    HAULER_WRITE32(DESC_WORD(d, dst_hi), (uint32_t)(x->dst >> 32));
    HAULER_WRITE32(DESC_WORD(d, len), x->len);
    HAULER_WRITE32(DESC_WORD(d, ctrl), ctrl);
    HAULER_WRITE32(DESC_WORD(d, bytes), 0u);
    /* STATUS.DONE = 0 hands the descriptor over: it goes last, after everything else. */
    HAULER_BARRIER();
    HAULER_WRITE32(DESC_WORD(d, status), 0u);
    return HAULER_OK;
}

static int build_links(const struct hauler *dev, struct hauler_desc *d,
                const struct hauler_xfer *xfers, size_t n, bool ring)
{
    size_t i;
    int err;

    if (n == 0u)
        return HAULER_EINVAL;
    for (i = 0; i < n; i++) {
        const struct hauler_desc *next = i + 1u < n ? &d[i + 1u] : ring ? &d[0] : NULL;

        err = hauler_desc_fill(dev, &d[i], &xfers[i], next);
        if (err != HAULER_OK)
            return err;
    }
    return HAULER_OK;
}

int hauler_chain_build(const struct hauler *dev, struct hauler_desc *d,
                       const struct hauler_xfer *xfers, size_t n)
{
    return build_links(dev, d, xfers, n, false);
}

int hauler_ring_build(const struct hauler *dev, struct hauler_desc *d,
                      const struct hauler_xfer *xfers, size_t n)
{
    return build_links(dev, d, xfers, n, true);
}

void hauler_desc_rearm(struct hauler_desc *d)
{
    /* The CPU's reads of the buffer must be done before the hardware may refill it. */
    HAULER_BARRIER();
    HAULER_WRITE32(DESC_WORD(d, bytes), 0u);
    HAULER_WRITE32(DESC_WORD(d, status), 0u);
}

void hauler_desc_result(const struct hauler_desc *d, struct hauler_desc_result *r)
{
    uint32_t status = HAULER_READ32(DESC_WORD(d, status));

    r->done = FIELD(status, HAULER_DESC_STATUS_DONE) != 0u;
    r->error = FIELD(status, HAULER_DESC_STATUS_ERROR) != 0u;
    r->eop = FIELD(status, HAULER_DESC_STATUS_EOP) != 0u;
    r->err_code = FIELD(status, HAULER_DESC_STATUS_ERR_CODE);
    r->bytes = HAULER_READ32(DESC_WORD(d, bytes));
    /* The buffer's bytes are read after the write-back was seen. */
    HAULER_BARRIER();
}

int hauler_start_chain(struct hauler *dev, unsigned ch, const struct hauler_desc *first)
{
    uint64_t addr = HAULER_BUS_ADDR(first);
    int err;

    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    if (!dev->caps.sg)
        return HAULER_ENOTBUILT;
    if (((uint32_t)addr & (HAULER_DESC_SIZE - 1u)) || !addr_fits(dev, addr))
        return HAULER_EINVAL;
    err = check_idle(dev, ch);
    if (err != HAULER_OK)
        return err;
    ch_wr_addr(dev, ch, HAULER_CH_DESC_LO, addr);
    /* The descriptors (and source data) must be in memory before the first fetch. */
    HAULER_BARRIER();
    /* SG goes with START: the channel takes its mode from the CTRL bits written with it. */
    ch_wr(dev, ch, HAULER_CH_CTRL, HAULER_CH_CTRL_SG_MASK | HAULER_CH_CTRL_START_MASK);
    return HAULER_OK;
}

/* STOP or ABORT. CTRL's mode bits are rewritten with every CTRL write: keep them. */
static int action(struct hauler *dev, unsigned ch, uint32_t bit)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    ch_wr(dev, ch, HAULER_CH_CTRL, (ch_rd(dev, ch, HAULER_CH_CTRL) & CTRL_MODE_BITS) | bit);
    return HAULER_OK;
}

int hauler_stop(struct hauler *dev, unsigned ch)
{
    return action(dev, ch, HAULER_CH_CTRL_STOP_MASK);
}

int hauler_abort(struct hauler *dev, unsigned ch)
{
    return action(dev, ch, HAULER_CH_CTRL_ABORT_MASK);
}

static void decode_status(uint32_t status, struct hauler_status *s)
{
    s->busy = FIELD(status, HAULER_CH_STATUS_BUSY) != 0u;
    s->done = FIELD(status, HAULER_CH_STATUS_DONE) != 0u;
    s->error = FIELD(status, HAULER_CH_STATUS_ERROR) != 0u;
    s->eop = FIELD(status, HAULER_CH_STATUS_EOP) != 0u;
    s->err_code = FIELD(status, HAULER_CH_STATUS_ERR_CODE);
}

static uint64_t err_addr(const struct hauler *dev, unsigned ch)
{
    uint64_t addr = ch_rd(dev, ch, HAULER_CH_ERR_ADDR_LO);

    if (dev->caps.addr_width > 32u)
        addr |= (uint64_t)ch_rd(dev, ch, HAULER_CH_ERR_ADDR_HI) << 32;
    return addr;
}

int hauler_status(const struct hauler *dev, unsigned ch, struct hauler_status *s)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    decode_status(ch_rd(dev, ch, HAULER_CH_STATUS), s);
    s->bytes = ch_rd(dev, ch, HAULER_CH_BYTES);
    s->completed = ch_rd(dev, ch, HAULER_CH_COMPLETED);
    s->err_addr = err_addr(dev, ch);
    return HAULER_OK;
}

int hauler_completed(const struct hauler *dev, unsigned ch, uint32_t *count)
{
    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    *count = ch_rd(dev, ch, HAULER_CH_COMPLETED);
    return HAULER_OK;
}

int hauler_wait_idle(const struct hauler *dev, unsigned ch, uint32_t max_polls,
                     struct hauler_status *s)
{
    uint32_t polls, status;

    if (ch >= dev->channels)
        return HAULER_ECHANNEL;
    for (polls = 0; polls < max_polls; polls++) {
        status = ch_rd(dev, ch, HAULER_CH_STATUS);
        if (!FIELD(status, HAULER_CH_STATUS_BUSY)) {
            /* The data is in memory: the CPU's reads of it come after this. */
            HAULER_BARRIER();
            if (s != NULL)
                hauler_status(dev, ch, s);
            return FIELD(status, HAULER_CH_STATUS_ERROR) ? HAULER_EFAILED : HAULER_OK;
        }
    }
    return HAULER_ETIMEOUT;
}

uint32_t hauler_irq_handler(struct hauler *dev)
{
    const uint32_t summary = rd(dev, HAULER_IRQ_SUMMARY);
    unsigned ch;

    for (ch = 0; ch < dev->channels; ch++) {
        struct hauler_channel *c = &dev->ch[ch];
        uint32_t events;
        unsigned code = HAULER_ERR_NONE;
        uint64_t addr = 0u;

        if (!((summary >> ch) & 1u))
            continue;
        /* Only enabled events: the others are left for whoever polls for them. */
        events = ch_rd(dev, ch, HAULER_CH_IRQ_STATUS) & c->irq_enable;
        if (events == 0u)
            continue;
        ch_wr(dev, ch, HAULER_CH_IRQ_STATUS, events);
        /* Read before any callback: a completion callback may START again, which clears
         * the error code. */
        if (events & HAULER_EV_ERROR) {
            code = FIELD(ch_rd(dev, ch, HAULER_CH_STATUS), HAULER_CH_STATUS_ERR_CODE);
            addr = err_addr(dev, ch);
        }
        /* A completion means the data is in memory; the callbacks read it after this. */
        HAULER_BARRIER();
        if ((events & (HAULER_EV_DONE | HAULER_EV_CHAIN_END)) && c->complete != NULL)
            c->complete(dev, ch, events & (HAULER_EV_DONE | HAULER_EV_CHAIN_END), c->ctx);
        if ((events & HAULER_EV_ERROR) && c->error != NULL)
            c->error(dev, ch, code, addr, c->ctx);
    }
    return summary;
}
