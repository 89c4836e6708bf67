/* UART transmit through req/ack: the controller feeds a UART's data register exactly as
 * fast as the UART takes bytes, and the CPU only waits.
 *
 * The destination is FIXED (the data register, one address), the transfer is paced
 * (HAULER_F_REQ) with REQ_BURST = 1: before each byte the channel waits for the UART's
 * req, writes the byte (lane 0, strobe 0001 on a 32-bit bus) and answers with ack. The
 * CPU polls for the end with a bound on the polls.
 */
#include "hauler.h"
#include "platform.h"

#define CH PLATFORM_UART_CHANNEL

static struct hauler dma;
static const char message[] = "Hello from Hauler, one byte per request.\n";

int main(void)
{
    struct hauler_status status;
    struct hauler_xfer x;
    int err = hauler_init(&dma, (volatile uint32_t *)PLATFORM_DMA_BASE);

    if (err != HAULER_OK) {
        platform_report("hauler_init failed", (uint32_t)err);
        return 1;
    }
    /* One byte per request: the UART's FIFO may have room for just one. */
    err = hauler_set_req_burst(&dma, CH, 1u);
    if (err != HAULER_OK) {
        platform_report("req/ack unavailable", (uint32_t)err);
        return 1;
    }
    x.src = hauler_bus_addr(message);
    x.dst = PLATFORM_UART_TX;
    x.len = sizeof message - 1u;
    x.flags = HAULER_F_DST(HAULER_MODE_FIXED) | HAULER_F_REQ;
    err = hauler_start(&dma, CH, &x);
    if (err != HAULER_OK) {
        platform_report("hauler_start refused", (uint32_t)err);
        return 1;
    }
    err = hauler_wait_idle(&dma, CH, PLATFORM_POLL_LIMIT, &status);
    if (err != HAULER_OK) {
        platform_report("uart transfer failed", err == HAULER_EFAILED ? status.err_code
                                                                      : (uint32_t)err);
        return 1;
    }
    platform_report("bytes sent", status.bytes);
    return status.bytes == x.len ? 0 : 1;
}
