#ifndef GRAPHC_CGRAPHVIZ_SHIM_H
#define GRAPHC_CGRAPHVIZ_SHIM_H
#include <graphviz/gvc.h>
#include <graphviz/cgraph.h>
#endif
