/* core/io/import_kind.h - the kinds of published checkpoint ddad-import
 * reads, by name. Plain C (in ddad_base), so that the front end of
 * ddad-import checks --kind without loading libtorch; the import itself is
 * core/torch/import.h, which includes this header.
 *
 *     ddad_import_kind_t kind;
 *     if (ddad_import_kind_parse(&kind, "effnet-b4") != DDAD_OK) ...  // USAGE, names the kinds
 *     puts(ddad_import_kind_str(kind));                             // "effnet-b4"
 */
#ifndef DDAD_IO_IMPORT_KIND_H
#define DDAD_IO_IMPORT_KIND_H

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ddad_import_kind {
    DDAD_IMPORT_AUTO = 0,
    DDAD_IMPORT_ADM256,
    DDAD_IMPORT_ADM,
    DDAD_IMPORT_EFFNET_B4,
    DDAD_IMPORT_WRN50_2
} ddad_import_kind_t;

/* "auto", "adm256", "adm", "effnet-b4", "wrn50-2" ("unknown" otherwise). */
const char *ddad_import_kind_str(ddad_import_kind_t kind);
/* Parses one of the names above (USAGE error listing them otherwise). */
ddad_status_t ddad_import_kind_parse(ddad_import_kind_t *out, const char *text);

#ifdef __cplusplus
}
#endif
#endif
