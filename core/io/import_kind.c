/* core/io/import_kind.c - see import_kind.h */
#include "import_kind.h"

#include <string.h>

const char *ddad_import_kind_str(ddad_import_kind_t kind)
{
    switch (kind) {
    case DDAD_IMPORT_AUTO: return "auto";
    case DDAD_IMPORT_ADM256: return "adm256";
    case DDAD_IMPORT_ADM: return "adm";
    case DDAD_IMPORT_EFFNET_B4: return "effnet-b4";
    case DDAD_IMPORT_WRN50_2: return "wrn50-2";
    }
    return "unknown";
}

ddad_status_t ddad_import_kind_parse(ddad_import_kind_t *out, const char *text)
{
    if (!out || !text)
        return ddad_fail(DDAD_STATUS_USAGE, "ddad_import_kind_parse: NULL argument");
    for (int k = DDAD_IMPORT_AUTO; k <= DDAD_IMPORT_WRN50_2; k++)
        if (!strcmp(text, ddad_import_kind_str((ddad_import_kind_t)k))) {
            *out = (ddad_import_kind_t)k;
            return DDAD_OK;
        }
    return ddad_fail(DDAD_STATUS_USAGE, "unknown kind '%s': use adm256, adm, effnet-b4, wrn50-2 or auto", text);
}
