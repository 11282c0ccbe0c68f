#ifndef SEDIMENT_CCRC32C_H
#define SEDIMENT_CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) with `length` bytes. Start with crc = 0; the pre- and
/// post-inversion is done inside, so calls chain: crc(a ++ b) == extend(extend(0, a), b).
uint32_t sediment_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// 1 when the hardware instruction path is in use on this CPU.
int sediment_crc32c_is_hardware(void);

/// The portable table-driven path, exposed so tests can compare both.
uint32_t sediment_crc32c_extend_portable(uint32_t crc, const void *data, size_t length);

#endif
