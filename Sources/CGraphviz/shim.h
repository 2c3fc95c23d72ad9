// C view of Graphviz (libgvc + cgraph) for Swift. The helpers below wrap what Swift cannot use
// directly: C globals (`Agdirected` is a mutable global, which Swift 6 strict concurrency rejects).
#ifndef GRAPHC_CGRAPHVIZ_SHIM_H
#define GRAPHC_CGRAPHVIZ_SHIM_H
#include <graphviz/gvc.h>
#include <graphviz/cgraph.h>

/// The descriptor of a directed, non-strict graph, for `agopen`.
static inline Agdesc_t graphc_agdirected(void) { return Agdirected; }

#endif
