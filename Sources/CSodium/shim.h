#ifndef SWIFT_THREADS_CSODIUM_SHIM_H
#define SWIFT_THREADS_CSODIUM_SHIM_H
#include <sodium.h>
#endif
