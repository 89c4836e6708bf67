/* The host side of the tests: the hook slots of host_config.h, and platform.h for running
 * the examples against the Python model of the controller. */
#include "hauler.h"
#include "platform.h"

uint32_t (*hauler_host_read32)(uintptr_t addr);
void (*hauler_host_write32)(uintptr_t addr, uint32_t value);
void (*hauler_host_barrier)(void);
uint64_t hauler_host_bus_offset;

/* The model's side of platform.h: a report sink, and one step of the model (it moves
 * data, completes transfers, raises interrupts) returning its irq line, or -1 when it
 * gives up waiting. */
void (*hauler_host_report)(const char *what, uint32_t value);
int (*hauler_host_step)(void);

/* For the test to check its ctypes mirrors of the structures. */
const size_t hauler_host_sizeof[] = {
    sizeof(struct hauler), sizeof(struct hauler_caps), sizeof(struct hauler_xfer),
    sizeof(struct hauler_status), sizeof(struct hauler_desc_result),
    offsetof(struct hauler, channels),
};

/* The flag macros of hauler.h, for the test to compare with the register description. */
const uint32_t hauler_host_flags[] = {
    HAULER_F_SRC(HAULER_MODE_STREAM), HAULER_F_DST(HAULER_MODE_FIXED), HAULER_F_IRQ,
    HAULER_F_EOP, HAULER_F_REQ, HAULER_EV_DONE, HAULER_EV_CHAIN_END, HAULER_EV_ERROR,
};

static void (*attached_isr)(void);

void platform_report(const char *what, uint32_t value)
{
    hauler_host_report(what, value);
}

void platform_irq_attach(void (*isr)(void))
{
    attached_isr = isr;
}

void platform_wait_until(bool (*done)(void))
{
    while (!done()) {
        int irq = hauler_host_step();

        if (irq < 0)
            return;
        if (irq > 0 && attached_isr != NULL)
            attached_isr();
    }
}

void platform_exit(int code)
{
    hauler_host_report("exit", (uint32_t)code);
}
