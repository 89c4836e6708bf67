/* What the examples need from the board they run on: where things are, a way to report,
 * and the controller's interrupt. The defaults describe the bare-metal RV32 SoC the
 * examples are written for (platform_rv32.c); override any address or channel with -D.
 *
 * SoC wiring the defaults assume (the CPU SoC of boards/cpu_soc.py, docs/firmware.md):
 * - the controller's registers at PLATFORM_DMA_BASE, its `irq` on line PLATFORM_DMA_IRQ of
 *   VexRiscv's external interrupt array (the machine external interrupt);
 * - RAM at 0 (firmware/examples/link.ld), reachable by the CPU and the controller alike,
 *   at the same addresses;
 * - m_axis<PLATFORM_TX_CHANNEL> looped back into s_axis<PLATFORM_RX_CHANNEL> (rx_ring);
 * - a UART whose transmit data register is at PLATFORM_UART_TX and which drives
 *   req[PLATFORM_UART_CHANNEL] while it can take a byte (uart_tx); the console writes the
 *   same register (it waits while the UART's FIFO is full);
 * - an exit register that ends a simulation (and lights the error LED on a failure), and a
 *   mark register whose writes a simulation times (platform_mark).
 * Compiled for a host (the tests' model of the controller), PLATFORM_HOSTED is defined and
 * platform_mark does nothing.
 */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#ifndef PLATFORM_DMA_BASE
#define PLATFORM_DMA_BASE 0x40000000u
#endif
#ifndef PLATFORM_UART_TX
#define PLATFORM_UART_TX 0x40002000u
#endif
#ifndef PLATFORM_CONSOLE
#define PLATFORM_CONSOLE PLATFORM_UART_TX
#endif
#ifndef PLATFORM_EXIT
#define PLATFORM_EXIT 0x40003000u
#endif
#ifndef PLATFORM_MARK
#define PLATFORM_MARK 0x40003004u
#endif
#ifndef PLATFORM_DMA_IRQ
#define PLATFORM_DMA_IRQ 0u
#endif

#ifndef PLATFORM_MEMCPY_CHANNEL
#define PLATFORM_MEMCPY_CHANNEL 0u
#endif
#ifndef PLATFORM_RX_CHANNEL
#define PLATFORM_RX_CHANNEL 0u
#endif
#ifndef PLATFORM_TX_CHANNEL
#define PLATFORM_TX_CHANNEL 1u
#endif
#ifndef PLATFORM_UART_CHANNEL
#define PLATFORM_UART_CHANNEL 2u
#endif

/* STATUS polls before a wait for an idle channel gives up. */
#ifndef PLATFORM_POLL_LIMIT
#define PLATFORM_POLL_LIMIT 1000000u
#endif

/* Report a named value ("what 0x12345678" on the console). */
void platform_report(const char *what, uint32_t value);

/* Route the controller's interrupt to isr and enable it. */
void platform_irq_attach(void (*isr)(void));

/* Sleep, serving interrupts, until done() returns true. done() is called with interrupts
 * masked, so one that comes after it said no still wakes the sleep. */
void platform_wait_until(bool (*done)(void));

/* End the program with code (0: success); main's return value comes here. */
void platform_exit(int code);

/* Mark a point of the run (id) for a simulation to time: one store, inline, so that the
 * store's cycle is where the call stands. */
static inline void platform_mark(uint32_t id)
{
#ifdef PLATFORM_HOSTED
    (void)id;
#else
    *(volatile uint32_t *)(uintptr_t)PLATFORM_MARK = id;
#endif
}

#endif /* PLATFORM_H */
