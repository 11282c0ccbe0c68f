// jemalloc, the server's memory allocator (linked into the `sediment` executable only, whose
// malloc and free it replaces for the whole process).
#include <jemalloc/jemalloc.h>
