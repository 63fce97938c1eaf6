/* core/io/csv.h - one CSV field, as RFC 4180 writes it.
 *
 *     ddad_csv_field(f, "train/good/a,b.png");   // -> "train/good/a,b.png" in quotes
 *     fputc(',', f);
 *
 * Fields that hold a comma, a double quote, CR or LF are quoted, with each
 * double quote doubled; others are written as they are, so plain names stay
 * readable by awk -F, and by every CSV reader.
 */
#ifndef DDAD_CSV_H
#define DDAD_CSV_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

void ddad_csv_field(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif
#endif
