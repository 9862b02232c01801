#include <zlib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/// deflateInit2 is a macro; Swift cannot call it directly.
static inline int czlib_deflate_init2(z_stream *stream, int level, int window_bits, int mem_level, int strategy) {
    return deflateInit2(stream, level, Z_DEFLATED, window_bits, mem_level, strategy);
}

/// inflateInit2 is a macro too.
static inline int czlib_inflate_init2(z_stream *stream, int window_bits) {
    return inflateInit2(stream, window_bits);
}

/// CRC-32C (Castagnoli) with the CPU's instruction, beside zlib's CRC-32 (the log's chunk checksums use it).
///
/// `sluice_crc32c_hardware_available` says whether this CPU has it (SSE 4.2 on x86-64; the CRC extension on
/// AArch64 when the compiler targets it). `sluice_crc32c_hardware_update` continues a reflected CRC-32C over
/// `count` bytes: pass 0xFFFFFFFF to start and invert the result to finish, as with the table-driven CRC.
/// Call it only when the CPU has the instruction.
#if defined(__x86_64__)
#include <cpuid.h>

static inline int sluice_crc32c_hardware_available(void) {
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
        return 0;
    }
    return (ecx & bit_SSE4_2) != 0;
}

__attribute__((target("sse4.2")))
static inline uint32_t sluice_crc32c_hardware_update(uint32_t crc, const void *data, size_t count) {
    const unsigned char *bytes = (const unsigned char *)data;
    unsigned long long wide = crc;
    while (count >= 8) {
        unsigned long long word;
        memcpy(&word, bytes, 8);
        wide = __builtin_ia32_crc32di(wide, word);
        bytes += 8;
        count -= 8;
    }
    unsigned int narrow = (unsigned int)wide;
    while (count > 0) {
        narrow = __builtin_ia32_crc32qi(narrow, *bytes);
        bytes += 1;
        count -= 1;
    }
    return narrow;
}
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>

static inline int sluice_crc32c_hardware_available(void) {
    return 1;
}

static inline uint32_t sluice_crc32c_hardware_update(uint32_t crc, const void *data, size_t count) {
    const unsigned char *bytes = (const unsigned char *)data;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        crc = __crc32cd(crc, word);
        bytes += 8;
        count -= 8;
    }
    while (count > 0) {
        crc = __crc32cb(crc, *bytes);
        bytes += 1;
        count -= 1;
    }
    return crc;
}
#else
static inline int sluice_crc32c_hardware_available(void) {
    return 0;
}

static inline uint32_t sluice_crc32c_hardware_update(uint32_t crc, const void *data, size_t count) {
    (void)data;
    (void)count;
    return crc;
}
#endif
