#include <zlib.h>

/// deflateInit2 is a macro; Swift cannot call it directly.
static inline int czlib_deflate_init2(z_stream *stream, int level, int window_bits, int mem_level, int strategy) {
    return deflateInit2(stream, level, Z_DEFLATED, window_bits, mem_level, strategy);
}
