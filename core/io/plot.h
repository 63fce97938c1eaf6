/* core/io/plot.h - PNG plots drawn by gnuplot, run without a shell.
 *
 *     if (!ddad_plot_available()) {
 *         ddad_log(DDAD_LOG_WARN, "gnuplot not found: loss.png not drawn");
 *     } else {
 *         char q[DDAD_PLOT_QUOTE_MAX];
 *         ddad_plot_quote(q, sizeof q, "runs/x/loss.png");     // -> 'runs/x/loss.png'
 *         ... script = "set output <q>\nplot ...\n" ...
 *         if (ddad_plot_run(script, 960, 600, "loss.png") != DDAD_OK)
 *             ddad_log(DDAD_LOG_WARN, "%s: loss.png not drawn", ddad_last_error());
 *     }
 *
 * gnuplot is looked up on PATH (/usr/bin:/bin when PATH is unset; empty
 * entries are skipped) and started directly (posix_spawn, no shell), so no
 * path ever goes through a shell command line. The script reaches gnuplot on
 * its standard input; paths inside it must be gnuplot string literals
 * (ddad_plot_quote). The script must not set the terminal: ddad_plot_run
 * puts "set terminal pngcairo size W,H noenhanced" in front of it and, if
 * gnuplot fails (pngcairo is not compiled into every gnuplot), runs it once
 * more behind "set terminal png size W,H noenhanced". gnuplot's standard
 * output is discarded; the last line of its error output ends the failure
 * message.
 *
 * A missing gnuplot or a failed plot is not an error of the programs: they
 * log a warning and go on (the numbers are in text files next to the plot).
 * Who owns what: the caller owns the script and the quote buffer; the
 * scratch files (the script with its terminal line, gnuplot's error output)
 * are unnamed temporary files, gone when the call returns.
 */
#ifndef DDAD_PLOT_H
#define DDAD_PLOT_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Room for any quoted path of up to 4096 bytes (every byte a quote, doubled,
 * two outer quotes, NUL). */
#define DDAD_PLOT_QUOTE_MAX (2 * 4096 + 3)

/* True when an executable regular file named gnuplot is on PATH. */
bool ddad_plot_available(void);

/* Writes s as a gnuplot string literal into buf (cap bytes, NUL included):
 * single quotes, a quote inside doubled ("it's" -> 'it''s'); gnuplot takes
 * the characters of such a literal as they are (no backslash escapes).
 * USAGE status, and buf = "", when it does not fit. */
ddad_status_t ddad_plot_quote(char *buf, size_t cap, const char *s);

/* Runs script through gnuplot with a PNG terminal of width x height pixels
 * (pngcairo, else png; see above). what names the plot in the failure
 * message ("loss.png"). IO status when gnuplot is missing, cannot be started,
 * or fails with both terminals; USAGE for a bad size. */
ddad_status_t ddad_plot_run(const char *script, int width, int height, const char *what);

#ifdef __cplusplus
}
#endif
#endif
