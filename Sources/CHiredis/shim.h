#ifndef SLUICE_CHIREDIS_SHIM_H
#define SLUICE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

static inline int sluice_hiredis_major(void) { return HIREDIS_MAJOR; }
static inline int sluice_hiredis_minor(void) { return HIREDIS_MINOR; }
static inline int sluice_hiredis_patch(void) { return HIREDIS_PATCH; }
#endif
