// C view of system zlib for the executor's data readers (gzip-compressed IDX files). `inflateInit2` is
// a macro (it passes ZLIB_VERSION and sizeof(z_stream)), which Swift cannot call: the shim wraps it.
#ifndef GRAPHC_CZLIB_SHIM_H
#define GRAPHC_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2(stream, windowBits) as a function.
static inline int graphc_inflateInit2(z_stream *stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}

/// deflateInit2 as a function (the tests write small .gz files through the same zlib).
static inline int graphc_deflateInit2(z_stream *stream, int level, int windowBits) {
    return deflateInit2(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}

#endif
