/* platform.h for the CPU SoC (VexRiscv): machine mode only, one interrupt (the
 * controller's, on a line of VexRiscv's external interrupt array), a console and an exit
 * register. */
#include <stddef.h>

#include "platform.h"

#define MSTATUS_MIE (1u << 3)
#define MIE_MEIE (1u << 11)
#define MCAUSE_MACHINE_EXTERNAL 0x8000000Bu
/* VexRiscv's mask of its external interrupt array: a line whose bit is set here raises the
 * machine external interrupt (its pending lines read from CSR 0xFC0). */
#define CSR_VEXRISCV_IRQ_MASK "0xBC0"

#define MMIO32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

static void (*dma_isr)(void);

static void console_putc(char c)
{
    MMIO32(PLATFORM_CONSOLE) = (uint8_t)c;
}

void platform_report(const char *what, uint32_t value)
{
    static const char hex[] = "0123456789abcdef";
    int shift;

    while (*what)
        console_putc(*what++);
    console_putc(' ');
    console_putc('0');
    console_putc('x');
    for (shift = 28; shift >= 0; shift -= 4)
        console_putc(hex[(value >> shift) & 0xFu]);
    console_putc('\n');
}

void platform_exit(int code)
{
    MMIO32(PLATFORM_EXIT) = (uint32_t)code;
    __asm__ __volatile__("csrc mstatus, %0" : : "r"(MSTATUS_MIE));
    for (;;)
        __asm__ __volatile__("wfi");
}

void platform_irq_attach(void (*isr)(void))
{
    dma_isr = isr;
    __asm__ __volatile__("csrs " CSR_VEXRISCV_IRQ_MASK ", %0" : : "r"(1u << PLATFORM_DMA_IRQ));
    __asm__ __volatile__("csrs mie, %0" : : "r"(MIE_MEIE));
    __asm__ __volatile__("csrs mstatus, %0" : : "r"(MSTATUS_MIE));
}

void platform_wait_until(bool (*done)(void))
{
    for (;;) {
        /* Masked from the test to the wfi: an interrupt arriving in between stays pending
         * and makes wfi return, instead of being taken before wfi and sleeping through. */
        __asm__ __volatile__("csrc mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
        if (done())
            break;
        __asm__ __volatile__("wfi");
        /* Unmasked: the pending interrupt is taken here. VexRiscv takes it only once the
         * instructions behind the csrs have left its 5-stage pipeline, and gives up if one of
         * them masks it again: the loop's csrc must not follow too closely. */
        __asm__ __volatile__("csrs mstatus, %0\n\tnop\n\tnop\n\tnop\n\tnop\n\tnop"
                             : : "r"(MSTATUS_MIE) : "memory");
    }
    __asm__ __volatile__("csrs mstatus, %0" : : "r"(MSTATUS_MIE) : "memory");
}

/* Called by crt0.S's trap entry with the caller-saved registers saved. */
void platform_trap(void);

void platform_trap(void)
{
    uint32_t cause;

    __asm__ __volatile__("csrr %0, mcause" : "=r"(cause));
    if (cause == MCAUSE_MACHINE_EXTERNAL && dma_isr != NULL) {
        dma_isr();
        return;
    }
    /* An exception, or an interrupt nobody asked for: nothing sensible to return to. */
    platform_report("trap mcause", cause);
    platform_exit(0x7F);
}
