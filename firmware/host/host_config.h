/* Host tests (tests/test_firmware.py): the driver's hooks call functions the test installs
 * through ctypes, so that a model in Python sees every register and descriptor access and
 * every barrier, in order. Included by hauler.h via -DHAULER_CONFIG_H='"host_config.h"'. */
#ifndef HAULER_HOST_CONFIG_H
#define HAULER_HOST_CONFIG_H

#include <stdint.h>

extern uint32_t (*hauler_host_read32)(uintptr_t addr);
extern void (*hauler_host_write32)(uintptr_t addr, uint32_t value);
extern void (*hauler_host_barrier)(void);
/* Bus address = CPU address - offset: lets host memory stand for a 32-bit bus. */
extern uint64_t hauler_host_bus_offset;

#define HAULER_READ32(p) hauler_host_read32((uintptr_t)(p))
#define HAULER_WRITE32(p, v) hauler_host_write32((uintptr_t)(p), (v))
#define HAULER_BARRIER() hauler_host_barrier()
#define HAULER_BUS_ADDR(p) ((uint64_t)(uintptr_t)(p) - hauler_host_bus_offset)

#endif /* HAULER_HOST_CONFIG_H */
