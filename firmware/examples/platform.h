/* What the examples need from the board they run on: where things are, a way to report,
 * and the controller's interrupt. The defaults describe the bare-metal RV32 SoC the
 * examples are written for (platform_rv32.c); override any address or channel with -D.
 *
 * SoC wiring the defaults assume:
 * - the controller's registers at PLATFORM_DMA_BASE, its `irq` on the CPU's machine
 *   external interrupt;
 * - RAM at 0 (firmware/examples/link.ld), reachable by the CPU and the controller alike,
 *   at the same addresses;
 * - m_axis<PLATFORM_TX_CHANNEL> looped back into s_axis<PLATFORM_RX_CHANNEL> (rx_ring);
 * - a UART whose transmit data register is at PLATFORM_UART_TX and which drives
 *   req[PLATFORM_UART_CHANNEL] while it can take a byte (uart_tx);
 * - a console register that prints each byte written to it, and an exit register that
 *   ends a simulation with the value written (the report path of platform_rv32.c).
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
#define PLATFORM_CONSOLE 0x40003000u
#endif
#ifndef PLATFORM_EXIT
#define PLATFORM_EXIT 0x40003004u
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

#endif /* PLATFORM_H */
