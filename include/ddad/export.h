/* include/ddad/export.h - DDAD_API marks the functions libddad.so exports.
 *
 * The library is compiled with hidden symbol visibility: only the deployment
 * API (ddad.h) and the status functions it needs (status.h) are visible to
 * programs and languages that load the shared library; everything else is
 * internal and may change. The static archives are unaffected.
 */
#ifndef DDAD_EXPORT_H
#define DDAD_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define DDAD_API __attribute__((visibility("default")))
#else
#define DDAD_API
#endif

#endif
