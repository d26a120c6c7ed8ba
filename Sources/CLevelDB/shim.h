#ifndef SWIFT_THREADS_CLEVELDB_SHIM_H
#define SWIFT_THREADS_CLEVELDB_SHIM_H
// Debian ships leveldb without a pkg-config file, so the header is found on the default include path.
#include <leveldb/c.h>
#endif
