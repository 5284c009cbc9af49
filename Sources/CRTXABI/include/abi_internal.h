// abi_internal.h — helpers of the ABI layer that are not part of rtx.h.
#ifndef RTX_ABI_INTERNAL_H
#define RTX_ABI_INTERNAL_H
#include <stddef.h>
size_t rtxabi_struct_size(const char *name);
#endif
